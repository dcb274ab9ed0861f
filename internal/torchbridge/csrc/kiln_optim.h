/* kiln's optimiser kernels for the libtorch bridge: one AdamW step
 * (torch.optim.AdamW, amsgrad off) over a list of parameters that share a
 * learning rate and weight decay, through libtorch's multi-tensor kernels.
 * Plain C so cgo can call it. Tensor arguments are gotch tensors
 * (torch::Tensor*); every list holds n of them, element i of each list
 * belonging to the same parameter. The gradient is read from params[i]'s
 * .grad(). step is the step count after this update (bias correction).
 * Both return 0, or -1 with the message in gotch's torch_last_err (read by
 * ts.TorchErr on the Go side). */
#ifndef KILN_OPTIM_H
#define KILN_OPTIM_H
#ifdef __cplusplus
extern "C" {
#endif

/* With the _foreach_* ops (every libtorch kiln supports): the update
 * torch.optim.AdamW(foreach=True) computes. scratch is per-parameter
 * workspace of the parameter's shape (the denominator; its contents are
 * overwritten), so a CPU step allocates nothing; on CUDA it is not read
 * (NULL is fine): one _foreach_sqrt from the caching allocator is cheaper
 * than a launch per parameter. */
int kiln_adamw_foreach(void **params, void **exp_avgs, void **exp_avg_sqs, void **scratch, int n,
                       double lr, double beta1, double beta2, double eps, double weight_decay, long long step);

/* With libtorch's fused kernel (_fused_adamw_, torch.optim.AdamW(fused=True)):
 * CUDA since PyTorch 2.0, CPU since 2.4. A libtorch without it gets a stub
 * that fails (the bridge builder stubs a function that does not compile); a
 * libtorch that has it but not for the tensors' device fails at the call. */
int kiln_adamw_fused(void **params, void **exp_avgs, void **exp_avg_sqs, int n,
                     double lr, double beta1, double beta2, double eps, double weight_decay, long long step);

#ifdef __cplusplus
}
#endif
#endif
