package serve

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/andybalholm/brotli"
	"github.com/gofiber/fiber/v2"
)

// openRequest begins every handler that reads a request body, in one
// order: admission (429 when over the concurrency or admitted-bytes caps,
// 503 while draining; held until the response is written), the body
// (decompressed within --body-limit: 413, 415 or 400), and its JSON decoded
// into dst once it is known to be UTF-8 without lone surrogates (400
// malformed, 422 wrong types or text). With binary, KServe's
// Inference-Header-Content-Length may put tensor bytes after the JSON: they
// are returned.
func (s *Server) openRequest(c *fiber.Ctx, dst any, binary bool) (tensors []byte, err error) {
	if err := s.admit(c); err != nil {
		return nil, err
	}
	body, err := s.body(c)
	if err != nil {
		return nil, err
	}
	if binary {
		if body, tensors, err = splitBinaryBody(c, body); err != nil {
			return nil, err
		}
	}
	return tensors, decodeBody(body, dst)
}

// body returns the request body, decompressed when Content-Encoding says
// so (gzip, deflate, br: tritonclient can compress its requests). fiber's
// own c.Body() inflates without any bound, so a 2 MiB gzip of zeros would
// become 2 GiB; here the inflated body gets --body-limit like a plain one
// (413), and a corrupt one is a 400 instead of fiber's error text posing
// as the body.
func (s *Server) body(c *fiber.Ctx) ([]byte, error) {
	raw := c.Request().Body()
	enc := strings.ToLower(strings.TrimSpace(string(c.Request().Header.ContentEncoding())))
	var r io.Reader
	var err error
	switch enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(raw))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(raw))
	case "br":
		r = brotli.NewReader(bytes.NewReader(raw))
	default:
		return nil, newErr(http.StatusUnsupportedMediaType, ErrMalformed, "Content-Encoding %q is not supported (gzip, deflate, br)", enc)
	}
	if err != nil {
		return nil, newErr(http.StatusBadRequest, ErrMalformed, "Content-Encoding %s: %v", enc, err)
	}
	limit := s.cfg.BodyLimit
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, newErr(http.StatusBadRequest, ErrMalformed, "Content-Encoding %s: %v", enc, err)
	}
	if len(out) > limit {
		return nil, newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "request body inflates past %d bytes (--body-limit)", limit)
	}
	return out, nil
}

// decodeBody unmarshals the JSON body: syntax errors are 400, values of the
// wrong type and text that is not Unicode 422.
func decodeBody(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newErr(http.StatusBadRequest, ErrMalformed, "empty body: want a JSON object")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	err := json.Unmarshal(body, dst)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return newErr(http.StatusBadRequest, ErrMalformed, "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: got JSON %s, want %s", field, te.Value, te.Type)
	}
	// Truncated documents come back as a plain error ("unexpected end of
	// JSON input"): also a syntax problem.
	return newErr(http.StatusBadRequest, ErrMalformed, "malformed JSON: %v", err)
}

// checkJSONText refuses what encoding/json would silently turn into U+FFFD:
// bytes that are not UTF-8, and \u escapes of a lone UTF-16 surrogate. A
// client that sends either would otherwise be answered 200 for text it
// never sent.
func checkJSONText(b []byte) error {
	inString := false
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return newErr(http.StatusUnprocessableEntity, ErrValidation,
					"request body is not valid UTF-8 at byte %d (JSON text must be UTF-8)", i)
			}
			i += n
			continue
		}
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4(b[i+2:])
				if !ok {
					i += 2 // malformed: the JSON decoder names it
					continue
				}
				if !utf16.IsSurrogate(r) {
					i += 6
					continue
				}
				if r < 0xDC00 && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if r2, ok := hex4(b[i+8:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
						i += 12
						continue
					}
				}
				return newErr(http.StatusUnprocessableEntity, ErrValidation,
					`request body has a lone UTF-16 surrogate \u%04x at byte %d (not a character)`, r, i)
			}
			i += 2 // \" and friends: the quote does not end the string
			continue
		}
		i++
	}
	return nil
}

// hex4 reads the 4 hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// decodeValue decodes a raw JSON field; a missing or null field is 422.
func decodeValue(raw json.RawMessage, field string) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "`%s` is missing", field)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: %v", field, err)
	}
	return v, nil
}

