package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// peakRSS reads a process's peak and current resident set size in bytes
// (Linux /proc).
func peakRSS(t *testing.T, pid int) (peak, now int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if k == "VmHWM" {
			peak = kb << 10
		} else {
			now = kb << 10
		}
	}
	return peak, now
}

// TestMemoryAttack (issue 16.1) runs `kiln serve` as a process and attacks
// it as a few clients could: 8 concurrent 2 MB requests (64 inputs × 32k
// characters, about 1M tokens each) on /tokenize and /predict, and 10
// clients that send the largest allowed /tokenize and never read the
// response. Before the token budgets this grew the server by 3–4 GB each;
// now its peak RSS must grow by less than 1 GiB, and a normal request must
// keep answering 200 throughout.
func TestMemoryAttack(t *testing.T) {
	bin := kilnBinary(t)
	dir := tinyModel(t, "sentiment")
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--model", dir, "--addr", addr, "--onnxruntime-lib", testenv.ORTLibrary(t),
		"--intra-op-threads", "1", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := "http://" + addr
	waitReady(t, url, nil)
	_, before := peakRSS(t, cmd.Process.Pid)

	// 64 × 32,000 characters of one-letter words: one token per two
	// characters, just under the 2 MB body limit.
	huge := make([][]string, 64) // a TEI batch: [[text], [text], …]
	for i := range huge {
		huge[i] = []string{strings.Repeat("a ", 16_000)}
	}
	hugeBody, _ := json.Marshal(map[string]any{"inputs": huge, "truncate": true})
	// The largest /tokenize a client may send (--max-request-chars): its
	// response is about 8 MB of JSON.
	maxBody, _ := json.Marshal(map[string]any{"inputs": strings.TrimSpace(strings.Repeat("a ", 128<<10))})

	stop := make(chan struct{})
	var normal sync.WaitGroup
	var normalFails []string
	var mu sync.Mutex
	normal.Add(1)
	go func() {
		defer normal.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			r := do(t, "POST", url+"/predict", map[string]any{"inputs": "a normal request"})
			if r.Status != 200 {
				mu.Lock()
				normalFails = append(normalFails, r.String())
				mu.Unlock()
			}
		}
	}()

	var silent []net.Conn
	for range 10 {
		d := net.Dialer{Control: smallReceiveBuffer}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
		fmt.Fprintf(c, "POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(maxBody), maxBody)
	}
	statuses := map[int]int{}
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/tokenize"
				if i%2 == 1 {
					path = "/predict"
				}
				r := do(t, "POST", url+path, hugeBody)
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		t.Logf("round %d: statuses %v", round, statuses)
	}
	time.Sleep(500 * time.Millisecond) // the silent clients' responses are pending
	peak, _ := peakRSS(t, cmd.Process.Pid)
	close(stop)
	normal.Wait()
	for _, c := range silent {
		c.Close()
	}
	growth := peak - before
	t.Logf("RSS before %d MiB, peak %d MiB, growth %d MiB", before>>20, peak>>20, growth>>20)
	if growth >= 1<<30 {
		t.Errorf("peak RSS grew by %d MiB under the attack, want < 1024", growth>>20)
	}
	if len(normalFails) > 0 {
		t.Errorf("%d normal requests failed during the attack, e.g. %s", len(normalFails), normalFails[0])
	}
	for s := range statuses {
		if s != 413 && s != 429 {
			t.Errorf("2 MB requests answered %v, want 413 (over --max-request-chars) or 429", statuses)
			break
		}
	}
	if r := do(t, "POST", url+"/predict", map[string]any{"inputs": "still serving"}); r.Status != 200 {
		t.Errorf("after the attack: %s", r)
	}
}
