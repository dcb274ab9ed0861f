# syntax=docker/dockerfile:1
# kiln images. Two targets:
#   docker build --target serve -t kiln-serve .        # ONNX Runtime only, no libtorch (default CPU)
#   docker build --target train -t kiln .              # the full toolchain (train/export/serve/loadtest)
# GPU serving: --build-arg ORT_FLAVOR=cuda (CUDA base image + ONNX Runtime's CUDA provider).
# GPU training: --build-arg LIBTORCH=/opt/libtorch with a CUDA libtorch copied into the build
# context (registries here carry no CUDA libtorch for C++; see README "GPU").
# Every install step calls the same scripts as `make setup`, so CI exercises them.

ARG GO_VERSION=1.26
ARG DEBIAN=bookworm
ARG ORT_FLAVOR=cpu
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

# ---- build: Go + libtorch (CPU, Debian 1.13) + the bridge + ONNX Runtime ----
FROM golang:${GO_VERSION}-${DEBIAN} AS build
ARG LIBTORCH=
ENV KILN_CACHE=/var/cache/kiln LIBTORCH=${LIBTORCH} DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Debian's npm fetches onnxruntime-node; the rest is what the bridge and kiln need.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
COPY scripts/ scripts/
RUN KILN_APT_PACKAGES="g++ make libtorch-dev libgloo-dev libopenblas0-pthread" scripts/setup/apt.sh \
 && scripts/setup/onnxruntime.sh
COPY go.mod go.sum ./
COPY third_party/ third_party/
RUN go mod download
COPY . .
RUN scripts/setup/bridge.sh \
 && mkdir -p bin \
 && go build -trimpath -o bin/kiln ./cmd/kiln \
 && go build -trimpath -tags notorch -o bin/kiln-serve ./cmd/kiln \
 && mkdir -p /out/lib && cp -L build/onnxruntime/lib/libonnxruntime.so.1 /out/lib/ \
 && cp -L build/lib/libkilntorch.so /out/lib/

# ---- ONNX Runtime extras: nothing for CPU; the CUDA provider for ORT_FLAVOR=cuda ----
FROM build AS ort-cpu
RUN mkdir -p /out/ort
FROM build AS ort-cuda
# An npm package carrying ONNX Runtime built with the CUDA provider (core library,
# libonnxruntime_providers_cuda.so and _shared.so, CUDA 13); the core is replaced
# too because providers must match the core's exact version.
RUN scripts/setup/onnxruntime-cuda.sh /out/ort
FROM ort-${ORT_FLAVOR} AS ort-extra

FROM debian:${DEBIAN}-slim AS serve-cpu
FROM ${CUDA_RUNTIME_IMAGE} AS serve-cuda
FROM serve-${ORT_FLAVOR} AS serve-base

# ---- serve: the serving binary + ONNX Runtime, nothing else ----
FROM serve-base AS serve
ARG ORT_FLAVOR
COPY --from=build /src/bin/kiln-serve /usr/local/bin/kiln
COPY --from=build /out/lib/libonnxruntime.so.1 /opt/kiln/lib/
COPY --from=ort-extra /out/ort/ /opt/kiln/lib/
RUN (getent passwd kiln >/dev/null || useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin kiln)
ENV ONNXRUNTIME_LIB=/opt/kiln/lib/libonnxruntime.so.1 \
    KILN_MODEL=/model
VOLUME ["/model"]
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/kiln", "healthcheck", "--url", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["serve", "--model", "/model", "--addr", ":8080", "--device", "auto"]

# ---- train: the full toolchain on Debian's libtorch (CPU) ----
FROM debian:${DEBIAN}-slim AS train
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libtorch1.13 libopenblas0-pthread ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home kiln
COPY --from=build /src/bin/kiln /usr/local/bin/kiln
COPY --from=build /out/lib/ /opt/kiln/lib/
ENV ONNXRUNTIME_LIB=/opt/kiln/lib/libonnxruntime.so.1 LD_LIBRARY_PATH=/opt/kiln/lib
USER 10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["--help"]
