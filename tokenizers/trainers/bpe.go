// Package trainers learns tokenizer vocabularies (BPE, byte-level BPE,
// WordPiece and Unigram) the way HuggingFace `tokenizers` does, and writes
// them as a complete tokenizer.json that the runtime package `tokenizers` and
// HF both load.
//
// The algorithms work on word counts (word → occurrences after the base
// pipeline's normalizer and pre-tokenizer); CountWords produces them from
// files, streaming and on all cores. The order of every decision (alphabet,
// ids, the merge queue and its tie-breaking, the Unigram seed pieces, EM and
// pruning) follows HF's Rust trainers (tokenizers 0.19–0.23), so that the same
// corpus and settings give the same vocabulary and merges. Where HF itself is
// not deterministic (it walks Rust hash maps with a random seed), kiln picks a
// fixed order; docs/tokenizers-train.md says where and how much that changes.
package trainers

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
)

// BPEConfig holds the knobs of HF's BpeTrainer (and WordPieceTrainer, which
// is a BpeTrainer with ContinuingSubwordPrefix "##").
type BPEConfig struct {
	// VocabSize is the target size including special tokens and the alphabet.
	VocabSize int
	// MinFrequency: merges of pairs seen fewer times are not learned.
	MinFrequency uint64
	// SpecialTokens take the first ids, in this order.
	SpecialTokens []string
	// LimitAlphabet keeps at most this many characters (the most frequent);
	// 0 means no limit (HF's None).
	LimitAlphabet int
	// InitialAlphabet characters are always kept (unless LimitAlphabet is
	// smaller than the alphabet they are part of, as in HF).
	InitialAlphabet []rune
	// ContinuingSubwordPrefix is put before every non-initial subword ("##").
	ContinuingSubwordPrefix string
	// EndOfWordSuffix is appended to the last subword of a word ("</w>").
	EndOfWordSuffix string
	// MaxTokenLength limits merged tokens to this many characters; 0 = none.
	MaxTokenLength int
	// Progress, when non-nil, receives a progress bar.
	Progress io.Writer
}

// BPEModel is a trained BPE vocabulary: Vocab[id] is the token of that id,
// Merges are in rank order.
type BPEModel struct {
	Vocab  []string
	Merges [][2]string
	// ContinuingSubwordPrefix and EndOfWordSuffix as trained with.
	ContinuingSubwordPrefix string
	EndOfWordSuffix         string
}

// bpePair is a pair of token ids; pairs compare as (first, second) like
// Rust's tuple ordering, which is HF's tie-break between equal counts.
type bpePair struct{ a, b uint32 }

func (p bpePair) less(q bpePair) bool {
	if p.a != q.a {
		return p.a < q.a
	}
	return p.b < q.b
}

// bpeMerge is a queue entry: HF keeps, per entry, the set of words where the
// pair was seen when the entry was pushed; stale counts are refreshed lazily.
type bpeMerge struct {
	pair  bpePair
	count int64
	pos   []int // word indices, distinct
}

// mergeQueue is a max-heap on count, then ascending pair (HF's Merge::cmp).
type mergeQueue []*bpeMerge

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	if q[i].count != q[j].count {
		return q[i].count > q[j].count
	}
	return q[i].pair.less(q[j].pair)
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(*bpeMerge)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// bpeWord is a word as a sequence of token ids with the character length of
// each symbol (for MaxTokenLength).
type bpeWord struct {
	ids  []uint32
	lens []int
}

type pairChange struct {
	pair   bpePair
	change int64
}

// merge replaces every (a, b) in w with repl and reports how the counts of
// the neighbouring pairs change, exactly as HF's Word::merge (same scan
// order, so the same changes): the merged pair itself is not decremented
// (HF relies on the queue entry being consumed). Unlike HF's Vec::remove it
// compacts in one pass, so a long word costs linear time per merge.
func (w *bpeWord) merge(a, b, repl uint32, maxLen int, changes []pairChange) []pairChange {
	ids, lens := w.ids, w.lens
	n, wi := len(ids), 0
	for ri := 0; ri < n; {
		if ri+1 < n && ids[ri] == a && ids[ri+1] == b {
			newLen := lens[ri] + lens[ri+1]
			if wi > 0 {
				changes = append(changes, pairChange{bpePair{ids[wi-1], a}, -1})
				if lens[wi-1]+newLen < maxLen {
					changes = append(changes, pairChange{bpePair{ids[wi-1], repl}, 1})
				}
			}
			if ri+2 < n {
				changes = append(changes, pairChange{bpePair{b, ids[ri+2]}, -1})
				if lens[ri+2]+newLen < maxLen {
					changes = append(changes, pairChange{bpePair{repl, ids[ri+2]}, 1})
				}
			}
			ids[wi], lens[wi] = repl, newLen
			wi++
			ri += 2
			continue
		}
		ids[wi], lens[wi] = ids[ri], lens[ri]
		wi++
		ri++
	}
	w.ids, w.lens = ids[:wi], lens[:wi]
	return changes
}

