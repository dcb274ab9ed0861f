package torchbridge

import (
	"archive/zip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// fakeWheel writes a zip with a torch-like METADATA and a few files.
func fakeWheel(t *testing.T, dir, name, metadata string, files map[string]string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	add := func(n, body string) {
		w, err := z.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	add(strings.Split(name, "-")[0]+"-"+strings.Split(name, "-")[1]+".dist-info/METADATA", metadata)
	for n, b := range files {
		add(n, b)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// The requirement lists torchwheel.py derives from real torch METADATA shapes:
// cu13 wheels name cuda-toolkit[extras] (resolved through its own METADATA;
// cuda mode adds the extras holding the headers the NCCL wrapper compiles
// against), cu12 wheels name nvidia-*-cu12 directly. Dry runs download nothing.
func TestTorchWheelPlan(t *testing.T) {
	py := testenv.Python(t)
	script := filepath.Join(testenv.RepoRoot(), "scripts", "setup", "torchwheel.py")
	dir := t.TempDir()
	metaDir := filepath.Join(dir, "meta")
	os.MkdirAll(metaDir, 0o755)
	os.WriteFile(filepath.Join(metaDir, "cuda-toolkit.METADATA"), []byte(`Metadata-Version: 2.1
Name: cuda-toolkit
Version: 13.0.2
Requires-Dist: nvidia-cuda-cupti==13.0.85.*; (sys_platform == 'linux' or sys_platform == 'win32') and extra == 'cupti'
Requires-Dist: nvidia-cuda-runtime==13.0.96.*; (sys_platform == 'linux' or sys_platform == 'win32') and extra == 'cudart'
Requires-Dist: nvidia-cublas==13.1.0.3.*; (sys_platform == 'linux' or sys_platform == 'win32') and extra == 'cublas'
`), 0o644)
	tests := []struct {
		name, version, requires string
		mode                    string
		want                    []string
	}{
		{"2.11 cu13 cpu", "2.11.0", `Requires-Dist: filelock
Requires-Dist: cuda-toolkit[cublas,cudart,cupti]==13.0.2; platform_system == "Linux"
Requires-Dist: cuda-bindings<14,>=13.0.3; platform_system == "Linux"
Requires-Dist: nvidia-cudnn-cu13==9.19.0.56; platform_system == "Linux"
Requires-Dist: triton==3.6.0; platform_system == "Linux"
Requires-Dist: optree>=0.13.0; extra == "optree"
`, "cpu", []string{"nvidia-cuda-cupti==13.0.85.*", "nvidia-cuda-runtime==13.0.96.*"}},
		{"2.11 cu13 cuda", "2.11.0", `Requires-Dist: filelock
Requires-Dist: cuda-toolkit[cublas,cudart,cupti]==13.0.2; platform_system == "Linux"
Requires-Dist: cuda-bindings<14,>=13.0.3; platform_system == "Linux"
Requires-Dist: nvidia-cudnn-cu13==9.19.0.56; platform_system == "Linux"
Requires-Dist: triton==3.6.0; platform_system == "Linux"
`, "cuda", []string{"cuda-toolkit[cublas,cudart,cupti,crt,cccl]==13.0.2", "nvidia-cudnn-cu13==9.19.0.56"}},
		{"2.11 headers only", "2.11.0", `Requires-Dist: cuda-toolkit[cublas,cudart,cupti]==13.0.2; platform_system == "Linux"
`, "headers", nil},
		{"2.1 cu12 cpu", "2.1.2", `Requires-Dist: nvidia-cuda-runtime-cu12==12.1.105; platform_system == "Linux" and platform_machine == "x86_64"
Requires-Dist: nvidia-cuda-cupti-cu12==12.1.105; platform_system == "Linux" and platform_machine == "x86_64"
Requires-Dist: nvidia-cudnn-cu12==8.9.2.26; platform_system == "Linux" and platform_machine == "x86_64"
`, "cpu", []string{"nvidia-cuda-cupti-cu12==12.1.105", "nvidia-cuda-runtime-cu12==12.1.105"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			whl := fakeWheel(t, t.TempDir(), "torch-"+tc.version+"-cp311-cp311-manylinux_2_28_x86_64.whl",
				"Metadata-Version: 2.1\nName: torch\nVersion: "+tc.version+"\n"+tc.requires, nil)
			out, err := exec.Command(py, script, "--wheel", whl, "--mode", tc.mode, "--dest", filepath.Join(dir, tc.name),
				"--dry-run", "--meta-dir", metaDir).Output()
			if err != nil {
				t.Fatalf("%v: %s", err, err.(*exec.ExitError).Stderr)
			}
			var plan struct {
				Version      string   `json:"version"`
				Requirements []string `json:"requirements"`
				Libtorch     string   `json:"libtorch"`
			}
			if err := json.Unmarshal(out, &plan); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			slices.Sort(plan.Requirements)
			if plan.Version != tc.version || !slices.Equal(plan.Requirements, tc.want) || !strings.HasSuffix(plan.Libtorch, "site/torch") {
				t.Fatalf("plan = %+v, want version %s requirements %v", plan, tc.version, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.name, "site")); err == nil {
				t.Fatal("a dry run installed something")
			}
		})
	}
}

// torch.sh's choice of libtorch, without installing anything.
func TestTorchSetupDecision(t *testing.T) {
	script := filepath.Join(testenv.RepoRoot(), "scripts", "setup", "torch.sh")
	dev := filepath.Join(t.TempDir(), "nvidia0")
	os.WriteFile(dev, nil, 0o644)
	noSMI := t.TempDir() // a PATH without nvidia-smi
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"driver present", []string{"KILN_NVIDIA_DEVICE=" + dev}, "torch: CUDA (NVIDIA device " + dev + ")"},
		{"forced on", []string{"KILN_CUDA=1", "KILN_NVIDIA_DEVICE=/nonexistent"}, "torch: CUDA (KILN_CUDA=1)"},
		{"forced off beats a driver", []string{"KILN_CUDA=0", "KILN_NVIDIA_DEVICE=" + dev}, "torch: Debian libtorch-dev (KILN_CUDA=0)"},
		{"existing PyTorch wins", []string{"LIBTORCH=/opt/venv/lib/python3.11/site-packages/torch", "KILN_CUDA=1"}, "torch: LIBTORCH=/opt/venv/lib/python3.11/site-packages/torch"},
		{"CPU machine unchanged", []string{"KILN_NVIDIA_DEVICE=/nonexistent"}, "torch: Debian libtorch-dev (no NVIDIA driver found)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", script, "--dry-run")
			cmd.Env = append([]string{"PATH=" + noSMI + ":/usr/bin:/bin", "HOME=" + os.Getenv("HOME"), "KILN_CACHE=" + t.TempDir(), "LIBTORCH="}, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.HasPrefix(string(out), tc.want) {
				t.Fatalf("torch.sh --dry-run said:\n%s\nwant it to start with %q", out, tc.want)
			}
			if strings.Contains(tc.want, "CUDA (") && !strings.Contains(string(out), "onnxruntime-gpu==") {
				t.Errorf("a CUDA setup must also plan onnxruntime-gpu:\n%s", out)
			}
		})
	}
}
