package trainers

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"sync"
)

// UnigramConfig holds the knobs of HF's UnigramTrainer.
type UnigramConfig struct {
	VocabSize int // target size including special tokens (HF default 8000)
	// NSubIterations is the number of EM steps between prunings (HF: 2).
	NSubIterations int
	// ShrinkingFactor is the share of pieces kept by each pruning (HF: 0.75).
	ShrinkingFactor float64
	SpecialTokens   []string
	InitialAlphabet []rune
	// UnkToken, if set, is the unknown piece: its id is its place among
	// SpecialTokens, or 0 (inserted first) when it is not one of them.
	UnkToken string
	// MaxPieceLength limits seed pieces to this many characters (HF: 16).
	MaxPieceLength int
	// SeedSize caps the seed pieces from the suffix array (HF: 1,000,000).
	SeedSize int
	Progress io.Writer
}

// UnigramModel is a trained Unigram vocabulary: pieces with log
// probabilities, in id order; UnkID is -1 when there is no unknown piece.
type UnigramModel struct {
	Pieces []string
	Scores []float64
	UnkID  int
}

type sentence struct {
	s     string
	count uint32
}

// digamma is HF's (and SentencePiece's) series approximation of ψ(x).
func digamma(x float64) float64 {
	result := 0.0
	for x < 7 {
		result -= 1 / x
		x++
	}
	x -= 1.0 / 2.0
	xx := 1 / x
	xx2 := xx * xx
	xx4 := xx2 * xx2
	result += math.Log(x) + (1.0/24.0)*xx2 - 7.0/960.0*xx4 + (31.0/8064.0)*xx4*xx2 - (127.0/30720.0)*xx4*xx4
	return result
}

func (c *UnigramConfig) defaults() error {
	if c.VocabSize <= 0 {
		c.VocabSize = 8000
	}
	if c.NSubIterations <= 0 {
		c.NSubIterations = 2
	}
	if c.ShrinkingFactor == 0 {
		c.ShrinkingFactor = 0.75
	}
	if c.ShrinkingFactor <= 0 || c.ShrinkingFactor >= 1 {
		return fmt.Errorf("unigram trainer: shrinking_factor must be in (0, 1), got %g", c.ShrinkingFactor)
	}
	if c.MaxPieceLength <= 0 {
		c.MaxPieceLength = 16
	}
	if c.SeedSize <= 0 {
		c.SeedSize = 1_000_000
	}
	return nil
}

