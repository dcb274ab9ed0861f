package train

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// --report-to tensorboard (issue 15.15): TensorBoard's own reader
// (EventAccumulator, PyPI tensorboard in the reference venv) finds every
// training and evaluation line of log.jsonl under HF Trainer's tags, with
// the same steps and values (as float32).
func TestReportToTensorBoard(t *testing.T) {
	py := testenv.Python(t)
	train := smallSST2(t, 32)
	out := t.TempDir()
	cfg := tinyConfig(t, train, out)
	cfg.ValidFile, cfg.MaxSteps, cfg.EvalSteps = train, 4, 2
	cfg.ReportTo = []string{"tensorboard"}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(py, "../internal/tbevents/testdata/read_events.py", filepath.Join(out, "runs")).Output()
	if err != nil {
		t.Fatalf("read_events.py: %v", err)
	}
	var got struct {
		Files   int
		Scalars map[string][][3]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Files != 1 {
		t.Errorf("%d event files, want 1", got.Files)
	}
	want := map[string]map[int]float64{}
	add := func(tag string, step int, v *float64) {
		if v == nil {
			return
		}
		if want[tag] == nil {
			want[tag] = map[int]float64{}
		}
		want[tag][step] = float64(float32(*v))
	}
	for _, e := range res.State.LogHistory {
		if e.Eval != nil {
			for k, v := range e.Eval {
				add("eval/"+k, e.Step, &v)
			}
			continue
		}
		add("train/loss", e.Step, e.Loss)
		add("train/learning_rate", e.Step, e.LR)
		add("train/grad_norm", e.Step, e.Norm)
	}
	for _, tag := range []string{"train/loss", "train/learning_rate", "train/grad_norm", "eval/loss", "eval/accuracy"} {
		if len(want[tag]) == 0 {
			t.Fatalf("log history has no %s: %+v", tag, res.State.LogHistory)
		}
	}
	for tag, steps := range want {
		rows := got.Scalars[tag]
		if len(rows) != len(steps) {
			t.Errorf("%s: %d points in TensorBoard, %d in log.jsonl", tag, len(rows), len(steps))
			continue
		}
		for _, r := range rows {
			step, v := int(r[0].(float64)), r[1].(float64)
			if w, ok := steps[step]; !ok || v != w {
				t.Errorf("%s step %d: TensorBoard %v, log.jsonl %v", tag, step, v, w)
			}
		}
	}
}
