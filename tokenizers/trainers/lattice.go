package trainers

import (
	"container/heap"
	"math"
	"unicode/utf8"
)

// This file holds the Unigram language model the trainer re-estimates: the
// segmentation lattice with Viterbi, forward-backward marginals and 2-best
// search, as HF's unigram/lattice.rs and model.rs (itself SentencePiece's
// unigram_model.cc) compute them. Node order within a position is the
// insertion order (shorter pieces first, then the unknown piece), which
// decides ties in Viterbi the same way HF does.

const unkPenalty = 10.0 // HF K_UNK_PENALTY

type ugPiece struct {
	tok   string
	score float64
}

// ugModel is a Unigram model during training: piece 0 is the training-time
// unknown piece.
type ugModel struct {
	pieces   []ugPiece
	ids      map[string]int
	maxBytes int
	minScore float64
	unkID    int // -1: none
	bosID    int
	eosID    int
}

func newUgModel(pieces []ugPiece, unkID int) *ugModel {
	m := &ugModel{pieces: pieces, ids: make(map[string]int, len(pieces)), minScore: math.Inf(1), unkID: unkID,
		bosID: len(pieces) + 1, eosID: len(pieces) + 2}
	for i, p := range pieces {
		m.ids[p.tok] = i // a later duplicate wins, as in HF's token_to_ids
		m.maxBytes = max(m.maxBytes, len(p.tok))
		if p.score < m.minScore { // NaN never compares less
			m.minScore = p.score
		}
	}
	return m
}

type latNode struct {
	id     int // vocabulary id
	pos    int // byte offset
	length int // bytes
	score  float64
	prev   int32 // best predecessor node, -1 none
	bt     float64
}

// lattice is reused across sentences by one worker.
type lattice struct {
	s     string
	nodes []latNode
	begin [][]int32
	end   [][]int32
}

func (l *lattice) reset(s string, bosID, eosID int) {
	l.s = s
	l.nodes = l.nodes[:0]
	n := len(s) + 1
	if cap(l.begin) < n {
		l.begin = make([][]int32, n)
		l.end = make([][]int32, n)
	}
	l.begin, l.end = l.begin[:n], l.end[:n]
	for i := range l.begin {
		l.begin[i] = l.begin[i][:0]
		l.end[i] = l.end[i][:0]
	}
	l.nodes = append(l.nodes, latNode{id: bosID, prev: -1}, latNode{id: eosID, pos: len(s), prev: -1})
	l.begin[len(s)] = append(l.begin[len(s)], 1)
	l.end[0] = append(l.end[0], 0)
}

func (l *lattice) insert(pos, length int, score float64, id int) {
	k := int32(len(l.nodes))
	l.nodes = append(l.nodes, latNode{id: id, pos: pos, length: length, score: score, prev: -1})
	l.begin[pos] = append(l.begin[pos], k)
	l.end[pos+length] = append(l.end[pos+length], k)
}

// populate adds every vocabulary piece that starts at each character, and
// the unknown piece where no single-character piece exists.
func (m *ugModel) populate(l *lattice) {
	s := l.s
	unkScore := m.minScore - unkPenalty
	for begin := 0; begin < len(s); {
		_, mblen := utf8.DecodeRuneInString(s[begin:])
		single := false
		for e := begin; e < len(s); {
			_, size := utf8.DecodeRuneInString(s[e:])
			e += size
			if e-begin > m.maxBytes {
				break
			}
			if id, ok := m.ids[s[begin:e]]; ok {
				l.insert(begin, e-begin, m.pieces[id].score, id)
				if e-begin == mblen {
					single = true
				}
			}
		}
		if !single && m.unkID >= 0 {
			l.insert(begin, mblen, unkScore, m.unkID)
		}
		begin += mblen
	}
}

