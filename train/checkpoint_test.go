package train

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A checkpoint write that dies half-way (here: fill fails after writing a
// file; a kill leaves the same hidden temp dir) must never appear as a
// checkpoint: ListCheckpoints, and so --resume auto, only see whole ones.
func TestCheckpointWritesAreAtomic(t *testing.T) {
	out := t.TempDir()
	ok := func(tmp string) error {
		return writeJSONAtomic(filepath.Join(tmp, "trainer_state.json"), &State{GlobalStep: 1})
	}
	if _, err := saveCheckpointDir(out, 1, ok); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("killed")
	_, err := saveCheckpointDir(out, 2, func(tmp string) error {
		if err := os.WriteFile(filepath.Join(tmp, "model.safetensors"), []byte("partial"), 0o644); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// What a SIGKILL mid-write leaves behind.
	if err := os.MkdirAll(filepath.Join(out, ".checkpoint-tmp-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory named like a checkpoint but without trainer_state.json
	// (e.g. copied by hand, interrupted) is not complete either.
	os.MkdirAll(filepath.Join(out, "checkpoint-3"), 0o755)
	cks, err := ListCheckpoints(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 1 || filepath.Base(cks[0]) != "checkpoint-1" {
		t.Fatalf("checkpoints = %v, want only checkpoint-1", cks)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-2")); !os.IsNotExist(err) {
		t.Errorf("failed checkpoint-2 is visible: %v", err)
	}
}

func TestPruneKeepsBest(t *testing.T) {
	out := t.TempDir()
	for _, s := range []int{1, 2, 3, 4} {
		if _, err := saveCheckpointDir(out, s, func(tmp string) error {
			return writeJSONAtomic(filepath.Join(tmp, "trainer_state.json"), &State{GlobalStep: s})
		}); err != nil {
			t.Fatal(err)
		}
	}
	best := filepath.Join(out, "checkpoint-1")
	if err := pruneCheckpoints(out, 2, best); err != nil {
		t.Fatal(err)
	}
	cks, _ := ListCheckpoints(out)
	var names []string
	for _, c := range cks {
		names = append(names, filepath.Base(c))
	}
	want := []string{"checkpoint-1", "checkpoint-3", "checkpoint-4"}
	if len(names) != len(want) {
		t.Fatalf("kept %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("kept %v, want %v", names, want)
		}
	}
}
