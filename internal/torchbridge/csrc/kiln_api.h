/* kiln's own additions to the libtorch bridge (libkilntorch.so): what the Go
 * side needs to describe and tune the libtorch it runs on, beyond gotch's C
 * API. Plain C so cgo can call it. Strings returned are static; do not free. */
#ifndef KILN_API_H
#define KILN_API_H
#ifdef __cplusplus
extern "C" {
#endif

/* libtorch version the bridge was built against, e.g. "1.13.1". */
const char *kiln_torch_version(void);
/* Directory of the libtorch libraries the bridge links (its rpath). */
const char *kiln_torch_lib_dir(void);
/* Number of generated gotch wrappers replaced by error-raising stubs, and
 * their names (atg_*), one per line. */
int kiln_bridge_stub_count(void);
const char *kiln_bridge_stubs(void);
/* CUDA as libtorch sees it; 0 on a CPU-only libtorch. */
int kiln_cuda_is_available(void);
int kiln_cuda_device_count(void);
/* libtorch's intra-op thread pool. */
void kiln_set_num_threads(int n);
int kiln_get_num_threads(void);
/* at::show_config(): build options, BLAS, OpenMP. Caller frees with free(). */
char *kiln_show_config(void);

/* Autocast (torch.autocast) on the calling thread; the state is
 * thread-local. device: 0 CPU, 1 CUDA. dtype: a c10::ScalarType code
 * (5 Half, 15 BFloat16). enter saves the previous enabled flag and dtype in
 * *prev_enabled / *prev_dtype for exit, which restores them and, when the
 * outermost level ends, drops the cast-weight cache as PyTorch's context
 * manager does. Both return 0, or -1 with a message in kiln_last_error(). */
int kiln_autocast_enter(int device, int dtype, int *prev_enabled, int *prev_dtype);
int kiln_autocast_exit(int device, int prev_enabled, int prev_dtype);
/* The dtype autocast uses on device (a c10::ScalarType code). */
int kiln_autocast_dtype(int device);
/* The message of the last failed kiln_* call on this thread. */
const char *kiln_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
