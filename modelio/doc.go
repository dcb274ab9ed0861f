// Package modelio is the contract between a kiln model directory and the
// code that feeds it: the file names `kiln export` writes and `kiln serve`
// reads, the graph's input and output names, how token rows become the
// graph's padded [batch, sequence] inputs, and how a classifier's logits
// become scores. export, serve, `kiln predict` and the trainer import it, so
// each of these is written once.
//
// It is plain Go (no cgo, no ONNX Runtime, no libtorch).
package modelio
