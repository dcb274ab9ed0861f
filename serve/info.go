package serve

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/internal/ort"
)

// classifierInfo is TEI's ModelType::Classifier payload.
type classifierInfo struct {
	ID2Label map[string]string `json:"id2label"`
	Label2ID map[string]int    `json:"label2id"`
}

// infoResponse is TEI's /info (its field names and meanings, so TEI's
// clients read it) followed by kiln's own fields.
type infoResponse struct {
	ModelID               string                    `json:"model_id"`
	ModelSHA              *string                   `json:"model_sha"`
	ModelDType            string                    `json:"model_dtype"`
	ModelType             map[string]classifierInfo `json:"model_type"`
	MaxConcurrentRequests int                       `json:"max_concurrent_requests"`
	MaxInputLength        int                       `json:"max_input_length"`
	MaxBatchTokens        int                       `json:"max_batch_tokens"`
	MaxBatchRequests      *int                      `json:"max_batch_requests"`
	MaxClientBatchSize    int                       `json:"max_client_batch_size"`
	AutoTruncate          bool                      `json:"auto_truncate"`
	TokenizationWorkers   int                       `json:"tokenization_workers"`
	Version               string                    `json:"version"`
	SHA                   *string                   `json:"sha"`
	DockerLabel           *string                   `json:"docker_label"`

	ModelDir             string   `json:"model_dir"`
	Architecture         string   `json:"architecture"`
	ProblemType          string   `json:"problem_type"`
	ScoreFunction        string   `json:"score_function"`
	Labels               []string `json:"labels"`
	ExecutionProvider    string   `json:"execution_provider"`
	Device               string   `json:"device"`
	DeviceFallbackReason string   `json:"device_fallback_reason"`
	ONNXRuntimeVersion   string   `json:"onnxruntime_version"`
	Sessions             int      `json:"sessions"`
	MaxBatchDelayMS      float64  `json:"max_batch_delay_ms"`
	MaxBatchPadding      float64  `json:"max_batch_padding"`
	BatchWindow          int      `json:"batch_window"`
	MaxQueue             int      `json:"max_queue"`
	MaxTextChars         int      `json:"max_text_chars"`
	RequestTimeoutMS     int64    `json:"request_timeout_ms"`
	KilnVersion          string   `json:"kiln_version"`
	Ready                bool     `json:"ready"`
}

func (s *Server) info(c *fiber.Ctx) error {
	id2label := make(map[string]string, len(s.model.Labels))
	label2id := make(map[string]int, len(s.model.Labels))
	for i, l := range s.model.Labels {
		id2label[strconv.Itoa(i)] = l
		label2id[l] = i
	}
	version, sha := semver(s.cfg.Version)
	batch := s.cfg.MaxBatchSize
	return c.JSON(infoResponse{
		ModelID: s.model.Name, ModelDType: s.dtype,
		// kiln serves every classifier on /predict, also one-logit models
		// that TEI would call a "reranker" (kiln has no /rerank).
		ModelType:             map[string]classifierInfo{"classifier": {ID2Label: id2label, Label2ID: label2id}},
		MaxConcurrentRequests: s.cfg.MaxConcurrentRequests, MaxInputLength: s.maxLen,
		MaxBatchTokens: s.cfg.MaxBatchTokens, MaxBatchRequests: &batch,
		MaxClientBatchSize: s.cfg.MaxInputsPerRequest, AutoTruncate: s.cfg.AutoTruncate,
		// Requests tokenise in their own goroutines, a batch on all cores.
		TokenizationWorkers: runtime.GOMAXPROCS(0),
		Version:             version, SHA: sha,

		ModelDir: s.model.Dir, Architecture: s.model.ModelType, ProblemType: s.model.ProblemType,
		ScoreFunction: s.model.Function, Labels: s.model.Labels,
		ExecutionProvider: s.backend.Provider(), Device: s.cfg.Device,
		DeviceFallbackReason: s.backend.FallbackReason(), ONNXRuntimeVersion: ort.Version(),
		Sessions: s.backend.Concurrency(), MaxBatchDelayMS: float64(s.cfg.MaxBatchDelay) / 1e6,
		MaxBatchPadding: s.cfg.MaxBatchPadding, BatchWindow: s.core.batch.Config().Window, MaxQueue: s.cfg.MaxQueue, MaxTextChars: s.cfg.MaxTextChars,
		RequestTimeoutMS: s.cfg.RequestTimeout.Milliseconds(), KilnVersion: s.cfg.Version, Ready: s.Ready(),
	})
}