// sortedWords returns the words of wc in byte order. HF walks its word map
// in hash order, which only matters for the ids of prefixed/suffixed
// characters; a sorted walk makes kiln reproducible.
func sortedWords(wc map[string]uint64) []string {
	words := make([]string, 0, len(wc))
	for w := range wc {
		words = append(words, w)
	}
	sort.Strings(words)
	return words
}

// computeAlphabet returns the kept characters in code point order, after
// LimitAlphabet removed the least frequent ones.
func computeAlphabet(wc map[string]uint64, initial []rune, limit int) []rune {
	alphabet := map[rune]uint64{}
	for w, c := range wc {
		for _, r := range w {
			alphabet[r] += c
		}
	}
	const always = ^uint64(0) // HF: usize::MAX for the initial alphabet
	for _, r := range initial {
		alphabet[r] = always
	}
	kept := make([]rune, 0, len(alphabet))
	for r := range alphabet {
		kept = append(kept, r)
	}
	if limit > 0 && len(kept) > limit {
		// HF sorts by count with an unstable sort over hash-map order, so
		// which of several equally rare characters goes is arbitrary there;
		// here the larger code point goes first, deterministically.
		sort.Slice(kept, func(i, j int) bool {
			ci, cj := alphabet[kept[i]], alphabet[kept[j]]
			if ci != cj {
				return ci < cj
			}
			return kept[i] > kept[j]
		})
		kept = kept[len(kept)-limit:]
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i] < kept[j] })
	return kept
}

// newBar returns a progress bar on w, or nil.
func newBar(w io.Writer, max int64, desc string) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-24s", desc)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

func barAdd(b *progressbar.ProgressBar, n int) {
	if b != nil {
		_ = b.Add(n)
	}
}

func barFinish(b *progressbar.ProgressBar) {
	if b != nil {
		_ = b.Finish()
	}
}

