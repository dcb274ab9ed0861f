package serve

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

func TestParseInputs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []TextInput
		batched bool
		status  int
	}{
		{`"a"`, []TextInput{{Text: "a"}}, false, 0},
		{`["a"]`, []TextInput{{Text: "a"}}, false, 0},
		{`["a", "b"]`, []TextInput{{Text: "a", Pair: "b", IsPair: true}}, false, 0},
		{`{"text": "a", "text_pair": "b"}`, []TextInput{{Text: "a", Pair: "b", IsPair: true}}, false, 0},
		{`{"text": "a", "text_pair": null}`, []TextInput{{Text: "a"}}, false, 0},
		{`[["a"], ["b", "c"], {"text": "d"}, "e"]`, []TextInput{{Text: "a"}, {Text: "b", Pair: "c", IsPair: true}, {Text: "d"}, {Text: "e"}}, true, 0},
		{`["a", "b", "c"]`, nil, false, 422}, // TEI: a list starting with a string is one text or a pair
		{`["a", ["b"]]`, nil, false, 422},
		{`[["a"], "b"]`, []TextInput{{Text: "a"}, {Text: "b"}}, true, 0},
		{`[["a"]]`, []TextInput{{Text: "a"}}, true, 0},
		{`[]`, nil, false, 400},
		{`null`, nil, false, 422},
		{`5`, nil, false, 422},
		{`[["a", "b", "c"]]`, nil, true, 422},
		{`[[]]`, nil, true, 422},
		{`[["a", 1]]`, nil, true, 422},
		{`[{"text": "a", "extra": 1}]`, nil, true, 422},
		{`["a", 1]`, nil, true, 422},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, batched, err := parseInputs(json.RawMessage(tc.in))
			if tc.status != 0 {
				ae, ok := err.(*apiError)
				if !ok || ae.Status != tc.status {
					t.Fatalf("error %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || batched != tc.batched {
				t.Errorf("got %+v batched=%v, want %+v batched=%v", got, batched, tc.want, tc.batched)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{newErr(418, "X", "teapot"), 418},
		{&apiError{Status: 429, Type: ErrOverloaded, RetryAfter: 1}, 429},
	} {
		if got := classify(tc.err); got.Status != tc.status {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got.Status, tc.status)
		}
	}
	if got := classify(errString("boom")); got.Status != http.StatusInternalServerError {
		t.Errorf("unknown error → %d", got.Status)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
