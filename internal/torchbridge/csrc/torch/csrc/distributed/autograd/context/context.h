// c10d's reducer.hpp includes this header for one type, the distributed
// autograd context pointer its RPC path keeps; Debian's libtorch-dev (1.13)
// leaves the distributed autograd headers out. The bridge builder puts this
// file first on the include path: where libtorch ships the real header it
// is used, otherwise the declarations reducer.hpp needs (kiln never uses RPC).
#pragma once
#if __has_include_next(<torch/csrc/distributed/autograd/context/context.h>)
#include_next <torch/csrc/distributed/autograd/context/context.h>
#else
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
namespace torch {
namespace distributed {
namespace autograd {
// Only the member type reducer.hpp checks its own against; no object of
// this class is ever made here (the reducer's pointer to one stays null
// outside RPC), so its layout does not matter.
class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor &)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;
}  // namespace autograd
}  // namespace distributed
}  // namespace torch
#endif
