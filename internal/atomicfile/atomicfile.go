// Package atomicfile writes files so that a reader, or a restart after a
// crash, sees either the old file or the whole new one, never a prefix: the
// data goes to a temporary file in the target's directory (a rename is
// atomic only within one file system), is fsynced, renamed over the target,
// and the directory is fsynced so the rename itself survives a power loss.
package atomicfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write streams the file's contents through fill, then publishes it
// atomically at path (mode 0644). The directory is created if missing. When
// fill fails, nothing at path changes.
func Write(path string, fill func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes 0600 files; a model or report is meant to be read
		// by other users (a serving container, a web server).
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteJSON writes v as indented JSON with a trailing newline, atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFile(path, append(b, '\n'))
}

// Copy copies src to dst atomically; copying a file onto itself is a no-op.
func Copy(src, dst string) error {
	if filepath.Clean(src) == filepath.Clean(dst) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	return Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// SyncDir fsyncs a directory so that renames and creations inside it are
// durable. File systems that cannot sync a directory are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// RemovingPrefix starts the hidden name RemoveDir gives a directory while it
// is being deleted; a process killed mid-delete leaves one behind, which the
// owner of the parent directory sweeps (see train's checkpoint pruning).
const RemovingPrefix = ".removing-"

// RemoveDir deletes a directory so that it disappears from its parent in
// one step: it is renamed to a hidden sibling first, then deleted. A
// process killed while deleting (os.RemoveAll goes file by file) leaves the
// hidden remains, never the directory under its own name with some files
// gone. A missing path is not an error.
func RemoveDir(path string) error {
	parent, base := filepath.Split(filepath.Clean(path))
	if parent == "" {
		parent = "."
	}
	hidden, err := os.MkdirTemp(parent, RemovingPrefix+base+"-*")
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	// MkdirTemp only reserves a unique name: os.Rename will not replace a
	// directory, so the placeholder goes before the rename takes its name.
	os.Remove(hidden)
	if err := os.Rename(path, hidden); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if err := SyncDir(parent); err != nil {
		return err
	}
	if err := os.RemoveAll(hidden); err != nil {
		return fmt.Errorf("remove %s (moved to %s): %w", path, hidden, err)
	}
	return nil
}
