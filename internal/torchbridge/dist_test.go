package torchbridge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configureDist against a stand-in compiler whose verdict depends on the
// config it is handed: gloo-only failures stub everything, NCCL-only failures
// keep gloo.
func TestConfigureDist(t *testing.T) {
	tests := []struct {
		name       string
		cuda       bool
		cpuOnly    bool   // linked without libtorch_cuda
		script     string // body of the fake compiler; $CFG is the generated config
		wantConfig []string
		wantWhy    []string // substrings of the reasons returned, in order
	}{
		{name: "cpu, c10d compiles", script: "exit 0",
			wantConfig: []string{"#define KILN_DIST_NCCL 0", "NCCL backend is not available in libtorch 9.9.9 (a CPU build)"}},
		{name: "cpu, no gloo headers",
			script:     `echo "kiln_dist.cpp:12:10: fatal error: gloo/config.h: No such file or directory"; exit 1`,
			wantConfig: []string{"#define KILN_DIST_UNAVAILABLE", "gloo/config.h: No such file or directory", "install libgloo-dev"},
			wantWhy:    []string{"c10d: gloo/config.h"}},
		{name: "cuda, NCCL compiles", cuda: true, script: "exit 0",
			wantConfig: []string{"#define KILN_DIST_NCCL 1"}},
		{name: "cuda linked cpu-only", cuda: true, cpuOnly: true, script: "exit 0",
			wantConfig: []string{"#define KILN_DIST_NCCL 0", "linked CPU-only"}},
		{name: "cuda, no nccl.h", cuda: true,
			script:     `if grep -q "KILN_DIST_NCCL 1" "$CFG"; then echo "x.cpp:1:1: error: nccl.h: No such file"; exit 1; fi`,
			wantConfig: []string{"#define KILN_DIST_NCCL 0", "ProcessGroupNCCL did not compile against libtorch 9.9.9 (nccl.h: No such file)"},
			wantWhy:    []string{"nccl: nccl.h"}},
		{name: "failure without a message", script: "exit 3",
			wantConfig: []string{"#define KILN_DIST_UNAVAILABLE", "exit status 3"},
			wantWhy:    []string{"c10d: exit status 3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			cxx := filepath.Join(dir, "cxx")
			body := "#!/bin/sh\nCFG=" + filepath.Join(src, "kiln_dist_config.h") + "\n" + tc.script + "\n"
			if err := os.WriteFile(cxx, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			lt := &Libtorch{Version: "9.9.9", CUDA: tc.cuda}
			why, err := configureDist(context.Background(), compiler{cxx: cxx, lt: lt, src: src}, src, lt, tc.cpuOnly)
			if err != nil {
				t.Fatalf("configureDist: %v", err)
			}
			if len(why) != len(tc.wantWhy) {
				t.Fatalf("reasons %q, want %d matching %q", why, len(tc.wantWhy), tc.wantWhy)
			}
			for i, w := range tc.wantWhy {
				if !strings.Contains(why[i], w) {
					t.Errorf("reason %q lacks %q", why[i], w)
				}
			}
			cfg, err := os.ReadFile(filepath.Join(src, "kiln_dist_config.h"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantConfig {
				if !strings.Contains(string(cfg), w) {
					t.Errorf("config lacks %q:\n%s", w, cfg)
				}
			}
			if tc.cuda && !tc.cpuOnly && len(tc.wantWhy) == 0 && strings.Contains(string(cfg), "UNAVAILABLE") {
				t.Errorf("config marks something unavailable:\n%s", cfg)
			}
		})
	}
}
