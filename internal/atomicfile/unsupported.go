package atomicfile

import (
	"errors"
	"syscall"
)

// isUnsupported reports the errors some file systems (and Windows) return
// for fsync on a directory; the rename has still happened.
func isUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EBADF)
}
