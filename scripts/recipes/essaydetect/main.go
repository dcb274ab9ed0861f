// Command essaydetect runs the essay-detection recipe (docs/recipes/essay-detection.md)
// end to end with bin/kiln: a DeBERTa-v3-shaped classifier of AI-written
// vs human essays, mean pooling, layer-wise LR decay and a head LR, bf16,
// gradient checkpointing, 512 tokens, stratified k-fold with out-of-fold
// ROC-AUC, then export and serve of the best fold.
//
//	go run ./scripts/recipes/essaydetect [--model DIR] [--data FILE] [--out DIR] [--folds 5] …
//
// Without --model no pretrained DeBERTa-v3 weights are available, so it
// trains a small DeBERTa-v3-shaped model from scratch (with a Unigram
// tokenizer trained on the essays in DeBERTa-v3's pipeline) and says so;
// --model DIR fine-tunes a downloaded microsoft/deberta-v3-* checkpoint
// (DIR/tokenizer.json required).
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// pipeline is DeBERTa-v3's tokenizer pipeline (Strip, Replace " {2,}",
// Metaspace, [CLS] A [SEP] B [SEP]) with NFKC standing in for the
// SentencePiece nmt_nfkc charsmap that only a real spm.model carries;
// `kiln tokenizer train --base` trains a Unigram vocabulary inside it.
const pipeline = `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
"normalizer":{"type":"Sequence","normalizers":[{"type":"Strip","strip_left":true,"strip_right":true},{"type":"NFKC"},
 {"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]},
"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
"post_processor":{"type":"TemplateProcessing",
 "single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
 "pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},
  {"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],
 "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[1],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[2],"tokens":["[SEP]"]}}},
"decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},"model":null}`

// smallV3 is microsoft/deberta-v3's configuration at a width that trains
// from scratch on a CPU: relative attention with 256 log buckets, c2p and
// p2c through shared projections, LayerNorm'd relative embeddings, no
// absolute positions, no token types.
func smallV3(vocab int) map[string]any {
	return map[string]any{
		"model_type": "deberta-v2", "vocab_size": vocab, "hidden_size": 128, "num_hidden_layers": 4,
		"num_attention_heads": 4, "intermediate_size": 512, "max_position_embeddings": 512,
		"relative_attention": true, "pos_att_type": []string{"p2c", "c2p"}, "position_buckets": 256,
		"max_relative_positions": -1, "share_att_key": true, "norm_rel_ebd": "layer_norm",
		"position_biased_input": false, "type_vocab_size": 0, "layer_norm_eps": 1e-7, "hidden_act": "gelu",
		"pooler_hidden_act": "gelu", "pooler_dropout": 0, "hidden_dropout_prob": 0.1,
		"attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0,
	}
}

