package kubernetes

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pendingTrainFlags are flags pytorchjob.yaml passes that `kiln train` does
// not have yet (none since issue 18's trainer wiring). The check below fails
// once the binary has one of them, so the list only shrinks.
var pendingTrainFlags []string

type replicaSpec struct {
	Replicas      int    `yaml:"replicas"`
	RestartPolicy string `yaml:"restartPolicy"`
	Template      struct {
		Spec struct {
			Containers []struct {
				container    `yaml:",inline"`
				VolumeMounts []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"containers"`
			Volumes []struct {
				Name                  string `yaml:"name"`
				PersistentVolumeClaim *struct {
					ClaimName string `yaml:"claimName"`
				} `yaml:"persistentVolumeClaim"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

func TestPyTorchJob(t *testing.T) {
	objs := load(t)
	jobs := objs["PyTorchJob"]
	if len(jobs) != 1 {
		t.Fatalf("want one PyTorchJob, got %d", len(jobs))
	}
	claims := map[string]bool{}
	for _, c := range objs["PersistentVolumeClaim"] {
		claims[c.Metadata.Name] = true
	}
	job := jobs[0]
	if job.APIVersion != "kubeflow.org/v1" {
		t.Errorf("apiVersion %s, want kubeflow.org/v1 (training operator v1)", job.APIVersion)
	}
	var spec struct {
		Spec struct {
			Replicas map[string]replicaSpec `yaml:"pytorchReplicaSpecs"`
		} `yaml:"spec"`
	}
	b, _ := yaml.Marshal(job.raw)
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	rs := spec.Spec.Replicas
	if rs["Master"].Replicas != 1 {
		t.Errorf("Master replicas %d, want 1 (rank 0)", rs["Master"].Replicas)
	}
	if rs["Worker"].Replicas < 1 {
		t.Errorf("Worker replicas %d, want at least 1", rs["Worker"].Replicas)
	}
	for _, role := range []string{"Master", "Worker"} {
		t.Run(role, func(t *testing.T) {
			r := rs[role]
			if r.RestartPolicy != "OnFailure" && r.RestartPolicy != "Never" {
				t.Errorf("restartPolicy %q: a failed rank must fail or restart the job, not run forever", r.RestartPolicy)
			}
			cs := r.Template.Spec.Containers
			if len(cs) != 1 || cs[0].Name != "pytorch" {
				t.Fatalf("want one container named pytorch (the operator's convention), got %d", len(cs))
			}
			c := cs[0]
			if len(c.Args) == 0 || c.Args[0] != "train" {
				t.Fatalf("args %v do not run `kiln train`", c.Args)
			}
			for _, want := range []string{"--device=cuda", "--dist-backend=nccl"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args lack %s", want)
				}
			}
			if !strings.Contains(c.Image, "cuda") {
				t.Errorf("image %q is not the CUDA train image", c.Image)
			}
			if c.Resources.Requests["nvidia.com/gpu"] != 1 || c.Resources.Limits["nvidia.com/gpu"] != 1 {
				t.Errorf("want one GPU per pod (one rank each), got requests %v limits %v", c.Resources.Requests, c.Resources.Limits)
			}
			vols := map[string]string{}
			for _, v := range r.Template.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					vols[v.Name] = v.PersistentVolumeClaim.ClaimName
					if !claims[v.PersistentVolumeClaim.ClaimName] {
						t.Errorf("volume %s claims %s, which no manifest defines", v.Name, v.PersistentVolumeClaim.ClaimName)
					}
				}
			}
			for _, a := range c.Args {
				if name, val, ok := strings.Cut(a, "="); ok && slices.Contains([]string{"--model", "--train", "--valid", "--out"}, name) {
					onClaim := false
					for _, m := range c.VolumeMounts {
						onClaim = onClaim || (vols[m.Name] != "" && strings.HasPrefix(val, m.MountPath+"/"))
					}
					if !onClaim {
						t.Errorf("%s is on no mounted claim", a)
					}
				}
			}
			checkTrainFlags(t, c.Args[1:])
		})
	}
}

// checkTrainFlags is checkServeFlags for `kiln train`, with the flags of
// pendingTrainFlags allowed (and required to be still missing).
func checkTrainFlags(t *testing.T, args []string) {
	t.Helper()
	help := commandHelp(t, "train")
	if help == nil {
		return
	}
	for _, a := range args {
		name, ok := flagName(a)
		if !ok {
			continue
		}
		switch pending, has := slices.Contains(pendingTrainFlags, name), hasFlag(help, name); {
		case pending && has:
			t.Errorf("`kiln train` now has %s: remove it from pendingTrainFlags", name)
		case !pending && !has:
			t.Errorf("manifest passes %s, which `kiln train` does not have", name)
		}
	}
}
