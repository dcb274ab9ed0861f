package serve

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// kilnBinary is $KILN_BIN (make test sets it to bin/kiln), else the
// serving-only build compiled here.
func kilnBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KILN_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "kiln")
	cmd := exec.Command("go", "build", "-tags", "notorch", "-o", out, "./cmd/kiln")
	cmd.Dir = testenv.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kiln: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSIGTERMDrains runs `kiln serve` as a process: requests in flight when
// SIGTERM arrives are all answered, the process exits 0, and it no longer
// accepts connections.
func TestSIGTERMDrains(t *testing.T) {
	bin := kilnBinary(t)
	dir := tinyModel(t, "sentiment")
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--model", dir, "--addr", addr, "--onnxruntime-lib", testenv.ORTLibrary(t),
		"--intra-op-threads", "1", "--max-batch-delay", "400ms", "--max-batch-size", "64", "--drain-timeout", "10s", "--log-format", "json")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	url := "http://" + addr
	waitReady(t, url, exited)

	// The requests wait up to 400ms for their batch, so they are in flight
	// when the signal arrives.
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(url+"/predict", "application/json", bytes.NewReader([]byte(fmt.Sprintf(`{"inputs": "request %d"}`, i))))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("in-flight request %d: status %d, want 200", i, s)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("kiln serve exited with %v after SIGTERM, want 0\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kiln serve still running 30s after SIGTERM\n%s", logs.String())
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after exit")
	}
	if !bytes.Contains(logs.Bytes(), []byte(`"msg":"shut down"`)) {
		t.Errorf("no shutdown log line:\n%s", logs.String())
	}
}
