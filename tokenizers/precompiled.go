package tokenizers

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rivo/uniseg"
)

// precompiledNormalizer is SentencePiece's precompiled character map (HF's
// Precompiled normalizer, from the spm_precompiled crate): a Darts-clone
// double-array trie over UTF-8 byte strings whose values index a blob of
// NUL-terminated replacement strings.
type precompiledNormalizer struct {
	trie       []uint32
	normalized []byte
}

func newPrecompiled(b64 string) (*precompiledNormalizer, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	if len(data) < 4 {
		return nil, errors.New("too short for the trie size header")
	}
	size := int(binary.LittleEndian.Uint32(data))
	if size%4 != 0 || 4+size > len(data) || size == 0 {
		return nil, fmt.Errorf("trie size %d does not fit the %d-byte map", size, len(data))
	}
	p := &precompiledNormalizer{trie: make([]uint32, size/4), normalized: data[4+size:]}
	for i := range p.trie {
		p.trie[i] = binary.LittleEndian.Uint32(data[4+4*i:])
	}
	return p, nil
}

func dartsHasLeaf(u uint32) bool { return (u>>8)&1 == 1 }
func dartsValue(u uint32) uint32 { return u & ((1 << 31) - 1) }
func dartsLabel(u uint32) uint32 { return u & ((1 << 31) | 0xFF) }
func dartsOffset(u uint32) uint32 {
	return (u >> 10) << ((u & (1 << 9)) >> 6)
}

// firstPrefixValue returns the value of the shortest key that is a prefix
// of key (spm_precompiled takes the first common-prefix result).
func (p *precompiledNormalizer) firstPrefixValue(key string) (uint32, bool) {
	pos := uint32(0)
	if len(p.trie) == 0 {
		return 0, false
	}
	unit := p.trie[0]
	pos ^= dartsOffset(unit)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == 0 {
			break
		}
		pos ^= uint32(c)
		if int(pos) >= len(p.trie) {
			return 0, false
		}
		unit = p.trie[pos]
		if dartsLabel(unit) != uint32(c) {
			return 0, false
		}
		pos ^= dartsOffset(unit)
		if int(pos) >= len(p.trie) {
			return 0, false
		}
		if dartsHasLeaf(unit) {
			return dartsValue(p.trie[pos]), true
		}
	}
	return 0, false
}

func (p *precompiledNormalizer) transform(chunk string) (string, bool) {
	v, ok := p.firstPrefixValue(chunk)
	if !ok {
		return "", false
	}
	start := int(v)
	if start > len(p.normalized) {
		return "", false
	}
	end := start
	for end < len(p.normalized) && p.normalized[end] != 0 {
		end++
	}
	return string(p.normalized[start:end]), true
}

type change struct {
	r  rune
	ch int
}

// precompiledReplace is HF's precompiled::replace: new runes replace the
// old ones one for one, extra ones are insertions, and the last rune
// absorbs removals.
func precompiledReplace(tr []change, oldPart, newPart string) []change {
	oldCount := 0
	for range oldPart {
		oldCount++
	}
	start := len(tr)
	for _, r := range newPart {
		tr = append(tr, change{r, 0})
	}
	newCount := len(tr) - start
	diff := newCount - oldCount
	switch {
	case diff > 0:
		for i := 0; i < diff; i++ {
			tr[len(tr)-1-i].ch = 1
		}
	case diff < 0:
		if len(tr) > 0 {
			tr[len(tr)-1].ch += diff
		}
	}
	return tr
}

func (p *precompiledNormalizer) normalize(n *nstr) error {
	tr := make([]change, 0, len(n.s))
	modified := false
	rest := n.s
	state := -1
	var g string
	for len(rest) > 0 {
		g, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if len(g) < 6 {
			if norm, ok := p.transform(g); ok {
				modified = true
				tr = precompiledReplace(tr, g, norm)
				continue
			}
		}
		for i, r := range g {
			size := len(string(r))
			part := g[i : i+size]
			if norm, ok := p.transform(part); ok {
				modified = true
				tr = precompiledReplace(tr, part, norm)
			} else {
				tr = append(tr, change{r, 0})
			}
		}
	}
	if !modified {
		return nil
	}
	t := newTransformer(n, 0)
	for _, c := range tr {
		t.emit(c.r, c.ch)
	}
	*n = t.finish()
	return nil
}
