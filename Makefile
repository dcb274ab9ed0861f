# kiln — the two commands are `make demo` and `make test`; both run `make setup`
# first, which is idempotent and installs everything from package registries.
SHELL := /bin/bash
.DEFAULT_GOAL := build

NPROC        := $(shell nproc 2>/dev/null || echo 2)
KILN_CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kiln
GO           ?= go
GOTESTFLAGS  ?= -timeout 25m
VERSION      := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X main.version=$(VERSION)

# Everything the Go tests and the binary need at run time. libtorch starts with
# one intra-op thread unless told otherwise (see README), so set it explicitly.
export KILN_CACHE
export OMP_NUM_THREADS ?= $(NPROC)
export KILN_PYTHON     ?= $(CURDIR)/build/venv/bin/python
export ONNXRUNTIME_LIB ?= $(CURDIR)/build/onnxruntime/lib/libonnxruntime.so.1

# The second libtorch the tests run against: a PyPI torch wheel (CUDA build,
# linked CPU-only), so the bridge is proven on the newest 2.x as well as on
# Debian's 1.13. Downloaded and built once into $KILN_CACHE.
TORCH_WHEEL_VERSION ?= 2.11.0
WHEEL_LIBTORCH_DIR  := $(KILN_CACHE)/torch-$(TORCH_WHEEL_VERSION)-cpu
WHEEL_BRIDGE_DIR    := $(KILN_CACHE)/bridge-pypi-$(TORCH_WHEEL_VERSION)

.PHONY: setup build build-serve test test-go test-notorch test-fuzz test-bridges test-cuda-bridge test-c10d gpu-bundle demo bench doctor clean fmt vet test-gpu-kit

setup: ## install libtorch, ONNX Runtime, the reference Python env, the Node oracle; build the libtorch bridge
	@scripts/setup.sh

build: setup ## bin/kiln (full) and bin/kiln-serve (serving path only, no libtorch)
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/kiln ./cmd/kiln
	$(GO) build -tags notorch -ldflags '$(LDFLAGS)' -o bin/kiln-serve ./cmd/kiln

test: build ## all tests, parity references required
	KILN_REQUIRE_REFS=1 KILN_BIN=$(CURDIR)/bin/kiln $(GO) test $(GOTESTFLAGS) ./...
	@$(MAKE) --no-print-directory test-notorch test-fuzz test-bridges test-gpu-kit

# The libtorch-free build (bin/kiln-serve) is what a serving image ships:
# vet all of it, and test the packages whose files differ under the tag
# (cmd/kiln) or that make up the serving path, against bin/kiln-serve.
test-notorch: build ## the serving build's tests (-tags notorch), against bin/kiln-serve
	$(GO) vet -tags notorch ./...
	KILN_REQUIRE_REFS=1 KILN_BIN=$(CURDIR)/bin/kiln-serve $(GO) test $(GOTESTFLAGS) -tags notorch \
		./cmd/kiln ./serve/... ./modelio ./dataset ./deploy/...

# Each fuzz target briefly beyond its seed corpus (the seeds run in every go test).
# A count, not a duration: with a duration Go 1.26's coordinator can fail a target
# with a bare "context deadline exceeded" and no crasher when -fuzztime expires
# mid-run (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 30000x
test-fuzz: ## run each fuzz target for $(FUZZTIME) executions
	@set -e; for t in dataset:FuzzReadCSV dataset:FuzzReadTSV dataset:FuzzReadJSONL \
		serve:FuzzRequestJSON serve:FuzzKServeRequest tokenizers:FuzzEncodeDecode; do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		out=$$($(GO) test -tags notorch -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -parallel 1 ./$${t%%:*} 2>&1) \
			|| { echo "$$out"; exit 1; }; \
	done

test-bridges: ## the libtorch tests again against a bridge built from PyPI torch $(TORCH_WHEEL_VERSION) (cached)
	@python3 scripts/setup/torchwheel.py --mode cpu --version $(TORCH_WHEEL_VERSION) --dest $(WHEEL_LIBTORCH_DIR) >/dev/null
	@$(GO) run ./internal/torchbridge/cmd/kiln-bridge -quiet -cpu-only -libtorch $(WHEEL_LIBTORCH_DIR)/site/torch \
		-link $(WHEEL_BRIDGE_DIR)/libkilntorch.so
	KILN_EXPECT_TORCH_VERSION=$(TORCH_WHEEL_VERSION) LD_LIBRARY_PATH=$(WHEEL_BRIDGE_DIR) KILN_REQUIRE_REFS=1 \
		$(GO) test $(GOTESTFLAGS) -count=1 ./internal/torchinfo ./models/torch ./train

# Not part of `make test` (a 4 GB download): the bridge of the whole CUDA PyPI torch, NCCL
# included, built and tested on this machine's CPU, as a GPU machine's `make setup` builds it.
WHEEL_CUDA_DIR := $(KILN_CACHE)/torch-$(TORCH_WHEEL_VERSION)-cu
test-cuda-bridge: build ## the CUDA torch $(TORCH_WHEEL_VERSION)'s bridge (NCCL too) built, then the libtorch tests on the CPU against it
	@python3 scripts/setup/torchwheel.py --mode cuda --version $(TORCH_WHEEL_VERSION) --dest $(WHEEL_CUDA_DIR) >/dev/null
	@$(GO) run ./internal/torchbridge/cmd/kiln-bridge -quiet -libtorch $(WHEEL_CUDA_DIR)/site/torch \
		-link $(KILN_CACHE)/bridge-pypi-$(TORCH_WHEEL_VERSION)-cu/libkilntorch.so
	LD_LIBRARY_PATH=$(KILN_CACHE)/bridge-pypi-$(TORCH_WHEEL_VERSION)-cu bin/kiln doctor | grep -A1 distributed
	KILN_EXPECT_TORCH_VERSION=$(TORCH_WHEEL_VERSION) LD_LIBRARY_PATH=$(KILN_CACHE)/bridge-pypi-$(TORCH_WHEEL_VERSION)-cu KILN_REQUIRE_REFS=1 \
		$(GO) test $(GOTESTFLAGS) -count=1 ./internal/torchinfo ./models/torch ./train/...

test-c10d: ## the bridge's c10d wrapper against the headers of torch 2.5 … 2.11 (fetched once, ~60 MB each)
	bash scripts/compat/c10d.sh

# GPU_STAGE=K (1..n, or all) writes .gpu-stage/K instead: piece K of ONNX
# Runtime's CUDA provider, which one device call carries (docs/gpu.md); no
# build, so the next call can follow at once.
gpu-bundle: $(if $(GPU_STAGE),,build) ## .gpu/: the one-call GPU check kit (≤ 60 MiB; run `bash .gpu/check.sh` on a GPU host); GPU_STAGE=K: provider piece K
	@$(if $(GPU_STAGE),scripts/gpu/ortstage.sh piece $(GPU_STAGE),scripts/gpu/bundle.sh)

test-gpu-kit: gpu-bundle ## the provider staging on stand-ins, then .gpu/check.sh here: CUDA stages skip, the rest must pass
	bash scripts/gpu/ortstage_test.sh
	OUT=$(CURDIR)/out/gpu-check-cpu GPU_CHECK_LOAD_SECONDS=3 bash .gpu/check.sh

demo: build ## fine-tune → export → serve → loadtest on bundled SST-2 data
	@scripts/demo.sh

bench: build ## every benchmark in bench/, tables with ratios against the peers
	@bench/run.sh

doctor: build
	bin/kiln doctor

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '^third_party/')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin build .gpu .gpu-stage .gpu-cache
