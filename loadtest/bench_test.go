package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// BenchmarkClosedLoop measures the generator's request rate against a
// trivial loopback endpoint (KILN_BENCH_URL, or an in-process server) with
// every latency recorded. It reports requests/s; b.N is ignored beyond
// scaling the duration, because a load generator's cost is per second.
func BenchmarkClosedLoop(b *testing.B) {
	url := os.Getenv("KILN_BENCH_URL")
	if url == "" {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
		defer srv.Close()
		url = srv.URL
	}
	res, err := Run(context.Background(), Config{URL: url, Clients: 32, MaxRequests: uint64(b.N), Duration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatalf("errors: %v %v", res.ErrorKinds, res.ErrorExamples)
	}
	b.ReportMetric(res.Throughput, "req/s")
}
