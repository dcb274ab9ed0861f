# syntax=docker/dockerfile:1
# kiln images. Three targets:
#   docker build --target serve -t kiln-serve .        # ONNX Runtime only, no libtorch (default CPU)
#   docker build --target train -t kiln .              # the full toolchain (train/export/serve/loadtest), CPU
#   docker build --target train-cuda -t kiln:cuda .    # the same on PyPI's CUDA 13 torch 2.11.0 + onnxruntime-gpu
# GPU serving: --build-arg ORT_FLAVOR=cuda (CUDA base image + onnxruntime-gpu's CUDA provider).
# GPU training: train-cuda carries torch's libraries and the nvidia-* wheels' CUDA 13 / cuDNN 9
# libraries itself, so its base is plain Debian; the host needs only the NVIDIA driver
# (docker run --gpus all, i.e. the NVIDIA container toolkit, provides libcuda.so.1).
# Every install step calls the same scripts as `make setup`, so CI exercises them.

ARG GO_VERSION=1.26
ARG DEBIAN=bookworm
ARG ORT_FLAVOR=cpu
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
ARG KILN_TORCH_VERSION=2.11.0

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
# PyPI onnxruntime-gpu (Microsoft's CUDA 13 build): core library,
# libonnxruntime_providers_cuda.so and _shared.so; the core is replaced too
# because providers must match the core's exact version.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/* \
 && scripts/setup/onnxruntime-cuda.sh /out/ort
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

# ---- train-cuda: the full toolchain on PyPI's CUDA torch ----
# torch.sh installs torch==$KILN_TORCH_VERSION and the nvidia-* wheels it pins
# into $KILN_CACHE/torch-<ver>-cu/site and onnxruntime-gpu beside it; the bridge
# is rebuilt against that torch (its RUNPATH names the site directory, which the
# final image keeps at the same path).
FROM build AS build-cuda
ARG KILN_TORCH_VERSION
ENV KILN_TORCH_VERSION=${KILN_TORCH_VERSION} PIP_BREAK_SYSTEM_PACKAGES=1
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/* \
 && KILN_CUDA=1 scripts/setup/torch.sh \
 && scripts/setup/bridge.sh \
 && mkdir -p /out/cuda-lib && cp -L build/lib/libkilntorch.so /out/cuda-lib/ \
 && cp -L build/onnxruntime-cuda/lib/* /out/cuda-lib/

FROM debian:${DEBIAN}-slim AS train-cuda
ARG KILN_TORCH_VERSION
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home kiln
COPY --from=build-cuda /var/cache/kiln/torch-${KILN_TORCH_VERSION}-cu/site/ /var/cache/kiln/torch-${KILN_TORCH_VERSION}-cu/site/
COPY --from=build /src/bin/kiln /usr/local/bin/kiln
COPY --from=build-cuda /out/cuda-lib/ /opt/kiln/lib/
# libkilntorch.so from /opt/kiln/lib; ONNX Runtime's CUDA provider finds cuBLAS,
# cuDNN & co. in the nvidia-* directories (it has no RUNPATH of its own).
ENV ONNXRUNTIME_LIB=/opt/kiln/lib/libonnxruntime.so.1 \
    LD_LIBRARY_PATH=/opt/kiln/lib:/var/cache/kiln/torch-${KILN_TORCH_VERSION}-cu/site/nvidia/cu13/lib:/var/cache/kiln/torch-${KILN_TORCH_VERSION}-cu/site/nvidia/cudnn/lib \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["doctor"]
