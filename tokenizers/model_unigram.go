package tokenizers

import (
	"encoding/json"
	"fmt"
	"math"
)

// unigram is HF's Unigram model: the Viterbi best segmentation under the
// piece scores, unknown runes fused into one piece.
type unigram struct {
	pieces       []string
	scores       []float64
	ids          map[string]int
	unkID        int // -1 = none
	byteFallback bool
	minScore     float64
	// trie over the pieces' bytes: edges keyed by node<<8|byte.
	edges    map[uint64]int32
	terminal []int32 // piece id at node, or -1
	cache    *bpeCache
}

const unigramUnkPenalty = 10.0

func parseUnigram(path string, raw json.RawMessage) (model, error) {
	var u struct {
		UnkID        *int              `json:"unk_id"`
		Vocab        []json.RawMessage `json:"vocab"`
		ByteFallback bool              `json:"byte_fallback"`
	}
	if err := decodeStrict(path, raw, &u); err != nil {
		return nil, err
	}
	if u.Vocab == nil {
		return nil, fmt.Errorf("%s.vocab: missing", path)
	}
	m := &unigram{ids: make(map[string]int, len(u.Vocab)), unkID: -1, byteFallback: u.ByteFallback,
		minScore: math.Inf(1), edges: map[uint64]int32{}, terminal: []int32{-1}, cache: newBPECache()}
	for i, e := range u.Vocab {
		var pair []json.RawMessage
		if err := json.Unmarshal(e, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("%s.vocab[%d]: want [piece, score]", path, i)
		}
		var piece string
		var score float64
		if err := json.Unmarshal(pair[0], &piece); err != nil {
			return nil, jsonErr(fmt.Sprintf("%s.vocab[%d][0]", path, i), err)
		}
		if err := json.Unmarshal(pair[1], &score); err != nil {
			return nil, jsonErr(fmt.Sprintf("%s.vocab[%d][1]", path, i), err)
		}
		m.pieces = append(m.pieces, piece)
		m.scores = append(m.scores, score)
		m.ids[piece] = i
		m.minScore = min(m.minScore, score)
		m.insert(piece, int32(i))
	}
	if u.UnkID != nil {
		if len(m.pieces) == 0 {
			return nil, fmt.Errorf("%s.vocab: empty", path)
		}
		if *u.UnkID < 0 || *u.UnkID >= len(m.pieces) {
			return nil, fmt.Errorf("%s.unk_id: %d is not in the vocabulary (size %d)", path, *u.UnkID, len(m.pieces))
		}
		m.unkID = *u.UnkID
	}
	return m, nil
}

func (m *unigram) insert(piece string, id int32) {
	node := int32(0)
	for i := 0; i < len(piece); i++ {
		k := uint64(node)<<8 | uint64(piece[i])
		next, ok := m.edges[k]
		if !ok {
			next = int32(len(m.terminal))
			m.terminal = append(m.terminal, -1)
			m.edges[k] = next
		}
		node = next
	}
	if piece != "" {
		// A later duplicate keeps the later id, like HF's token map.
		m.terminal[node] = id
	}
}

func (m *unigram) tokenToID(t string) (int, bool) {
	id, ok := m.ids[t]
	return id, ok
}

func (m *unigram) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.pieces) {
		return "", false
	}
	return m.pieces[id], true
}

func (m *unigram) vocabSize() int { return len(m.pieces) }

type viterbiNode struct {
	id       int32
	score    float64
	startsAt int32 // -1 = unset
}

// encode is HF's Unigram::encode_optimized: byte ranges of the best pieces.
func (m *unigram) encode(s string) ([]bpePiece, error) {
	n := len(s)
	best := make([]viterbiNode, n+1)
	for i := range best {
		best[i].startsAt = -1
	}
	unkScore := m.minScore - unigramUnkPenalty
	for start := 0; start < n; {
		base := best[start].score
		_, mblen := decodeRune(s, start)
		single := false
		node := int32(0)
		for k := start; k < n; k++ {
			next, ok := m.edges[uint64(node)<<8|uint64(s[k])]
			if !ok {
				break
			}
			node = next
			id := m.terminal[node]
			if id < 0 {
				continue
			}
			end := k + 1
			t := &best[end]
			cand := m.scores[id] + base
			if t.startsAt < 0 || cand > t.score {
				t.score = cand
				t.startsAt = int32(start)
				t.id = id
			}
			if end-start == mblen {
				single = true
			}
		}
		if !single {
			if m.unkID < 0 {
				return nil, fmt.Errorf("Unigram: text %q needs the unknown piece but the model has no unk_id", s[start:start+mblen])
			}
			t := &best[start+mblen]
			cand := unkScore + base
			if t.startsAt < 0 || cand > t.score {
				t.score = cand
				t.startsAt = int32(start)
				t.id = int32(m.unkID)
			}
		}
		start += mblen
	}
	// Backtrack, fusing consecutive unknown pieces.
	var rev []bpePiece
	for end := n; end > 0; {
		nd := best[end]
		st := int(nd.startsAt)
		if int(nd.id) == m.unkID && len(rev) > 0 && int(rev[len(rev)-1].id) == m.unkID {
			rev[len(rev)-1].start = int32(st)
		} else {
			rev = append(rev, bpePiece{id: nd.id, start: int32(st), end: int32(end)})
		}
		end = st
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev, nil
}

func (m *unigram) tokenize(s string, dst []token) ([]token, error) {
	if s == "" {
		return dst, nil
	}
	pieces, ok := m.cache.get(s)
	if !ok {
		var err error
		pieces, err = m.encode(s)
		if err != nil {
			return nil, err
		}
		if len(s) < bpeCacheMaxLen {
			m.cache.put(s, pieces)
		}
	}
	for _, p := range pieces {
		str := s[p.start:p.end]
		id, ok := m.ids[str]
		if !ok {
			if m.byteFallback {
				all := true
				for k := 0; k < len(str); k++ {
					if _, ok := m.ids[byteTokenName(str[k])]; !ok {
						all = false
						break
					}
				}
				if all {
					for k := 0; k < len(str); k++ {
						bt := byteTokenName(str[k])
						dst = append(dst, token{id: m.ids[bt], value: bt, start: int(p.start), end: int(p.end)})
					}
					continue
				}
			}
			if m.unkID < 0 {
				return nil, fmt.Errorf("Unigram: no unk_id for %q", str)
			}
			id = m.unkID
		}
		// HF reports the text of the piece (for unknown pieces too).
		dst = append(dst, token{id: id, value: str, start: int(p.start), end: int(p.end)})
	}
	return dst, nil
}

var byteTokenNames = func() (t [256]string) {
	for i := range t {
		t[i] = fmt.Sprintf("<0x%02X>", i)
	}
	return
}()

func byteTokenName(b byte) string { return byteTokenNames[b] }
