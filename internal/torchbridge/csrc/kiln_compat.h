// Version bridge for the autocast API, force-included into every unit of the
// kiln bridge. PyTorch 2.4 replaced the CUDA/CPU-specific calls
// (at::autocast::is_enabled, set_autocast_gpu_dtype, is_cpu_enabled …) by
// device-typed ones (is_autocast_enabled(at::kCUDA) …); the old names still
// exist but are deprecated and log a warning on every call, i.e. every
// training step. The builder rewrites gotch's torch_api.cpp to call these.
#pragma once
#ifdef __cplusplus
#include <ATen/autocast_mode.h>
#include <torch/version.h>  // since 2.10 a redirect to torch/headeronly/version.h

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define KILN_AUTOCAST_DEVICE_TYPED 1
#else
#define KILN_AUTOCAST_DEVICE_TYPED 0
#endif

namespace kiln {

inline bool autocast_is_enabled(at::DeviceType d) {
#if KILN_AUTOCAST_DEVICE_TYPED
  return at::autocast::is_autocast_enabled(d);
#else
  return d == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline void autocast_set_enabled(at::DeviceType d, bool on) {
#if KILN_AUTOCAST_DEVICE_TYPED
  at::autocast::set_autocast_enabled(d, on);
#else
  if (d == at::kCUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
#endif
}

inline at::ScalarType autocast_dtype(at::DeviceType d) {
#if KILN_AUTOCAST_DEVICE_TYPED
  return at::autocast::get_autocast_dtype(d);
#else
  return d == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void autocast_set_dtype(at::DeviceType d, at::ScalarType t) {
#if KILN_AUTOCAST_DEVICE_TYPED
  at::autocast::set_autocast_dtype(d, t);
#else
  if (d == at::kCUDA)
    at::autocast::set_autocast_gpu_dtype(t);
  else
    at::autocast::set_autocast_cpu_dtype(t);
#endif
}

}  // namespace kiln
#endif