func main() {
	var (
		model     = flag.String("model", "", "a downloaded microsoft/deberta-v3-* checkpoint dir (with tokenizer.json); empty: train a small one from scratch")
		data      = flag.String("data", "testdata/data/ai_essays_mix/train.csv", "essays CSV with text and label (ai/human) columns, e.g. ../shared/data/ai_essays_mix/train.csv")
		out       = flag.String("out", "runs/essay-detection", "output directory")
		kiln      = flag.String("kiln", "bin/kiln", "the kiln binary")
		folds     = flag.Int("folds", 5, "stratified folds")
		epochs    = flag.Int("epochs", 3, "epochs per fold")
		maxSteps  = flag.Int("max-steps", 0, "optimiser steps per fold (overrides --epochs; 0: off)")
		maxLen    = flag.Int("max-length", 512, "tokens per essay")
		batch     = flag.Int("batch-size", 8, "rows per micro-batch")
		accum     = flag.Int("grad-accum", 2, "micro-batches per optimiser step")
		precision = flag.String("precision", "bf16", "fp32, bf16 (CPU or CUDA) or fp16 (CUDA)")
		device    = flag.String("device", "cpu", "cpu or cuda")
		vocab     = flag.Int("vocab-size", 8000, "Unigram vocabulary of the from-scratch tokenizer")
		addr      = flag.String("addr", "127.0.0.1:8089", "where to serve the best fold")
	)
	flag.Parse()
	log.SetFlags(0)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	trainArgs := []string{"train", "--train", *data, "--text-column", "text", "--label-column", "label",
		"--out", filepath.Join(*out, "cv"), "--folds", fmt.Sprint(*folds), "--metric-for-best", "roc_auc",
		"--pooling", "mean", "--precision", *precision, "--device", *device, "--gradient-checkpointing",
		"--max-length", fmt.Sprint(*maxLen), "--batch-size", fmt.Sprint(*batch), "--grad-accum", fmt.Sprint(*accum),
		"--layer-decay", "0.9", "--warmup-ratio", "0.1", "--schedule", "linear", "--no-progress"}
	if *model == "" {
		log.Printf("essaydetect: no --model given and no pretrained DeBERTa-v3 weights reachable: training a SMALL DeBERTa-v3-SHAPED model FROM SCRATCH (expect a far weaker detector than a fine-tuned microsoft/deberta-v3-base)")
		tokDir := filepath.Join(*out, "tokenizer")
		text := filepath.Join(*out, "essays.txt")
		base := filepath.Join(*out, "deberta-v3-pipeline.json")
		must(essayLines(*data, text))
		must(os.WriteFile(base, []byte(pipeline), 0o644))
		run(*kiln, "tokenizer", "train", "--model", "unigram", "--vocab-size", fmt.Sprint(*vocab), "--base", base,
			"--special-tokens", "[PAD],[CLS],[SEP],[UNK],[MASK]", "--unk-token", "[UNK]", "--no-progress", "--out", tokDir, text)
		cfg, err := json.MarshalIndent(smallV3(*vocab), "", "  ")
		must(err)
		cfgPath := filepath.Join(*out, "config.json")
		must(os.WriteFile(cfgPath, cfg, 0o644))
		trainArgs = append(trainArgs, "--model", cfgPath, "--tokenizer", filepath.Join(tokDir, "tokenizer.json"),
			"--lr", "5e-4", "--head-lr", "1e-3")
	} else {
		log.Printf("essaydetect: fine-tuning the pretrained checkpoint %s", *model)
		trainArgs = append(trainArgs, "--model", *model, "--lr", "2e-5", "--head-lr", "1e-4")
	}
	if *maxSteps > 0 {
		trainArgs = append(trainArgs, "--max-steps", fmt.Sprint(*maxSteps))
	} else {
		trainArgs = append(trainArgs, "--epochs", fmt.Sprint(*epochs))
	}
	run(*kiln, trainArgs...)

	var cv struct {
		Folds []map[string]float64 `json:"folds"`
		OOF   map[string]float64   `json:"oof"`
	}
	b, err := os.ReadFile(filepath.Join(*out, "cv", "cv_metrics.json"))
	must(err)
	must(json.Unmarshal(b, &cv))
	best := 0
	for i, f := range cv.Folds {
		log.Printf("fold %d: ROC-AUC %.4f, accuracy %.4f", i, f["roc_auc"], f["accuracy"])
		if f["roc_auc"] > cv.Folds[best]["roc_auc"] {
			best = i
		}
	}
	log.Printf("out-of-fold ROC-AUC %.4f over every essay; best fold %d", cv.OOF["roc_auc"], best)

	onnx := filepath.Join(*out, "onnx")
	run(*kiln, "export", "--model", filepath.Join(*out, "cv", fmt.Sprintf("fold-%d", best)), "--out", onnx, "--force")
	serveAndAsk(*kiln, onnx, *addr, *data)
}

// essayLines writes each non-empty line of every essay, one per line, for
// the tokenizer trainer.
func essayLines(csvPath, out string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	col := -1
	for i, h := range head {
		if h == "text" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("%s: no text column in %v", csvPath, head)
	}
	var buf bytes.Buffer
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", csvPath, err)
		}
		for _, l := range strings.Split(rec[col], "\n") {
			if l = strings.TrimSpace(l); l != "" {
				buf.WriteString(l + "\n")
			}
		}
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// serveAndAsk starts `kiln serve` on the export, scores the first two
// essays of the data through /predict, and stops the server.
func serveAndAsk(kiln, dir, addr, data string) {
	srv := exec.Command(kiln, "serve", "--model", dir, "--addr", addr)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	must(srv.Start())
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		if r, err := http.Get(url + "/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if ctx.Err() != nil {
			log.Fatal("kiln serve did not become ready in 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	f, err := os.Open(data)
	must(err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	must(err)
	// [[a], [b]] is a batch of two texts ([a, b] would be one pair).
	body, _ := json.Marshal(map[string]any{"inputs": [][]string{{rows[1][0]}, {rows[2][0]}}, "truncate": true})
	resp, err := http.Post(url+"/predict", "application/json", bytes.NewReader(body))
	must(err)
	defer resp.Body.Close()
	res, _ := io.ReadAll(resp.Body)
	log.Printf("served %s: POST /predict (first two essays, labels %s and %s) → %s %s", dir, rows[1][1], rows[2][1], resp.Status, res)
}

func run(name string, args ...string) {
	log.Printf("$ %s %s", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %s: %v", name, args[0], err)
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
