// Package kubernetes holds kiln's deployment manifests; this test keeps them
// honest against the server and the Dockerfile.
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// Only the fields the checks read; unknown fields are ignored by design.
type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Resources struct {
		Requests map[string]any `yaml:"requests"`
		Limits   map[string]any `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe   *probe `yaml:"startupProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
}

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
				Containers                    []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Port       int `yaml:"port"`
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
	} `yaml:"spec"`
	raw map[string]any
}

func load(t *testing.T) map[string][]object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string][]object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var raw map[string]any
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var o object
			b, _ := yaml.Marshal(raw)
			if err := yaml.Unmarshal(b, &o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			o.raw = raw
			if o.Kind == "" || o.APIVersion == "" {
				t.Fatalf("%s: object without kind/apiVersion", f)
			}
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	return byKind
}

// serverPort is the port the container's own args tell kiln serve to bind.
func serverPort(t *testing.T, c container) int {
	t.Helper()
	i := slices.Index(c.Args, "--addr")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("container %s: args %v lack --addr", c.Name, c.Args)
	}
	_, port, ok := strings.Cut(c.Args[i+1], ":")
	n, err := strconv.Atoi(port)
	if !ok || err != nil {
		t.Fatalf("container %s: --addr %q has no port", c.Name, c.Args[i+1])
	}
	return n
}

func TestDeploymentsProbeTheServer(t *testing.T) {
	objs := load(t)
	deps := objs["Deployment"]
	if len(deps) < 2 {
		t.Fatalf("want the CPU and GPU deployments, got %d", len(deps))
	}
	for _, d := range deps {
		t.Run(d.Metadata.Name, func(t *testing.T) {
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the pod labels", k, v)
				}
			}
			cs := d.Spec.Template.Spec.Containers
			if len(cs) != 1 {
				t.Fatalf("want one container, got %d", len(cs))
			}
			c := cs[0]
			if len(c.Args) == 0 || c.Args[0] != "serve" {
				t.Fatalf("container args %v do not run `kiln serve`", c.Args)
			}
			checkServeFlags(t, c.Args[1:])
			port := serverPort(t, c)
			named := map[string]int{}
			for _, p := range c.Ports {
				named[p.Name] = p.ContainerPort
			}
			if named["http"] != port {
				t.Errorf("containerPort http=%d, server binds %d", named["http"], port)
			}
			if ann := d.Spec.Template.Metadata.Annotations["prometheus.io/port"]; ann != strconv.Itoa(port) {
				t.Errorf("prometheus.io/port %q, server binds %d", ann, port)
			}
			for _, pc := range []struct {
				name string
				p    *probe
				path string
			}{
				{"readiness", c.ReadinessProbe, readyPath},
				{"liveness", c.LivenessProbe, healthPath},
				{"startup", c.StartupProbe, healthPath},
			} {
				if pc.p == nil || pc.p.HTTPGet == nil {
					t.Errorf("%s probe missing or not httpGet", pc.name)
					continue
				}
				if pc.p.HTTPGet.Path != pc.path {
					t.Errorf("%s probe path %q, want %q", pc.name, pc.p.HTTPGet.Path, pc.path)
				}
				switch p := pc.p.HTTPGet.Port.(type) {
				case string:
					if _, ok := named[p]; !ok {
						t.Errorf("%s probe port %q names no container port", pc.name, p)
					}
				case int:
					if p != port {
						t.Errorf("%s probe port %d, server binds %d", pc.name, p, port)
					}
				default:
					t.Errorf("%s probe port %v of type %T", pc.name, p, p)
				}
			}
			if _, ok := c.Resources.Requests["cpu"]; !ok {
				t.Error("no cpu request (the HPA's utilisation target needs one)")
			}
			gpu := slices.Contains(c.Args, "cuda")
			_, reqGPU := c.Resources.Requests["nvidia.com/gpu"]
			_, limGPU := c.Resources.Limits["nvidia.com/gpu"]
			if gpu != (reqGPU && limGPU) {
				t.Errorf("--device cuda=%v but nvidia.com/gpu request=%v limit=%v", gpu, reqGPU, limGPU)
			}
		})
	}
	if !slices.ContainsFunc(deps, func(d object) bool {
		return slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "cuda")
	}) {
		t.Error("no GPU deployment (--device cuda with nvidia.com/gpu)")
	}
}

