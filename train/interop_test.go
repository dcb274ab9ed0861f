package train

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// hfSpec is one tiny random checkpoint for testdata/hf_interop.py make.
type hfSpec struct {
	Arch      string            `json:"arch"`
	VocabSize int               `json:"vocab_size"`
	PadID     int               `json:"pad_token_id"`
	ID2Label  map[string]string `json:"id2label"`
	HeadScale float64           `json:"head_scale,omitempty"`
}

const (
	bertTokenizer    = "../testdata/tokenizers/bert-base-uncased/tokenizer.json"
	robertaTokenizer = "../testdata/tokenizers/roberta-base/tokenizer.json"
)

// hfCheckpoints has transformers write each spec with save_pretrained to
// <dir>/<name>, in one Python process.
func hfCheckpoints(t *testing.T, specs map[string]hfSpec) string {
	t.Helper()
	py := testenv.Python(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	b, _ := json.Marshal(specs)
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, "testdata/hf_interop.py", "make", dir, spec).CombinedOutput(); err != nil {
		t.Fatalf("hf_interop.py make: %v\n%s", err, out)
	}
	return dir
}

// hfRun is one model for hfLogits: transformers loads dir and scores data.
type hfRun struct {
	dir  string
	data []dataset.Encoded
	pad  int
}

