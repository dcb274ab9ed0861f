package dist

import "time"

// DefaultTimeout bounds each collective and the rendezvous (--dist-timeout):
// long enough for rank 0 to write a checkpoint while the others wait at the
// next collective, short enough that a dead rank ends the job in minutes.
const DefaultTimeout = 10 * time.Minute

// Backend is a c10d process-group implementation.
const (
	Gloo = "gloo" // CPU tensors, TCP
	NCCL = "nccl" // CUDA tensors
)

// DefaultBackend is NCCL when training on CUDA, gloo otherwise, as PyTorch
// recommends.
func DefaultBackend(cuda bool) string {
	if cuda {
		return NCCL
	}
	return Gloo
}
