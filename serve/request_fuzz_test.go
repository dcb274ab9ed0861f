package serve

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// requestSeeds are bodies of every shape the handlers take, good and bad.
var requestSeeds = []string{
	`{"inputs": "a"}`, `{"inputs": ["a", "b"]}`, `{"inputs": ["a", "b", "c"]}`,
	`{"inputs": [["a"], ["b", "c"], {"text": "d", "text_pair": "e"}, "f"]}`,
	`{"inputs": {"text": "a", "text_pair": null}}`, `{"inputs": []}`, `{"inputs": null}`,
	`{"inputs": "smile \ud83d\ude00", "truncate": true, "truncation_direction": "left", "top_k": 2}`,
	`{"inputs": "\ud83d"}`, "{\"inputs\": \"caf\xe9\"}", `{"inputs": "a\\ud800"}`, `{"inputs": "\u00e9\uFFFD"}`,
	`{"inputs": [[]]}`, `{"inputs": [{"text": 1}]}`, `{"inputs": "a"`, `[1, 2]`, ``, `"\u12"`,
}

// checkFuzzError: every refusal is a 4xx apiError, never a panic or a 5xx.
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Msg == "" {
		t.Fatalf("error %v (%T): want a 4xx apiError with a message", err, err)
	}
}

// checkFuzzTexts: accepted texts are UTF-8, and hold U+FFFD only if the
// body sent one (raw or escaped): the decoder must never invent it.
func checkFuzzTexts(t *testing.T, body []byte, in []TextInput) {
	t.Helper()
	sent := bytes.Contains(body, []byte("\uFFFD")) || strings.Contains(strings.ToLower(string(body)), `\ufffd`)
	for i, x := range in {
		for _, s := range []string{x.Text, x.Pair} {
			if !utf8.ValidString(s) {
				t.Fatalf("input %d: %q is not UTF-8", i, s)
			}
			if !sent && strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("input %d: %q holds U+FFFD the body %q never sent", i, s, body)
			}
		}
	}
}

// FuzzRequestJSON feeds arbitrary bodies to the JSON request parsing of
// /predict and /tokenize (run in `make test` briefly:
// go test -run '^$' -fuzz FuzzRequestJSON -fuzztime 15s ./serve).
func FuzzRequestJSON(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req predictRequest
		if err := decodeBody(body, &req); err != nil {
			checkFuzzError(t, err)
			return
		}
		if in, _, err := parseInputs(req.Inputs); err != nil {
			checkFuzzError(t, err)
		} else {
			checkFuzzTexts(t, body, in)
		}
		if in, err := parseTokenizeInputs(req.Inputs); err != nil {
			checkFuzzError(t, err)
		} else {
			checkFuzzTexts(t, body, in)
		}
	})
}

// FuzzKServeRequest feeds arbitrary JSON headers and binary tensor data to
// the KServe v2 request parsing.
func FuzzKServeRequest(f *testing.F) {
	js := `{"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 10}}], "outputs": [{"name": "scores", "parameters": {"classification": 2}}]}`
	f.Add([]byte(js), []byte("\x01\x00\x00\x00a\x01\x00\x00\x00b"))
	f.Add([]byte(`{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}, {"name": "text_pair", "shape": [1, 1], "datatype": "BYTES", "data": [["b"]]}]}`), []byte{})
	f.Add([]byte(`{"inputs": [{"name": "text", "shape": [-1], "datatype": "BYTES", "parameters": {"binary_data_size": 1e99}}]}`), []byte("\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, header, tensors []byte) {
		var req kserveRequest
		if err := decodeBody(header, &req); err != nil {
			checkFuzzError(t, err)
			return
		}
		if _, err := requestedOutputs(&req); err != nil {
			checkFuzzError(t, err)
		}
		in, err := parseKServeInputs(&req, tensors)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if len(in) == 0 {
			t.Fatal("accepted a request without inputs")
		}
	})
}
