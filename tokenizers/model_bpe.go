package tokenizers

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

type bpePair struct{ a, b int32 }

type bpeMerge struct {
	rank, newID int32
}

// bpe is HF's BPE model: characters (or byte-fallback bytes) merged by
// rank, with a bounded cache of word → pieces.
type bpe struct {
	*vocab
	merges       map[bpePair]bpeMerge
	unkToken     *string
	unkID        int
	prefix       *string
	suffix       *string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	cache        *bpeCache
	byteIDs      [256]int32 // id of "<0xXX>" or -1
}

// bpeCacheCap and bpeCacheMaxLen are HF's DEFAULT_CACHE_CAPACITY and
// MAX_LENGTH: words of 256 bytes or more are not cached, and the cache
// stops growing when full (as HF's does).
const (
	bpeCacheCap    = 10000
	bpeCacheMaxLen = 256
	bpeCacheShards = 16
)

type bpePiece struct {
	id         int32
	start, end int32
}

type bpeCache struct {
	shards [bpeCacheShards]struct {
		sync.RWMutex
		m map[string][]bpePiece
	}
}

func newBPECache() *bpeCache {
	c := &bpeCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]bpePiece)
	}
	return c
}

func cacheShard(s string) int {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return int(h % bpeCacheShards)
}

func (c *bpeCache) get(s string) ([]bpePiece, bool) {
	sh := &c.shards[cacheShard(s)]
	sh.RLock()
	v, ok := sh.m[s]
	sh.RUnlock()
	return v, ok
}

func (c *bpeCache) put(s string, v []bpePiece) {
	sh := &c.shards[cacheShard(s)]
	sh.Lock()
	if len(sh.m) < bpeCacheCap/bpeCacheShards {
		sh.m[strings.Clone(s)] = v
	}
	sh.Unlock()
}