// seedPieces returns the characters (by count) and the most frequent
// substrings (by occurrences × length) as HF's make_seed_sentence_pieces:
// every distinct word appears once in the suffix array's text, so a
// substring's frequency is the number of its occurrences among distinct
// words; characters are weighted by word counts.
func seedPieces(sentences []sentence, cfg *UnigramConfig) []ugPiece {
	var flat []rune
	chars := map[rune]uint64{}
	for _, se := range sentences {
		if se.s == "" {
			continue
		}
		for _, r := range se.s {
			flat = append(flat, r)
			if r != 0 {
				chars[r] += uint64(se.count)
			}
		}
		flat = append(flat, 0)
	}
	sa := suffixArray(flat)
	type sub struct {
		score uint64
		s     []rune
	}
	var subs []sub
	for _, nd := range suffixTreeNodes(flat, sa) {
		if nd.depth <= 1 || nd.depth > cfg.MaxPieceLength {
			continue
		}
		str := flat[sa[nd.left] : sa[nd.left]+nd.depth]
		bad := false
		for _, r := range str {
			if r == 0 {
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		subs = append(subs, sub{uint64(nd.right-nd.left) * uint64(nd.depth), str})
	}
	type ch struct {
		count uint64
		r     rune
	}
	sall := make([]ch, 0, len(chars))
	for r, c := range chars {
		sall = append(sall, ch{c, r})
	}
	// HF sorts (count, char) and (score, chars) tuples in reverse.
	sort.Slice(sall, func(i, j int) bool {
		if sall[i].count != sall[j].count {
			return sall[i].count > sall[j].count
		}
		return sall[i].r > sall[j].r
	})
	sort.SliceStable(subs, func(i, j int) bool {
		if subs[i].score != subs[j].score {
			return subs[i].score > subs[j].score
		}
		a, b := subs[i].s, subs[j].s
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	seeds := make([]ugPiece, 0, len(sall)+len(subs))
	for _, c := range sall {
		seeds = append(seeds, ugPiece{string(c.r), float64(c.count)})
	}
	for _, s := range subs {
		seeds = append(seeds, ugPiece{string(s.s), float64(s.score)})
		if len(seeds) >= cfg.SeedSize {
			break
		}
	}
	sum := 0.0
	for _, p := range seeds {
		sum += p.score
	}
	logsum := math.Log(sum)
	for i := range seeds {
		seeds[i].score = math.Log(seeds[i].score) - logsum
	}
	return seeds
}

// chunks splits n items into a fixed number of contiguous ranges so that
// floating-point sums are combined in the same order on any machine.
func chunks(n int) [][2]int {
	const parts = 16
	size := max((n+parts-1)/parts, 1)
	var out [][2]int
	for lo := 0; lo < n; lo += size {
		out = append(out, [2]int{lo, min(lo+size, n)})
	}
	return out
}

// parallel runs fn over the chunks on all cores and returns results in
// chunk order.
func parallel[T any](n int, fn func(lo, hi int) T) []T {
	cs := chunks(n)
	out := make([]T, len(cs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = fn(c[0], c[1])
		}()
	}
	wg.Wait()
	return out
}

// eStep returns the expected count of every piece.
func eStep(m *ugModel, sentences []sentence) []float64 {
	parts := parallel(len(sentences), func(lo, hi int) []float64 {
		expected := make([]float64, len(m.pieces))
		var l lattice
		var alpha, beta []float64
		for _, se := range sentences[lo:hi] {
			l.reset(se.s, m.bosID, m.eosID)
			m.populate(&l)
			_, alpha, beta = l.marginal(float64(se.count), expected, alpha, beta)
		}
		return expected
	})
	expected := make([]float64, len(m.pieces))
	for _, p := range parts {
		for i, v := range p {
			expected[i] += v
		}
	}
	return expected
}

// mStep keeps the pieces with an expected count of at least 0.5 and gives
// them Bayesian (digamma) log probabilities; piece 0 (unknown) stays.
func mStep(pieces []ugPiece, expected []float64) []ugPiece {
	out := make([]ugPiece, 0, len(pieces))
	sum := 0.0
	for i, p := range pieces {
		if i == 0 {
			out = append(out, ugPiece{p.tok, math.NaN()})
			continue
		}
		if expected[i] < 0.5 {
			continue
		}
		out = append(out, ugPiece{p.tok, expected[i]})
		sum += expected[i]
	}
	logsum := digamma(sum)
	for i := range out {
		out[i].score = digamma(out[i].score) - logsum
	}
	return out
}

// prune drops the pieces whose removal costs the least likelihood, keeping
// max(1.1 × vocab_size, shrinking_factor × current) pieces.
func prune(m *ugModel, pieces []ugPiece, sentences []sentence, cfg *UnigramConfig) []ugPiece {
	alwaysKeep := make([]bool, len(pieces))
	alternatives := make([][]int, len(pieces))
	var l lattice
	for id, p := range pieces {
		if id == 0 {
			continue
		}
		l.reset(p.tok, m.bosID, m.eosID)
		m.populate(&l)
		nb := l.nbest(2)
		switch {
		case len(nb) == 1:
			alwaysKeep[id] = true
		case len(nb[0]) >= 2:
			alwaysKeep[id] = false
		case len(nb[0]) == 1:
			alwaysKeep[id] = true
			for _, k := range nb[1] {
				alternatives[id] = append(alternatives[id], l.nodes[k].id)
			}
		}
	}
	type part struct {
		vsum     float64
		freq     []float64
		inverted [][]int
	}
	parts := parallel(len(sentences), func(lo, hi int) part {
		pt := part{freq: make([]float64, len(pieces)), inverted: make([][]int, len(pieces))}
		var l lattice
		var path []int32
		for i := lo; i < hi; i++ {
			se := sentences[i]
			l.reset(se.s, m.bosID, m.eosID)
			m.populate(&l)
			pt.vsum += float64(se.count)
			path = l.viterbi(path)
			for _, k := range path {
				id := l.nodes[k].id
				pt.freq[id] += float64(se.count)
				pt.inverted[id] = append(pt.inverted[id], i)
			}
		}
		return pt
	})
	vsum := 0.0
	freq := make([]float64, len(pieces))
	inverted := make([][]int, len(pieces))
	for _, pt := range parts {
		vsum += pt.vsum
		for i := range freq {
			freq[i] += pt.freq[i]
			inverted[i] = append(inverted[i], pt.inverted[i]...)
		}
	}
	sum := 0.0
	for _, f := range freq {
		sum += f
	}
	logsum := math.Log(sum)
	type cand struct {
		id   int
		loss float64
	}
	var cands []cand
	out := make([]ugPiece, 0, cfg.VocabSize)
	out = append(out, pieces[0])
	for id := 1; id < len(pieces); id++ {
		switch {
		case freq[id] == 0 && !alwaysKeep[id]:
			// never on a Viterbi path: safe to drop
		case len(alternatives[id]) == 0:
			out = append(out, pieces[id])
		default:
			f := 0.0
			for _, n := range inverted[id] {
				f += float64(sentences[n].count)
			}
			if f == 0 || math.IsNaN(f) {
				continue
			}
			f /= vsum
			logprobSP := math.Log(freq[id]) - logsum
			// HF multiplies by (number of pieces - 1) here where SentencePiece
			// uses the number of alternatives; kept for identical pruning.
			logsumAlt := math.Log(sum + freq[id]*float64(len(alternatives)-1))
			logprobAlt := 0.0
			for _, n := range alternatives[id] {
				logprobAlt += math.Log(freq[n]+freq[id]) - logsumAlt
			}
			cands = append(cands, cand{id, f * (logprobSP - logprobAlt)})
		}
	}
	desired := cfg.VocabSize * 11 / 10
	pruned := max(desired, int(float64(len(pieces))*cfg.ShrinkingFactor))
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].loss > cands[j].loss })
	for _, c := range cands {
		if len(out) == pruned {
			break
		}
		out = append(out, pieces[c.id])
	}
	return out
}

// TrainUnigram learns a Unigram vocabulary from word counts, as HF's
// UnigramTrainer::do_train: seed pieces from a suffix array, EM with
// digamma smoothing, pruning by likelihood loss, then the final vocabulary
// with every required character and the special tokens. Cancelling ctx
// stops it between EM steps.
func TrainUnigram(ctx context.Context, wc map[string]uint64, cfg UnigramConfig) (*UnigramModel, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	words := sortedWords(wc)
	sentences := make([]sentence, len(words))
	for i, w := range words {
		c := wc[w]
		if c > math.MaxUint32 {
			return nil, fmt.Errorf("unigram trainer: word %q occurs %d times, more than HF's u32 counts hold", w, c)
		}
		sentences[i] = sentence{w, uint32(c)}
	}
	pieces := append([]ugPiece{{"<UNK>", math.NaN()}}, seedPieces(sentences, &cfg)...)
	desired := cfg.VocabSize * 11 / 10
	expectedLoops := int((math.Log(float64(desired))-math.Log(float64(len(pieces))))/math.Log(cfg.ShrinkingFactor)) + 1
	bar := newBar(cfg.Progress, int64(max(expectedLoops, 1)*cfg.NSubIterations), "EM training")

	required := map[rune]bool{}
	for _, w := range words {
		for _, r := range w {
			required[r] = true
		}
	}
	for _, r := range cfg.InitialAlphabet {
		required[r] = true
	}
	if len(required) > cfg.VocabSize {
		return nil, fmt.Errorf("unigram trainer: vocab_size %d cannot hold the %d required characters", cfg.VocabSize, len(required))
	}
	model := newUgModel(pieces, 0)
	for {
		for it := 0; it < cfg.NSubIterations; it++ {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("unigram trainer: %w", context.Cause(ctx))
			}
			expected := eStep(model, sentences)
			pieces = mStep(pieces, expected)
			model = newUgModel(pieces, 0)
			barAdd(bar, 1)
		}
		if len(pieces) <= desired {
			break
		}
		pieces = prune(model, pieces, sentences, &cfg)
		model = newUgModel(pieces, 0)
	}
	barFinish(bar)
	return finalizeUnigram(model, required, &cfg), nil
}