// viterbi returns the best path's node indices (without BOS/EOS), or nil.
func (l *lattice) viterbi(out []int32) []int32 {
	out = out[:0]
	n := len(l.s)
	for pos := 0; pos <= n; {
		if len(l.begin[pos]) == 0 {
			return out
		}
		for _, r := range l.begin[pos] {
			l.nodes[r].prev = -1
			best, bestNode := 0.0, int32(-1)
			for _, ln := range l.end[pos] {
				score := l.nodes[ln].bt + l.nodes[r].score
				if bestNode < 0 || score > best {
					best, bestNode = score, ln
				}
			}
			if bestNode < 0 {
				return out
			}
			l.nodes[r].prev, l.nodes[r].bt = bestNode, best
		}
		if pos == n {
			break
		}
		_, size := utf8.DecodeRuneInString(l.s[pos:])
		pos += size
	}
	node := l.nodes[l.begin[n][0]].prev
	if node < 0 {
		return out
	}
	for l.nodes[node].prev >= 0 {
		out = append(out, node)
		node = l.nodes[node].prev
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func logSumExp(x, y float64, init bool) float64 {
	if init {
		return y
	}
	vmin, vmax := x, y
	if x > y {
		vmin, vmax = y, x
	}
	if vmax > vmin+50 {
		return vmax
	}
	return vmax + math.Log(math.Exp(vmin-vmax)+1)
}

// marginal adds freq × the posterior of every node to expected[id] and
// returns freq × log Z (forward-backward in log space).
func (l *lattice) marginal(freq float64, expected []float64, alpha, beta []float64) (float64, []float64, []float64) {
	nn := len(l.nodes)
	if cap(alpha) < nn {
		alpha, beta = make([]float64, nn), make([]float64, nn)
	}
	alpha, beta = alpha[:nn], beta[:nn]
	clear(alpha)
	clear(beta)
	n := len(l.s)
	for pos := 0; pos <= n; pos++ {
		for _, r := range l.begin[pos] {
			for k, ln := range l.end[pos] {
				alpha[r] = logSumExp(alpha[r], l.nodes[ln].score+alpha[ln], k == 0)
			}
		}
	}
	for pos := n; pos >= 0; pos-- {
		for _, ln := range l.end[pos] {
			for k, r := range l.begin[pos] {
				beta[ln] = logSumExp(beta[ln], l.nodes[r].score+beta[r], k == 0)
			}
		}
	}
	z := alpha[l.begin[n][0]]
	for pos := 0; pos < n; pos++ {
		for _, k := range l.begin[pos] {
			nd := &l.nodes[k]
			expected[nd.id] += freq * math.Exp(alpha[k]+nd.score+beta[k]-z)
		}
	}
	return freq * z, alpha, beta
}

// hypothesis is an A* search state of nbest.
type hypothesis struct {
	node   int32
	next   *hypothesis
	fx, gx float64
	seq    int // insertion order, a deterministic tie-break
}

type agenda []*hypothesis

func (a agenda) Len() int { return len(a) }
func (a agenda) Less(i, j int) bool {
	if a[i].fx != a[j].fx {
		return a[i].fx > a[j].fx
	}
	return a[i].seq < a[j].seq
}
func (a agenda) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *agenda) Push(x any)   { *a = append(*a, x.(*hypothesis)) }
func (a *agenda) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

// nbest returns up to n best segmentations (node indices), by A* from EOS
// with the Viterbi scores as the heuristic, as HF's Lattice::nbest.
func (l *lattice) nbest(n int) [][]int32 {
	if n <= 0 {
		return nil
	}
	var scratch []int32
	if n == 1 {
		return [][]int32{l.viterbi(scratch)}
	}
	eos := l.begin[len(l.s)][0]
	seq := 0
	ag := agenda{{node: eos, fx: l.nodes[eos].score, gx: l.nodes[eos].score}}
	l.viterbi(scratch)
	bosID := l.nodes[0].id
	var out [][]int32
	for ag.Len() > 0 {
		top := heap.Pop(&ag).(*hypothesis)
		nd := l.nodes[top.node]
		if nd.id == bosID {
			var hyp []int32
			for next := top.next; next.next != nil; next = next.next {
				hyp = append(hyp, next.node)
			}
			out = append(out, hyp)
			if len(out) == n {
				return out
			}
			continue
		}
		for _, ln := range l.end[nd.pos] {
			seq++
			heap.Push(&ag, &hypothesis{node: ln, next: top, fx: l.nodes[ln].bt + top.gx, gx: l.nodes[ln].score + top.gx, seq: seq})
		}
		// HF shrinks a runaway agenda to its best min(512, 10n) entries.
		if ag.Len() > 100_000 {
			keep := min(512, n*10)
			small := make(agenda, 0, keep)
			for i := 0; i < keep; i++ {
				small = append(small, heap.Pop(&ag).(*hypothesis))
			}
			ag = small
			heap.Init(&ag)
		}
	}
	return out
}
