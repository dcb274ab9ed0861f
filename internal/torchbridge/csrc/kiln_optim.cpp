// kiln's optimiser kernels (kiln_optim.h). Each extern "C" function is
// compiled on its own terms: the bridge builder replaces one that does not
// compile against the libtorch (kiln_adamw_fused before 2.0) by a stub that
// reports why through torch_last_err.
#include "kiln_optim.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

// gotch's error channel (torch_api.h; declared by the force-included
// kiln_stub.h): the Go side reads it with ts.TorchErr, as after any gotch call.
static void fail(const std::exception &e) { torch_last_err = strdup(e.what()); }

namespace {

std::vector<at::Tensor> tensorList(void **ts, int n) {
  TORCH_CHECK(n >= 0, "negative tensor count");
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) {
    auto *t = static_cast<at::Tensor *>(ts[i]);
    TORCH_CHECK(t != nullptr && t->defined(), "undefined tensor at index ", i);
    out.push_back(*t);
  }
  return out;
}

// The gradients of params; every one must be defined (the caller leaves
// out parameters without a gradient, as torch.optim does).
std::vector<at::Tensor> gradsOf(const std::vector<at::Tensor> &params) {
  std::vector<at::Tensor> out;
  out.reserve(params.size());
  for (size_t i = 0; i < params.size(); i++) {
    auto g = params[i].grad();
    TORCH_CHECK(g.defined(), "parameter ", i, " has no gradient");
    out.push_back(g);
  }
  return out;
}

// One parameter group's AdamW operands: the parameters as detached aliases
// (in-place updates of leaves that require grad are refused otherwise; this
// keeps torch.optim's semantics, which also works on .data), their
// gradients and the two moments.
struct AdamWOperands {
  std::vector<at::Tensor> p, g, m, v;
};

AdamWOperands adamwOperands(void **params, void **exp_avgs, void **exp_avg_sqs, int n) {
  AdamWOperands o;
  o.p = tensorList(params, n);
  o.g = gradsOf(o.p);
  for (auto &t : o.p) t = t.detach();
  o.m = tensorList(exp_avgs, n);
  o.v = tensorList(exp_avg_sqs, n);
  return o;
}

}  // namespace

extern "C" {

int kiln_adamw_foreach(void **params, void **exp_avgs, void **exp_avg_sqs, void **scratch, int n,
                       double lr, double beta1, double beta2, double eps, double weight_decay, long long step) {
  try {
    if (n == 0) return 0;
    at::NoGradGuard no_grad;
    auto [p, g, m, v] = adamwOperands(params, exp_avgs, exp_avg_sqs, n);
    double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
    double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
    if (weight_decay != 0) at::_foreach_mul_(p, 1 - lr * weight_decay);
    // exp_avg = b1·exp_avg + (1-b1)·g (1.13 has no _foreach_lerp_)
    at::_foreach_mul_(m, beta1);
    at::_foreach_add_(m, g, 1 - beta1);
    // exp_avg_sq = b2·exp_avg_sq + (1-b2)·g²
    at::_foreach_mul_(v, beta2);
    at::_foreach_addcmul_(v, g, g, 1 - beta2);
    if (lr == 0) return 0;  // warmup starts at 0: moments move, weights do not
    // denom = sqrt(exp_avg_sq)/sqrt(bc2) + eps; p -= lr/bc1 · exp_avg/denom
    std::vector<at::Tensor> denom;
    if (p[0].is_cuda()) {
      denom = at::_foreach_sqrt(v);  // one launch; the caching allocator makes the copy cheap
    } else {
      TORCH_CHECK(scratch != nullptr, "kiln_adamw_foreach: no scratch tensors for a CPU step");
      denom = tensorList(scratch, n);
      for (int i = 0; i < n; i++) at::sqrt_out(denom[i], v[i]);  // no fresh pages per step
    }
    at::_foreach_div_(denom, std::sqrt(bc2));
    at::_foreach_add_(denom, eps);
    at::_foreach_addcdiv_(p, m, denom, -lr / bc1);
    return 0;
  } catch (const std::exception &e) {
    fail(e);
    return -1;
  }
}

int kiln_adamw_fused(void **params, void **exp_avgs, void **exp_avg_sqs, int n,
                     double lr, double beta1, double beta2, double eps, double weight_decay, long long step) {
  try {
    if (n == 0) return 0;
    at::NoGradGuard no_grad;
    auto [p, g, m, v] = adamwOperands(params, exp_avgs, exp_avg_sqs, n);
    // The kernel reads the step count from a float tensor per parameter
    // (torch.optim keeps them as state); it does not change them, so one
    // tensor serves every parameter.
    auto st = at::full({}, static_cast<double>(step), p[0].options().dtype(at::kFloat));
    std::vector<at::Tensor> steps(n, st);
    at::_fused_adamw_(p, g, m, v, /*max_exp_avg_sqs=*/{}, steps, lr, beta1, beta2, weight_decay, eps,
                      /*amsgrad=*/false, /*maximize=*/false);
    return 0;
  } catch (const std::exception &e) {
    fail(e);
    return -1;
  }
}

}  // extern "C"