func parseBPE(path string, raw json.RawMessage) (model, error) {
	var b struct {
		Dropout                 *float64          `json:"dropout"`
		UnkToken                *string           `json:"unk_token"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
		FuseUnk                 bool              `json:"fuse_unk"`
		ByteFallback            bool              `json:"byte_fallback"`
		IgnoreMerges            bool              `json:"ignore_merges"`
		Vocab                   map[string]int    `json:"vocab"`
		Merges                  []json.RawMessage `json:"merges"`
	}
	if err := decodeStrict(path, raw, &b); err != nil {
		return nil, err
	}
	if b.Dropout != nil && *b.Dropout != 0 {
		// Dropout makes encoding random; kiln's encoders are deterministic.
		return nil, &UnsupportedError{Path: path + ".dropout", Kind: "BPE option", Type: fmt.Sprintf("dropout=%v", *b.Dropout)}
	}
	if b.Vocab == nil {
		return nil, fmt.Errorf("%s.vocab: missing", path)
	}
	v, err := newVocab(b.Vocab)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", path, err)
	}
	m := &bpe{vocab: v, unkToken: b.UnkToken, fuseUnk: b.FuseUnk, byteFallback: b.ByteFallback,
		ignoreMerges: b.IgnoreMerges, cache: newBPECache(), merges: make(map[bpePair]bpeMerge, len(b.Merges))}
	// An empty prefix/suffix behaves like none.
	if b.ContinuingSubwordPrefix != nil && *b.ContinuingSubwordPrefix != "" {
		m.prefix = b.ContinuingSubwordPrefix
	}
	if b.EndOfWordSuffix != nil && *b.EndOfWordSuffix != "" {
		m.suffix = b.EndOfWordSuffix
	}
	if m.unkToken != nil {
		if id, ok := v.ids[*m.unkToken]; ok {
			m.unkID = id
		} else {
			m.unkID = -1
		}
	}
	for i := range m.byteIDs {
		m.byteIDs[i] = -1
		if id, ok := v.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			m.byteIDs[i] = int32(id)
		}
	}
	prefixLen := 0
	if m.prefix != nil {
		prefixLen = len(*m.prefix)
	}
	for i, rm := range b.Merges {
		var a, bb string
		var s string
		if err := json.Unmarshal(rm, &s); err == nil {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("%s.merges[%d]: %q is not \"a b\"", path, i, s)
			}
			a, bb = parts[0], parts[1]
		} else {
			var pr []string
			if err := json.Unmarshal(rm, &pr); err != nil || len(pr) != 2 {
				return nil, fmt.Errorf("%s.merges[%d]: want \"a b\" or [\"a\", \"b\"]", path, i)
			}
			a, bb = pr[0], pr[1]
		}
		aID, ok := v.ids[a]
		if !ok {
			return nil, fmt.Errorf("%s.merges[%d]: token %q is not in the vocabulary", path, i, a)
		}
		bID, ok := v.ids[bb]
		if !ok {
			return nil, fmt.Errorf("%s.merges[%d]: token %q is not in the vocabulary", path, i, bb)
		}
		if prefixLen > len(bb) {
			return nil, fmt.Errorf("%s.merges[%d]: token %q is shorter than continuing_subword_prefix", path, i, bb)
		}
		nt := a + bb[prefixLen:]
		nID, ok := v.ids[nt]
		if !ok {
			return nil, fmt.Errorf("%s.merges[%d]: merged token %q is not in the vocabulary", path, i, nt)
		}
		// A repeated pair keeps its last rank, as HF's map does.
		m.merges[bpePair{int32(aID), int32(bID)}] = bpeMerge{rank: int32(i), newID: int32(nID)}
	}
	return m, nil
}

type bpeSymbol struct {
	id         int32
	prev, next int32
	length     int32 // bytes; 0 = merged away
}

type bpeQueueItem struct {
	pos, rank, newID int32
}

type bpeQueue []bpeQueueItem

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].pos < q[j].pos
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bpeQueueItem)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// mergeWord is HF's BPE::merge_word + Word::merge_all.
func (m *bpe) mergeWord(w string) ([]bpePiece, error) {
	syms := make([]bpeSymbol, 0, len(w))
	add := func(id int32, n int) {
		prev := int32(len(syms)) - 1
		if len(syms) > 0 {
			syms[len(syms)-1].next = int32(len(syms))
		}
		syms = append(syms, bpeSymbol{id: id, prev: prev, next: -1, length: int32(n)})
	}
	unkID, unkLen := int32(-1), 0
	var sb strings.Builder
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		isFirst, isLast := i == 0, i+size == len(w)
		s := w[i : i+size]
		if (!isFirst && m.prefix != nil) || (isLast && m.suffix != nil) {
			sb.Reset()
			if !isFirst && m.prefix != nil {
				sb.WriteString(*m.prefix)
			}
			sb.WriteString(s)
			if isLast && m.suffix != nil {
				sb.WriteString(*m.suffix)
			}
			s = sb.String()
		}
		i += size
		if id, ok := m.ids[s]; ok {
			if unkID >= 0 {
				add(unkID, unkLen)
				unkID = -1
			}
			add(int32(id), size)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if m.byteIDs[s[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				for k := 0; k < len(s); k++ {
					add(m.byteIDs[s[k]], 1)
				}
				continue
			}
		}
		if m.unkToken != nil {
			if m.unkID < 0 {
				return nil, fmt.Errorf("BPE: unk_token %q is not in the vocabulary", *m.unkToken)
			}
			switch {
			case unkID >= 0 && m.fuseUnk:
				unkLen += size
			case unkID >= 0:
				add(unkID, unkLen)
				unkID, unkLen = int32(m.unkID), size
			default:
				unkID, unkLen = int32(m.unkID), size
			}
		}
	}
	if unkID >= 0 {
		add(unkID, unkLen)
	}
	if len(syms) > 1 {
		q := make(bpeQueue, 0, len(syms))
		for i := 0; i+1 < len(syms); i++ {
			if mg, ok := m.merges[bpePair{syms[i].id, syms[i+1].id}]; ok {
				q = append(q, bpeQueueItem{int32(i), mg.rank, mg.newID})
			}
		}
		heap.Init(&q)
		for q.Len() > 0 {
			top := heap.Pop(&q).(bpeQueueItem)
			cur := &syms[top.pos]
			if cur.length == 0 || cur.next == -1 {
				continue
			}
			nextPos := cur.next
			right := syms[nextPos]
			if mg, ok := m.merges[bpePair{cur.id, right.id}]; !ok || mg.newID != top.newID {
				continue
			}
			cur.id = top.newID
			cur.length += right.length
			cur.next = right.next
			syms[nextPos].length = 0
			if right.next > -1 && int(right.next) < len(syms) {
				syms[right.next].prev = top.pos
			}
			if cur.prev >= 0 {
				if mg, ok := m.merges[bpePair{syms[cur.prev].id, cur.id}]; ok {
					heap.Push(&q, bpeQueueItem{cur.prev, mg.rank, mg.newID})
				}
			}
			if cur.next >= 0 && int(cur.next) < len(syms) {
				if mg, ok := m.merges[bpePair{cur.id, syms[cur.next].id}]; ok {
					heap.Push(&q, bpeQueueItem{top.pos, mg.rank, mg.newID})
				}
			}
		}
	}
	out := make([]bpePiece, 0, len(syms))
	pos := int32(0)
	for _, s := range syms {
		if s.length == 0 {
			continue
		}
		out = append(out, bpePiece{id: s.id, start: pos, end: pos + s.length})
		pos += s.length
	}
	return out, nil
}

func (m *bpe) tokenize(s string, dst []token) ([]token, error) {
	if s == "" {
		return dst, nil
	}
	if m.ignoreMerges {
		if id, ok := m.ids[s]; ok {
			return append(dst, token{id: id, value: m.tokens[id], start: 0, end: len(s)}), nil
		}
	}
	pieces, ok := m.cache.get(s)
	if !ok {
		var err error
		pieces, err = m.mergeWord(s)
		if err != nil {
			return nil, err
		}
		if len(s) < bpeCacheMaxLen {
			m.cache.put(s, pieces)
		}
	}
	for _, p := range pieces {
		dst = append(dst, token{id: int(p.id), value: m.tokens[p.id], start: int(p.start), end: int(p.end)})
	}
	return dst, nil
}