// hfLogits loads each run's directory with
// AutoModelForSequenceClassification.from_pretrained(trust_remote_code=True)
// (one Python process) and returns its logits and the class that ran.
func hfLogits(t *testing.T, runs []hfRun) (logits [][][]float64, classes []string) {
	t.Helper()
	py := testenv.Python(t)
	tmp := t.TempDir()
	args := []string{"testdata/hf_interop.py", "logits"}
	for i, r := range runs {
		in := filepath.Join(tmp, "in"+string(rune('a'+i))+".safetensors")
		if err := models.WriteSafetensors(in, paddedInputs(t, r.data, r.pad), nil); err != nil {
			t.Fatal(err)
		}
		args = append(args, r.dir, in, filepath.Join(tmp, "out"+string(rune('a'+i))+".safetensors"))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("hf_interop.py logits: %v\n%s", err, out)
	}
	for i := range runs {
		sd, _, err := models.ReadSafetensors(filepath.Join(tmp, "out"+string(rune('a'+i))+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		vals, err := sd["logits"].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		w := int(sd["logits"].Shape[1])
		rows := make([][]float64, len(vals)/w)
		for j := range rows {
			rows[j] = make([]float64, w)
			for k := range rows[j] {
				rows[j][k] = float64(vals[j*w+k])
			}
		}
		logits = append(logits, rows)
		cls := ""
		for name := range sd {
			if after, ok := strings.CutPrefix(name, "class:"); ok {
				cls = after
			}
		}
		classes = append(classes, cls)
	}
	return logits, classes
}

// paddedInputs lays data out as one right-padded batch, as MakeBatch does.
func paddedInputs(t *testing.T, data []dataset.Encoded, pad int) models.StateDict {
	t.Helper()
	seq := 0
	for _, e := range data {
		seq = max(seq, len(e.IDs))
	}
	n := len(data)
	ids, mask, types := make([]int64, n*seq), make([]int64, n*seq), make([]int64, n*seq)
	for i, e := range data {
		for j := 0; j < seq; j++ {
			if j < len(e.IDs) {
				ids[i*seq+j], mask[i*seq+j], types[i*seq+j] = int64(e.IDs[j]), 1, int64(e.TypeIDs[j])
			} else {
				ids[i*seq+j] = int64(pad)
			}
		}
	}
	sd := models.StateDict{}
	for name, v := range map[string][]int64{"input_ids": ids, "attention_mask": mask, "token_type_ids": types} {
		x, err := models.FromInt64s([]int64{int64(n), int64(seq)}, v)
		if err != nil {
			t.Fatal(err)
		}
		sd[name] = x
	}
	return sd
}

// kilnLogits loads dir with kiln and returns its logits on the first n
// rows of file, with the encoded rows.
func kilnLogits(t *testing.T, dir, tokPath, file string, n int) ([][]float64, []dataset.Encoded, int) {
	t.Helper()
	ds, err := dataset.ReadDataset(file, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Examples = ds.Examples[:min(n, len(ds.Examples))]
	enc, err := dataset.LoadTokenizer(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := dataset.EncodeDataset(ds, enc, 32)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := mtorch.Load(dir, mtorch.LoadOptions{Device: gotch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	logits, err := Predict(m, data, len(data), enc.PadID(), dataset.Regression, gotch.CPU) // Regression: raw logits
	if err != nil {
		t.Fatal(err)
	}
	return logits, data, enc.PadID()
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// centerBinaryHead shifts classifier.bias[0] of the checkpoint in dir so
// that the median row of logits sits on the decision boundary.
func centerBinaryHead(t *testing.T, dir string, logits [][]float64) {
	t.Helper()
	d := make([]float64, len(logits))
	for i, l := range logits {
		d[i] = l[0] - l[1]
	}
	slices.Sort(d)
	path := filepath.Join(dir, "model.safetensors")
	sd, meta, err := models.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sd["classifier.bias"].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	b[0] -= float32((d[len(d)/2-1] + d[len(d)/2]) / 2)
	if sd["classifier.bias"], err = models.FromFloat32s("F32", []int64{int64(len(b))}, b); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(path, sd, meta); err != nil {
		t.Fatal(err)
	}
}

func writeLabelled(t *testing.T, path string, ds *dataset.Dataset, labels []string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"text", "label"})
	for i, l := range labels {
		w.Write([]string{ds.Examples[i].Text, l})
	}
	w.Flush()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFineTuneKeepsCheckpointLabelOrder: a transformers-saved checkpoint
// whose id2label is not sorted ({0: positive, 1: negative}) is fine-tuned
// on data labelled by its own predictions. At a learning rate of 1e-12 it
// must still score 100%: the data's labels go to the head's rows by name
// (before the fix id2label was rewritten in sorted order over the same
// rows, and accuracy fell to 0). Integer labels are class ids; a label the
// head lacks is an error unless ReinitHead.
func TestFineTuneKeepsCheckpointLabelOrder(t *testing.T) {
	ck := hfCheckpoints(t, map[string]hfSpec{"flip": {Arch: "bert", VocabSize: 30522, ID2Label: map[string]string{"0": "positive", "1": "negative"}, HeadScale: 300}})
	model := filepath.Join(ck, "flip")
	texts := smallSST2(t, 64)
	// A random head predicts one class for almost every row: move the
	// boundary to the median so both classes occur.
	logits, _, _ := kilnLogits(t, model, bertTokenizer, texts, 64)
	centerBinaryHead(t, model, logits)
	logits, _, _ = kilnLogits(t, model, bertTokenizer, texts, 64)
	ds, err := dataset.ReadDataset(texts, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName, byID := make([]string, len(logits)), make([]string, len(logits))
	seen := map[int]bool{}
	for i, l := range logits {
		c := argmax(l)
		seen[c] = true
		byName[i], byID[i] = []string{"positive", "negative"}[c], []string{"0", "1"}[c]
	}
	if len(seen) != 2 {
		t.Fatalf("test setup: the random checkpoint predicts one class only (%v); both must occur", seen)
	}
	dir := t.TempDir()
	named, ids := filepath.Join(dir, "named.csv"), filepath.Join(dir, "ids.csv")
	writeLabelled(t, named, ds, byName)
	writeLabelled(t, ids, ds, byID)
	withNeutral := filepath.Join(dir, "neutral.csv")
	writeLabelled(t, withNeutral, ds, append(append([]string{}, byName[:len(byName)-1]...), "neutral"))

	run := func(file string, reinit bool) (*Result, error) {
		cfg := Config{TrainFile: file, ValidFile: file, Model: model, Tokenizer: bertTokenizer,
			OutputDir: filepath.Join(t.TempDir(), "out"), BatchSize: 16, MaxLength: 32, LR: 1e-12, MaxSteps: 1,
			Seed: 3, Dropout: 0, ReinitHead: reinit}
		cfg.Defaults()
		return Run(context.Background(), cfg)
	}
	for _, tc := range []struct{ name, file string }{{"names", named}, {"integer ids", ids}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := run(tc.file, false)
			if err != nil {
				t.Fatal(err)
			}
			if acc := res.Metrics["accuracy"]; acc != 1 {
				t.Errorf("accuracy after a 1e-12 step = %v, want 1 (labels flipped?)", acc)
			}
			c, err := models.LoadConfig(res.OutputDir)
			if err != nil {
				t.Fatal(err)
			}
			if c.ID2Label[0] != "positive" || c.ID2Label[1] != "negative" || len(c.ID2Label) != 2 {
				t.Errorf("saved id2label = %v, want the checkpoint's {0: positive, 1: negative}", c.ID2Label)
			}
		})
	}
	t.Run("label the head lacks", func(t *testing.T) {
		_, err := run(withNeutral, false)
		if !errors.Is(err, mtorch.ErrHeadLabels) || !strings.Contains(err.Error(), "neutral") || !strings.Contains(err.Error(), "--reinit-head") {
			t.Fatalf("err = %v, want ErrHeadLabels naming \"neutral\" and --reinit-head", err)
		}
	})
	t.Run("reinit head", func(t *testing.T) {
		res, err := run(withNeutral, true)
		if err != nil {
			t.Fatal(err)
		}
		c, err := models.LoadConfig(res.OutputDir)
		if err != nil {
			t.Fatal(err)
		}
		if got := headLabels(c); strings.Join(got, ",") != "negative,neutral,positive" {
			t.Errorf("id2label with a fresh head = %v, want the data's sorted labels", got)
		}
	})
}

// interopTol bounds |kiln − transformers| on the logits of a trained tiny
// model (float32; the two run different but equivalent kernels).
const interopTol = 1e-4

// TestTrainedModelsLoadInTransformers trains every architecture and
// pooling kiln supports for a few steps from a transformers-saved tiny
// checkpoint, then loads the result with
// AutoModelForSequenceClassification.from_pretrained(dir,
// trust_remote_code=True): the logits must match kiln's within interopTol.
// cls pooling runs transformers' own class; mean/max run kiln_modeling.py.
func TestTrainedModelsLoadInTransformers(t *testing.T) {
	archs := map[string]hfSpec{
		"bert":       {Arch: "bert", VocabSize: 30522, ID2Label: map[string]string{"0": "negative", "1": "positive"}},
		"roberta":    {Arch: "roberta", VocabSize: 50265, PadID: 1, ID2Label: map[string]string{"0": "negative", "1": "positive"}},
		"distilbert": {Arch: "distilbert", VocabSize: 30522, ID2Label: map[string]string{"0": "negative", "1": "positive"}},
		"electra":    {Arch: "electra", VocabSize: 30522, ID2Label: map[string]string{"0": "negative", "1": "positive"}},
	}
	ck := hfCheckpoints(t, archs)
	train := smallSST2(t, 48)
	cases := []struct{ arch, pooling, class string }{
		{"bert", "cls", "BertForSequenceClassification"},
		{"bert", "mean", "KilnBertForSequenceClassification"},
		{"bert", "max", "KilnBertForSequenceClassification"},
		{"roberta", "cls", "RobertaForSequenceClassification"},
		{"roberta", "mean", "KilnRobertaForSequenceClassification"},
		{"distilbert", "cls", "DistilBertForSequenceClassification"},
		{"distilbert", "max", "KilnDistilBertForSequenceClassification"},
		{"electra", "cls", "ElectraForSequenceClassification"},
		{"electra", "mean", "KilnElectraForSequenceClassification"},
	}
	var runs []hfRun
	var want [][][]float64
	for _, tc := range cases {
		tok := bertTokenizer
		if tc.arch == "roberta" {
			tok = robertaTokenizer
		}
		out := filepath.Join(t.TempDir(), tc.arch+"-"+tc.pooling)
		cfg := Config{TrainFile: train, Model: filepath.Join(ck, tc.arch), Tokenizer: tok, OutputDir: out,
			BatchSize: 8, MaxLength: 32, LR: 1e-3, MaxSteps: 3, Seed: 5, Dropout: -1, Pooling: tc.pooling}
		cfg.Defaults()
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatalf("%s/%s: %v", tc.arch, tc.pooling, err)
		}
		_, err := os.Stat(filepath.Join(out, models.RemoteCodeFile))
		if (tc.pooling != "cls") != (err == nil) {
			t.Errorf("%s/%s: %s present = %v", tc.arch, tc.pooling, models.RemoteCodeFile, err == nil)
		}
		logits, data, pad := kilnLogits(t, out, tok, train, 6)
		want = append(want, logits)
		runs = append(runs, hfRun{dir: out, data: data, pad: pad})
	}
	got, classes := hfLogits(t, runs)
	for i, tc := range cases {
		if classes[i] != tc.class {
			t.Errorf("%s/%s: transformers ran %s, want %s", tc.arch, tc.pooling, classes[i], tc.class)
		}
		var d float64
		for r := range want[i] {
			for c := range want[i][r] {
				d = math.Max(d, math.Abs(want[i][r][c]-got[i][r][c]))
			}
		}
		t.Logf("%s/%s: max |Δlogit| kiln vs transformers = %.2g", tc.arch, tc.pooling, d)
		if d > interopTol || math.IsNaN(d) {
			t.Errorf("%s/%s: logits differ from transformers by %.3g (tolerance %g)", tc.arch, tc.pooling, d, interopTol)
		}
	}
}