var errEmptyInputs = newErr(http.StatusBadRequest, ErrEmpty, "`inputs` cannot be empty")

// parseInputs reads /predict's `inputs` as TEI does: a string; a list that
// starts with a string is one text ["a"] or one pair ["a", "b"], and three
// or more strings are refused (422), not taken as a batch; a list that
// starts with a list is a batch [[a], [a, b], …]. Beyond TEI it takes
// {"text", "text_pair"} objects, alone or in a batch, and plain strings
// after the first element of a batch. batched says whether the response is
// a list of lists.
func parseInputs(raw json.RawMessage) (in []TextInput, batched bool, err error) {
	v, err := decodeValue(raw, "inputs")
	if err != nil {
		return nil, false, err
	}
	switch x := v.(type) {
	case string, map[string]any:
		t, err := parseSequence(x, "inputs")
		return []TextInput{t}, false, err
	case []any:
		if len(x) == 0 {
			return nil, false, errEmptyInputs
		}
		if _, ok := x[0].(string); ok {
			if len(x) > 2 {
				return nil, false, newErr(http.StatusUnprocessableEntity, ErrValidation,
					`inputs: a list of strings is one text ["a"] or one pair ["a", "b"], got %d strings (a batch is a list of lists: [["a"], ["b"], ["c"]])`, len(x))
			}
			t, err := parseSequence(x, "inputs")
			return []TextInput{t}, false, err
		}
		out := make([]TextInput, len(x))
		for i, e := range x {
			if out[i], err = parseSequence(e, fmt.Sprintf("inputs[%d]", i)); err != nil {
				return nil, true, err
			}
		}
		return out, true, nil
	}
	return nil, false, badSequence("inputs")
}

// parseTokenizeInputs reads /tokenize's `inputs` as TEI does: a string is
// one text, a list is a batch of texts (so ["a", "b"] is two texts, not a
// pair). Beyond TEI, a batch element may be a pair ["a", "b"] or
// {"text", "text_pair"}, and a lone object is one input.
func parseTokenizeInputs(raw json.RawMessage) ([]TextInput, error) {
	v, err := decodeValue(raw, "inputs")
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string, map[string]any:
		t, err := parseSequence(x, "inputs")
		return []TextInput{t}, err
	case []any:
		if len(x) == 0 {
			return nil, errEmptyInputs
		}
		out := make([]TextInput, len(x))
		for i, e := range x {
			if out[i], err = parseSequence(e, fmt.Sprintf("inputs[%d]", i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, badSequence("inputs")
}

func badSequence(where string) error {
	return newErr(http.StatusUnprocessableEntity, ErrValidation,
		`%s: want a string, a pair ["text", "text_pair"], {"text": …, "text_pair": …}, or a list of these`, where)
}

// parseSequence reads one sequence: "text", ["text"], ["text", "text_pair"]
// or {"text": …, "text_pair": …}.
func parseSequence(v any, where string) (TextInput, error) {
	switch x := v.(type) {
	case string:
		return TextInput{Text: x}, nil
	case []any:
		if len(x) < 1 || len(x) > 2 {
			return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: a sequence is [text] or [text, text_pair], got %d elements", where, len(x))
		}
		a, ok := x[0].(string)
		if !ok {
			return TextInput{}, badSequence(where + "[0]")
		}
		if len(x) == 1 {
			return TextInput{Text: a}, nil
		}
		b, ok := x[1].(string)
		if !ok {
			return TextInput{}, badSequence(where + "[1]")
		}
		return TextInput{Text: a, Pair: b, IsPair: true}, nil
	case map[string]any:
		t, ok := x["text"].(string)
		if !ok {
			return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: object needs a string "text"`, where)
		}
		for k := range x {
			if k != "text" && k != "text_pair" {
				return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: unknown key %q (want "text", "text_pair")`, where, k)
			}
		}
		p, has := x["text_pair"]
		if !has || p == nil {
			return TextInput{Text: t}, nil
		}
		ps, ok := p.(string)
		if !ok {
			return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: "text_pair" must be a string`, where)
		}
		return TextInput{Text: t, Pair: ps, IsPair: true}, nil
	}
	return TextInput{}, badSequence(where)
}
