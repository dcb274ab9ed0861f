//go:build hfrust

package main

import (
	"os"

	hf "github.com/daulet/tokenizers"
)

// With -tags hfrust the benchmark can also drive HF's Rust library in
// process (github.com/daulet/tokenizers): --impl hf-rust.
func init() {
	peers["hf-rust"] = func(path string) (encodeFunc, func(), error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		tk, err := hf.FromBytes(data)
		if err != nil {
			return nil, nil, err
		}
		enc := func(s string) int {
			ids, _ := tk.Encode(s, true)
			return len(ids)
		}
		return enc, func() { tk.Close() }, nil
	}
}
