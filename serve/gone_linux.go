package serve

import (
	"errors"
	"syscall"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sys/unix"
)

// clientGone returns a check that reports whether the client closed its
// connection. fasthttp gives handlers no cancellation signal for that, so
// the batcher asks just before a batch starts: a non-blocking MSG_PEEK read
// returns 0 bytes on a connection the peer has closed, and EAGAIN on one
// that is open and idle. Peeking consumes nothing, so a pipelined next
// request is left for fasthttp to read.
func clientGone(c *fiber.Ctx) func() bool {
	sc, ok := c.Context().Conn().(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() bool {
		gone := false
		var buf [1]byte
		err := raw.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case err == nil:
				gone = n == 0
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			default:
				gone = true // ECONNRESET and friends
			}
			return true // never wait for readiness
		})
		return gone || err != nil
	}
}
