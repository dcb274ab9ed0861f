// Command echoserver is the trivial loopback endpoint the load generators
// are measured against: it answers every request with a short 200, so the
// request rate a generator reaches is bounded by the generator (and the
// shared cores), not by the server's work.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	portFile := flag.String("port-file", "", "write the bound address here once listening")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("echoserver: listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	if *portFile != "" {
		// Written after Listen, so a script that waits for the file can
		// connect at once.
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(l.Addr().String()), 0o644); err == nil {
			err = os.Rename(tmp, *portFile)
		}
		if err != nil {
			slog.Error("echoserver: port file", "err", err)
			os.Exit(1)
		}
	}
	body := []byte(`{"ok":true}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Drain the request so keep-alive connections stay usable.
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	fmt.Fprintln(os.Stderr, "echoserver listening on", l.Addr())
	if err := http.Serve(l, h); err != nil {
		slog.Error("echoserver", "err", err)
		os.Exit(1)
	}
}