var semverRE = regexp.MustCompile(`^v?((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)$`)

// semver gives /info's version as semantic versioning, which TEI's clients
// parse: a tag-based `git describe` ("v0.3.0-4-gabc") is one already;
// anything else (a bare commit, "dev") becomes 0.0.0 with the original as
// build metadata, and is also returned as the commit.
func semver(v string) (string, *string) {
	if m := semverRE.FindStringSubmatch(v); m != nil {
		return m[1], nil
	}
	meta := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, v)
	meta = strings.Trim(meta, ".")
	if meta == "" {
		meta = "unknown"
	}
	return "0.0.0+" + meta, &v
}

// ONNX TensorProto.DataType values of floating-point weights.
const (
	onnxFloat    = 1
	onnxFloat16  = 10
	onnxBFloat16 = 16
)

// onnxDType reads the element type of an ONNX model's floating-point
// initializers ("float16" for a `kiln export --dtype fp16` graph) by
// walking the protobuf wire format: the weights are skipped, not loaded, so
// a large model costs one sequential read and no memory.
func onnxDType(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	found := map[uint64]bool{}
	const (
		modelGraph       = 7 // ModelProto.graph
		graphInitializer = 5 // GraphProto.initializer
		tensorDataType   = 2 // TensorProto.data_type
	)
	err = walkMessage(r, -1, func(field, wire, _ uint64, n int64) (bool, error) {
		if field != modelGraph || wire != 2 {
			return false, nil
		}
		return true, walkMessage(r, n, func(field, wire, _ uint64, n int64) (bool, error) {
			if field != graphInitializer || wire != 2 {
				return false, nil
			}
			return true, walkMessage(r, n, func(field, wire, v uint64, _ int64) (bool, error) {
				if field == tensorDataType && wire == 0 {
					found[v] = true
				}
				return false, nil
			})
		})
	})
	if err != nil {
		return "", fmt.Errorf("%s: reading the ONNX protobuf: %w", path, err)
	}
	switch {
	case found[onnxFloat16]:
		return "float16", nil
	case found[onnxBFloat16]:
		return "bfloat16", nil
	}
	return "float32", nil
}

// walkMessage reads the fields of a protobuf message of n bytes (n < 0:
// until EOF). visit gets each field: a varint's value, or a
// length-delimited field's length n; it reports whether it read those n
// bytes itself, else they are skipped.
func walkMessage(r *bufio.Reader, n int64, visit func(field, wire, v uint64, n int64) (bool, error)) error {
	var read int64
	for n < 0 || read < n {
		tag, k, err := readVarint(r)
		if err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		read += int64(k)
		field, wire := tag>>3, tag&7
		var v uint64
		var size int64
		switch wire {
		case 0:
			if v, k, err = readVarint(r); err != nil {
				return err
			}
			read += int64(k)
		case 1:
			size = 8
		case 5:
			size = 4
		case 2:
			l, k, err := readVarint(r)
			if err != nil {
				return err
			}
			read += int64(k)
			size = int64(l)
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
		consumed, err := visit(field, wire, v, size)
		if err != nil {
			return err
		}
		if !consumed && size > 0 {
			if _, err := r.Discard(int(size)); err != nil {
				return err
			}
		}
		read += size
	}
	if read != n && n >= 0 {
		return fmt.Errorf("message overran its length (%d > %d bytes)", read, n)
	}
	return nil
}

func readVarint(r *bufio.Reader) (uint64, int, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, 0, err
	}
	return v, uvarintLen(v), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
