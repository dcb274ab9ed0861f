//go:build hfrust

package tokenizers

import (
	"reflect"
	"strings"
	"testing"

	hf "github.com/daulet/tokenizers"
)

// TestHFRustOracle compares kiln with HF's Rust library linked in process
// (github.com/daulet/tokenizers; build the library with
// bench/tokenizers/build_hfrust.sh, then
// CGO_LDFLAGS=-L$PWD/build/hfrust go test -tags hfrust ./tokenizers -run HFRust).
// The C API reports byte offsets; they go through HF's byte → char
// conversion before the comparison. Empty spans are skipped: the C API
// trims byte-level spaces in byte space, the bindings in char space, so an
// empty span at the end of a text differs between the two HF entry points.
func TestHFRustOracle(t *testing.T) {
	texts, _ := loadCorpus(t)
	for _, name := range realNames {
		t.Run(name, func(t *testing.T) {
			ref, err := hf.FromBytes([]byte(realTokenizerJSON(t, name)))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			tk := loadReal(t, name)
			fails := 0
			for i, s := range texts {
				if strings.ContainsRune(s, 0) {
					continue // C strings end at NUL
				}
				want := ref.EncodeWithOptions(s, true, hf.WithReturnAllAttributes())
				got, err := tk.Encode(s, true)
				if err != nil {
					t.Fatalf("text %d: %v", i, err)
				}
				ids := make([]int, len(want.IDs))
				for k, id := range want.IDs {
					ids[k] = int(id)
				}
				conv := newCharConverter(s)
				offs := make([][2]int, len(want.Offsets))
				for k, o := range want.Offsets {
					a, b := int(o[0]), int(o[1])
					switch {
					case a == b && k < len(got.Offsets):
						a, b = got.Offsets[k][0], got.Offsets[k][1]
					default:
						a, b = conv.convert(a, b)
					}
					offs[k] = [2]int{a, b}
				}
				if !reflect.DeepEqual(got.IDs, ids) || !reflect.DeepEqual(got.Tokens, want.Tokens) || !reflect.DeepEqual(got.Offsets, offs) {
					fails++
					if fails <= 3 {
						t.Errorf("text %d %q:\n got  %v %v\n want %v %v", i, trunc(s), got.Tokens, got.Offsets, want.Tokens, offs)
					}
				}
				if dec := ref.Decode(want.IDs, true); fails == 0 {
					if mine, _ := tk.Decode(got.IDs, true); mine != dec {
						t.Errorf("text %d: decode %q, HF %q", i, mine, dec)
					}
				}
			}
		})
	}
}
