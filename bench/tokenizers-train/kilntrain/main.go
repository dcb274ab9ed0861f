// Command kilntrain times kiln's tokenizer training (word counting from the
// files plus the trainer) for bench/tokenizers-train/run.sh.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kiln-ml/kiln/tokenizers/trainers"
)

func main() {
	kind := flag.String("kind", trainers.KindWordPiece, "model kind")
	vocab := flag.Int("vocab", 30000, "vocabulary size")
	out := flag.String("out", "", "directory to save the tokenizer to (optional)")
	flag.Parse()
	t0 := time.Now()
	res, err := trainers.Train(context.Background(), trainers.Options{Kind: *kind, Files: flag.Args(), VocabSize: *vocab})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kilntrain:", err)
		os.Exit(1)
	}
	total := time.Since(t0)
	if *out != "" {
		if err := res.Save(*out); err != nil {
			fmt.Fprintln(os.Stderr, "kilntrain:", err)
			os.Exit(1)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": total.Seconds(), "count_seconds": res.CountTime.Seconds(),
		"train_seconds": res.TrainTime.Seconds(), "vocab": len(res.Vocab), "words": res.Words})
}
