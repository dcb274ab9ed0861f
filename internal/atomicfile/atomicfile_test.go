package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("boom")
	tests := []struct {
		name     string
		existing string // "" = no file before
		fill     func(io.Writer) error
		wantErr  error
		want     string
	}{
		{"new file", "", func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }, nil, "hello"},
		{"replaces", "old", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, nil, "new"},
		{"fill fails keeps old", "old", func(w io.Writer) error { io.WriteString(w, "partial"); return boom }, boom, "old"},
		{"fill fails leaves nothing", "", func(w io.Writer) error { return boom }, boom, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "sub", tc.name, "f.txt")
			if tc.existing != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, tc.fill)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("case %d: err %v, want %v", i, err, tc.wantErr)
			}
			got, rerr := os.ReadFile(path)
			if tc.want == "" {
				if !os.IsNotExist(rerr) {
					t.Fatalf("file exists after failed write: %q %v", got, rerr)
				}
			} else if string(got) != tc.want {
				t.Fatalf("content %q, want %q", got, tc.want)
			}
			ents, _ := os.ReadDir(filepath.Dir(path))
			for _, e := range ents {
				if e.Name() != "f.txt" {
					t.Errorf("temp file left behind: %s", e.Name())
				}
			}
			if tc.wantErr == nil {
				st, _ := os.Stat(path)
				if st.Mode().Perm() != 0o644 {
					t.Errorf("mode %v, want 0644", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteJSONAndCopy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteJSON(p, map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "{\n  \"x\": 1\n}\n" {
		t.Fatalf("json %q", b)
	}
	q := filepath.Join(dir, "b.json")
	if err := Copy(p, q); err != nil {
		t.Fatal(err)
	}
	if err := Copy(q, q); err != nil {
		t.Fatalf("self copy: %v", err)
	}
	if b, _ := os.ReadFile(q); string(b) != "{\n  \"x\": 1\n}\n" {
		t.Fatalf("copy %q", b)
	}
	if err := Copy(filepath.Join(dir, "missing"), q); err == nil {
		t.Fatal("copy of a missing file succeeded")
	}
	if err := WriteJSON(p, func() {}); err == nil {
		t.Fatal("unencodable value accepted")
	}
}

func TestRemoveDir(t *testing.T) {
	tests := []struct {
		name   string
		create bool
	}{
		{"removes a tree", true},
		{"missing is not an error", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "checkpoint-3")
			if tc.create {
				if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"a", "sub/b"} {
					if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := RemoveDir(dir); err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				t.Errorf("left in the parent: %s", e.Name())
			}
		})
	}
}
