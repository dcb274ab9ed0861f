/* kiln's data-parallel collectives over libtorch's c10d (the engine behind
 * torch.distributed): a TCPStore for rendezvous, a gloo (CPU) or NCCL (CUDA)
 * process group, and the collectives DDP needs. Plain C so cgo can call it.
 * Tensor arguments are gotch tensors (torch::Tensor*). Every function that can
 * fail returns NULL or -1 and leaves the message in kiln_dist_last_error();
 * none aborts the process. */
#ifndef KILN_DIST_H
#define KILN_DIST_H
#ifdef __cplusplus
extern "C" {
#endif

typedef void *kiln_dist_store;
typedef void *kiln_dist_pg;

/* "" when this bridge has c10d, otherwise why not (the builder compiles a
 * stub when kiln_dist.cpp does not compile against the libtorch). */
const char *kiln_dist_unavailable(void);
/* "" when the NCCL backend was compiled in, otherwise why not. */
const char *kiln_dist_nccl_unavailable(void);

/* A TCPStore at addr:port. is_master starts the server in this process (rank
 * 0); the others connect, retrying until timeout_ms. The master waits for
 * world_size-1 clients. */
kiln_dist_store kiln_dist_store_new(const char *addr, int port, int world_size, int is_master, int timeout_ms);
void kiln_dist_store_free(kiln_dist_store s);
/* Adds delta to the integer at key (created as 0) and stores the new value in
 * *out; delta 0 reads it. Safe to call from another thread than the
 * collectives (kiln's liveness heartbeat does). */
int kiln_dist_store_add(kiln_dist_store s, const char *key, long long delta, long long *out);

/* A process group of world_size ranks rendezvousing through store. backend:
 * "gloo" or "nccl". timeout_ms bounds every collective: a peer that died or
 * stopped calling makes the call fail instead of blocking forever. */
kiln_dist_pg kiln_dist_pg_new(kiln_dist_store s, const char *backend, int rank, int world_size, int timeout_ms);
/* Destroys the group (joins its worker threads). */
void kiln_dist_pg_free(kiln_dist_pg pg);

/* In-place all-reduce of n tensors (any shapes; the same list on every rank).
 * Tensors are packed into one flat buffer per dtype (DDP's bucket), reduced
 * in one collective, and copied back. op: 0 sum, 1 mean. */
int kiln_dist_all_reduce(kiln_dist_pg pg, void **tensors, int n, int op);
/* In-place broadcast of n tensors from rank root, packed the same way. */
int kiln_dist_broadcast(kiln_dist_pg pg, void **tensors, int n, int root);
int kiln_dist_barrier(kiln_dist_pg pg);

/* DDP's gradient reducer (c10d::Reducer, the engine behind
 * torch.nn.parallel.DistributedDataParallel) over n parameters (leaf
 * tensors requiring grad, the same list on every rank): it hooks their
 * gradient accumulators and, during a backward it was prepared for,
 * all-reduces (averages) each bucket of about bucket_bytes of gradients as
 * soon as its gradients are ready, overlapping communication with the rest
 * of backward; backward returns with the averaged gradients in the
 * parameters' .grad. Buckets are flat buffers allocated once. */
typedef void *kiln_dist_reducer;
/* find_unused: some parameters may get no gradient (DDP's
 * find_unused_parameters): each backward then walks the graph to mark them
 * ready. */
kiln_dist_reducer kiln_dist_reducer_new(kiln_dist_pg pg, void **params, int n, long long bucket_bytes, int find_unused);
/* Arms the reducer for the next backward, whose root is output (the loss).
 * A backward without it only accumulates gradients locally (DDP's no_sync:
 * the micro-batches before the last of an accumulated step). */
int kiln_dist_reducer_prepare(kiln_dist_reducer r, void *output);
void kiln_dist_reducer_free(kiln_dist_reducer r);

const char *kiln_dist_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