// TrainBPE learns a BPE vocabulary and merges from word counts, following
// HF's BpeTrainer::do_train step by step. Cancelling ctx stops it.
func TrainBPE(ctx context.Context, wc map[string]uint64, cfg BPEConfig) (*BPEModel, error) {
	if cfg.VocabSize <= 0 {
		return nil, fmt.Errorf("bpe trainer: vocab_size must be positive, got %d", cfg.VocabSize)
	}
	if cfg.LimitAlphabet < 0 {
		return nil, fmt.Errorf("bpe trainer: limit_alphabet must not be negative, got %d", cfg.LimitAlphabet)
	}
	maxLen := int(^uint(0) >> 1)
	if cfg.MaxTokenLength > 0 {
		maxLen = cfg.MaxTokenLength
	}
	w2id := make(map[string]uint32, cfg.VocabSize)
	var id2w []string
	add := func(s string) uint32 {
		if id, ok := w2id[s]; ok {
			return id
		}
		id := uint32(len(id2w))
		id2w = append(id2w, s)
		w2id[s] = id
		return id
	}
	// 1. special tokens, 2. the alphabet in code point order.
	for _, s := range cfg.SpecialTokens {
		add(s)
	}
	for _, r := range computeAlphabet(wc, cfg.InitialAlphabet, cfg.LimitAlphabet) {
		add(string(r))
	}

	// 3. words as id sequences; characters outside the alphabet are dropped.
	order := sortedWords(wc)
	bar := newBar(cfg.Progress, int64(len(order)), "Tokenize words")
	words := make([]bpeWord, len(order))
	counts := make([]int64, len(order))
	for i, w := range order {
		counts[i] = int64(wc[w])
		n := utf8.RuneCountInString(w)
		word := bpeWord{ids: make([]uint32, 0, n), lens: make([]int, 0, n)}
		k := 0
		for _, r := range w {
			first, last := k == 0, k == n-1
			k++
			s := string(r)
			if _, ok := w2id[s]; !ok {
				continue
			}
			if !first && cfg.ContinuingSubwordPrefix != "" {
				s = cfg.ContinuingSubwordPrefix + s
			}
			if last && cfg.EndOfWordSuffix != "" {
				s += cfg.EndOfWordSuffix
			}
			word.ids = append(word.ids, add(s))
			word.lens = append(word.lens, 1)
		}
		words[i] = word
		barAdd(bar, 1)
	}
	barFinish(bar)

	// 4. count pairs and remember where each occurs.
	pairCounts := map[bpePair]int64{}
	where := map[bpePair]map[int]struct{}{}
	for i, w := range words {
		for j := 0; j+1 < len(w.ids); j++ {
			p := bpePair{w.ids[j], w.ids[j+1]}
			pairCounts[p] += counts[i]
			s := where[p]
			if s == nil {
				s = map[int]struct{}{}
				where[p] = s
			}
			s[i] = struct{}{}
		}
	}
	q := make(mergeQueue, 0, len(where))
	flush := func() {
		for p, s := range where {
			if c := pairCounts[p]; c > 0 {
				pos := make([]int, 0, len(s))
				for i := range s {
					pos = append(pos, i)
				}
				q = append(q, &bpeMerge{pair: p, count: c, pos: pos})
			}
			delete(where, p)
		}
	}
	flush()
	heap.Init(&q)

	// 5. merges.
	bar = newBar(cfg.Progress, int64(cfg.VocabSize), "Compute merges")
	type merge struct {
		pair bpePair
		id   uint32
	}
	var merges []merge
	var changes []pairChange
	for step := 0; len(w2id) < cfg.VocabSize && q.Len() > 0; step++ {
		if step%1024 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("bpe trainer: %w", context.Cause(ctx))
		}
		top := heap.Pop(&q).(*bpeMerge)
		if cur := pairCounts[top.pair]; top.count != cur {
			top.count = cur
			heap.Push(&q, top)
			continue
		}
		if top.count < 1 || int64(cfg.MinFrequency) > top.count {
			break
		}
		partA, partB := id2w[top.pair.a], id2w[top.pair.b]
		if cfg.ContinuingSubwordPrefix != "" {
			partB = strings.TrimPrefix(partB, cfg.ContinuingSubwordPrefix)
		}
		newID := add(partA + partB)
		merges = append(merges, merge{top.pair, newID})

		changes = changes[:0]
		var owners []int
		for _, i := range top.pos {
			before := len(changes)
			changes = words[i].merge(top.pair.a, top.pair.b, newID, maxLen, changes)
			for range changes[before:] {
				owners = append(owners, i)
			}
		}
		for k, ch := range changes {
			iw := owners[k]
			pairCounts[ch.pair] += ch.change * counts[iw]
			if ch.change > 0 {
				s := where[ch.pair]
				if s == nil {
					s = map[int]struct{}{}
					where[ch.pair] = s
				}
				s[iw] = struct{}{}
			}
		}
		for p, s := range where {
			if c := pairCounts[p]; c > 0 {
				pos := make([]int, 0, len(s))
				for i := range s {
					pos = append(pos, i)
				}
				heap.Push(&q, &bpeMerge{pair: p, count: c, pos: pos})
			}
			delete(where, p)
		}
		barAdd(bar, 1)
	}
	barFinish(bar)

	// HF stores merges in a map keyed by pair, so a pair merged twice (two
	// queue entries for it, see bpeMerge) keeps only its last rank.
	last := make(map[bpePair]int, len(merges))
	for i, m := range merges {
		last[m.pair] = i
	}
	out := &BPEModel{
		Vocab:                   id2w,
		ContinuingSubwordPrefix: cfg.ContinuingSubwordPrefix,
		EndOfWordSuffix:         cfg.EndOfWordSuffix,
	}
	for i, m := range merges {
		if last[m.pair] != i {
			continue
		}
		out.Merges = append(out.Merges, [2]string{id2w[m.pair.a], id2w[m.pair.b]})
	}
	return out, nil
}