// finalizeUnigram sizes the vocabulary: required characters first (missing
// ones just below the lowest score), then pieces in model order, sorted by
// score, behind the special tokens.
func finalizeUnigram(m *ugModel, required map[rune]bool, cfg *UnigramConfig) *UnigramModel {
	// HF walks the required characters in hash-set order, which decides the
	// tiny penalties of missing ones; kiln walks them in code point order.
	reqs := make([]rune, 0, len(required))
	for r := range required {
		reqs = append(reqs, r)
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i] < reqs[j] })
	existing := map[string]float64{}
	for _, p := range m.pieces {
		existing[p.tok] = p.score
	}
	inserted := map[string]bool{"<UNK>": true}
	var pieces []ugPiece
	penalty := 0.0
	for _, r := range reqs {
		c := string(r)
		if s, ok := existing[c]; ok {
			pieces = append(pieces, ugPiece{c, s})
		} else {
			pieces = append(pieces, ugPiece{c, m.minScore + penalty})
			penalty += 0.0001
		}
		inserted[c] = true
	}
	unkID, addUnk := -1, false
	if cfg.UnkToken != "" {
		unkID, addUnk = 0, true
		for i, t := range cfg.SpecialTokens {
			if t == cfg.UnkToken {
				unkID, addUnk = i, false
				break
			}
		}
	}
	size := cfg.VocabSize - len(cfg.SpecialTokens)
	if addUnk {
		size--
	}
	for _, p := range m.pieces {
		if inserted[p.tok] {
			continue
		}
		inserted[p.tok] = true
		s := p.score
		if math.IsNaN(s) {
			s = 0
		}
		pieces = append(pieces, ugPiece{p.tok, s})
		if len(pieces) == size {
			break
		}
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].score > pieces[j].score })
	out := &UnigramModel{UnkID: unkID}
	if addUnk {
		out.Pieces = append(out.Pieces, cfg.UnkToken)
		out.Scores = append(out.Scores, 0)
	}
	for _, t := range cfg.SpecialTokens {
		out.Pieces = append(out.Pieces, t)
		out.Scores = append(out.Scores, 0)
	}
	for _, p := range pieces {
		out.Pieces = append(out.Pieces, p.tok)
		out.Scores = append(out.Scores, p.score)
	}
	return out
}
