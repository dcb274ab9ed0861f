//go:build notorch

package dist

import (
	"errors"
	"time"

	"github.com/sugarme/gotch/ts"
)

// Without libtorch (the serving build) there is no c10d: the process group
// exists so that callers compile, and joining one says why it cannot.
var errNoTorch = errors.New("dist: this kiln was built with -tags notorch (no libtorch): data-parallel training needs the libtorch build")

// Available reports that this build has no c10d.
func Available(backend string) error { return errNoTorch }

// ProcessGroup is unavailable without libtorch; see group.go.
type ProcessGroup struct{}

// NewProcessGroup fails without libtorch.
func NewProcessGroup(env Env, backend string, timeout time.Duration) (*ProcessGroup, error) {
	return nil, errNoTorch
}

func (g *ProcessGroup) Rank() int                                      { return 0 }
func (g *ProcessGroup) Size() int                                      { return 1 }
func (g *ProcessGroup) AllReduceMean(tensors []*ts.Tensor) error       { return errNoTorch }
func (g *ProcessGroup) AllReduceSum(tensors []*ts.Tensor) error        { return errNoTorch }
func (g *ProcessGroup) Broadcast(tensors []*ts.Tensor, root int) error { return errNoTorch }
func (g *ProcessGroup) Barrier() error                                 { return errNoTorch }
func (g *ProcessGroup) Close() error                                   { return nil }

// DefaultBucketBytes is DDP's default bucket size; see group.go.
const DefaultBucketBytes = 25 << 20

// ErrNoReducer: the bridge predates the Reducer wrappers; see group.go.
var ErrNoReducer = errors.New("dist: no gradient reducer without libtorch")

// Reducer is unavailable without libtorch; see group.go.
type Reducer struct{}

func (g *ProcessGroup) NewReducer(params []*ts.Tensor, bucketBytes int64, findUnused bool) (*Reducer, error) {
	return nil, errNoTorch
}
func (r *Reducer) Prepare(loss *ts.Tensor) error { return errNoTorch }
func (r *Reducer) Failed(err error) error        { return err }
func (r *Reducer) Free()                         {}