func TestServiceAndAutoscalerTargetTheDeployment(t *testing.T) {
	objs := load(t)
	deps := map[string]object{}
	for _, d := range objs["Deployment"] {
		deps[d.Metadata.Name] = d
	}
	for _, h := range objs["HorizontalPodAutoscaler"] {
		if h.APIVersion != "autoscaling/v2" {
			t.Errorf("hpa %s: apiVersion %s", h.Metadata.Name, h.APIVersion)
		}
		if _, ok := deps[h.Spec.ScaleTargetRef.Name]; !ok || h.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("hpa %s targets %s/%s, not a deployment here", h.Metadata.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
		if h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas <= h.Spec.MinReplicas {
			t.Errorf("hpa %s: replicas %d..%d", h.Metadata.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	}
	if len(objs["HorizontalPodAutoscaler"]) == 0 {
		t.Error("no HorizontalPodAutoscaler")
	}
	svcs := objs["Service"]
	if len(svcs) == 0 {
		t.Fatal("no Service")
	}
	for _, s := range svcs {
		sel, _ := s.raw["spec"].(map[string]any)["selector"].(map[string]any)
		matched := false
		for _, d := range deps {
			ok := len(sel) > 0
			for k, v := range sel {
				if d.Spec.Template.Metadata.Labels[k] != v {
					ok = false
				}
			}
			if ok {
				matched = true
				for _, p := range s.Spec.Ports {
					if name, isName := p.TargetPort.(string); isName {
						found := false
						for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
							found = found || cp.Name == name
						}
						if !found {
							t.Errorf("service %s targetPort %q is no container port of %s", s.Metadata.Name, name, d.Metadata.Name)
						}
					}
				}
			}
		}
		if !matched {
			t.Errorf("service %s selects no deployment", s.Metadata.Name)
		}
	}
}

// The image's EXPOSE and HEALTHCHECK must agree with what the manifests probe.
func TestDockerfileAgrees(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	var port int
	for _, d := range load(t)["Deployment"] {
		port = serverPort(t, d.Spec.Template.Spec.Containers[0])
	}
	if !regexp.MustCompile(`(?m)^EXPOSE ` + strconv.Itoa(port) + `\b`).MatchString(df) {
		t.Errorf("Dockerfile does not EXPOSE %d", port)
	}
	hc := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)(/\w+)`).FindStringSubmatch(df)
	if hc == nil || hc[1] != strconv.Itoa(port) || hc[2] != healthPath {
		t.Errorf("Dockerfile HEALTHCHECK %v, want port %d path %s", hc, port, healthPath)
	}
	for _, m := range regexp.MustCompile(`scripts/setup/[\w.-]+\.sh`).FindAllString(df, -1) {
		if _, err := os.Stat(filepath.Join("../..", m)); err != nil {
			t.Errorf("Dockerfile calls %s: %v", m, err)
		}
	}
}

// checkServeFlags runs the real binary's `serve --help` (KILN_BIN, set by
// make test) and checks that every flag the manifest passes exists, so a
// renamed flag breaks this test instead of a rollout.
func checkServeFlags(t *testing.T, args []string) {
	t.Helper()
	help := commandHelp(t, "serve")
	if help == nil {
		return
	}
	for _, a := range args {
		if name, ok := flagName(a); ok && !hasFlag(help, name) {
			t.Errorf("manifest passes %s, which `kiln serve` does not have", name)
		}
	}
}

// commandHelp is `$KILN_BIN sub --help`; nil (logged) when KILN_BIN is unset
// and the run does not require every check.
func commandHelp(t *testing.T, sub string) []byte {
	t.Helper()
	bin := os.Getenv("KILN_BIN")
	if bin == "" {
		// make test sets both; a run that must check everything may not
		// pass without having checked the flags.
		if testenv.Require() {
			t.Fatal("KILN_BIN is not set (KILN_REQUIRE_REFS=1): build bin/kiln and set KILN_BIN=$PWD/bin/kiln, as make test does")
		}
		t.Logf("KILN_BIN not set: %s flags not checked against the binary", sub)
		return nil
	}
	out, err := exec.Command(bin, sub, "--help").CombinedOutput()
	if err != nil && sub != "serve" && strings.Contains(string(out), `unknown command "`+sub+`"`) {
		// bin/kiln-serve (the libtorch-free build, what serving images
		// ship) has no training commands: make test checks the training
		// manifests against bin/kiln, and the serving ones against both.
		t.Skipf("%s has no %s command (the libtorch-free build); checked with bin/kiln", bin, sub)
	}
	if err != nil {
		t.Fatalf("%s %s --help: %v\n%s", bin, sub, err, out)
	}
	return out
}

// flagName is "--name" of an argument "--name" or "--name=value".
func flagName(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "--") {
		return "", false
	}
	name, _, _ := strings.Cut(arg, "=")
	return name, true
}

// hasFlag reports whether a cobra --help text lists the flag.
func hasFlag(help []byte, name string) bool {
	return regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(name) + `(\s|$)`).Match(help)
}
