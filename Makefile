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

.PHONY: setup build build-serve test test-go demo bench doctor clean fmt vet

setup: ## install libtorch, ONNX Runtime, the reference Python env, the Node oracle; build the libtorch bridge
	@scripts/setup.sh

build: setup ## bin/kiln (full) and bin/kiln-serve (serving path only, no libtorch)
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/kiln ./cmd/kiln
	$(GO) build -tags notorch -ldflags '$(LDFLAGS)' -o bin/kiln-serve ./cmd/kiln

test: build ## all tests, parity references required
	KILN_REQUIRE_REFS=1 KILN_BIN=$(CURDIR)/bin/kiln $(GO) test $(GOTESTFLAGS) ./...

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
	rm -rf bin build
