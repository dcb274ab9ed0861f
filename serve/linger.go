package serve

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close. fasthttp answers a request it refuses before reading
// its body (a Content-Length over --body-limit gets 413) and closes the
// connection at once; closing a TCP socket with unread data in its receive
// buffer sends RST, and the RST destroys the 413 before a client still
// uploading gets to read it: the client sees "connection reset" instead of
// the answer. So closing is done the polite way: half-close (FIN after the
// response), then read and discard what the client still sends, for a
// bounded time and byte count, and close for good. This runs off the
// connection's goroutine, so a slow uploader does not hold a server worker.
const (
	lingerTimeout = 2 * time.Second
	lingerBytes   = 64 << 20
)

type lingerListener struct{ net.Listener }

// lingering wraps ln so its TCP connections close as described above.
func lingering(ln net.Listener) net.Listener { return lingerListener{ln} }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, err
}

// lingerConn embeds *net.TCPConn, so it stays a syscall.Conn (clientGone
// peeks at its socket).
type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if c.TCPConn.CloseWrite() != nil {
			c.TCPConn.Close()
			return
		}
		go func() {
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
			c.TCPConn.Close()
		}()
	})
	return nil
}
