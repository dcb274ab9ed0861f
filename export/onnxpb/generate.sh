#!/bin/sh
# Regenerates onnx_kiln.pb.go from the official onnx.proto.
#
# The proto comes from Debian's libonnx-dev (/usr/include/onnx/onnx.proto);
# a pristine copy is kept here as onnx.proto so that generation does not
# depend on that package.
#
# The only change made before generating is the protobuf package name,
# onnx → kiln_onnx (file kiln_onnx.proto), which is what ONNX's own
# ONNX_NAMESPACE build option does (PyTorch builds it as onnx_torch) and for
# the same reason: Go's protobuf registry panics at start-up when two linked
# packages register the same full names ("onnx.ModelProto"), as
# github.com/owulveryck/onnx-go's internal copy does. Package names are not
# part of the wire format, so the files we write and read are unaffected.
#
# protoc-gen-go must match google.golang.org/protobuf in go.mod:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -eu
cd "$(dirname "$0")"
src=${ONNX_PROTO:-/usr/include/onnx/onnx.proto}
if [ -f "$src" ]; then
	cp "$src" onnx.proto
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^package onnx;$/package kiln_onnx;/' onnx.proto >"$tmp/kiln_onnx.proto"
grep -q '^package kiln_onnx;$' "$tmp/kiln_onnx.proto" || { echo "onnx.proto: no 'package onnx;' line to rename" >&2; exit 1; }
PATH="$(go env GOPATH)/bin:$PATH"
protoc --proto_path="$tmp" \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Mkiln_onnx.proto=github.com/kiln-ml/kiln/export/onnxpb \
	kiln_onnx.proto
rm -f onnx.pb.go
