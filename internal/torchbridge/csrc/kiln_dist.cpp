// c10d wrappers for kiln_dist.h. kiln_dist_config.h is written by the bridge
// builder (internal/torchbridge/dist.go): it turns on the gloo and NCCL parts
// that compile against this libtorch and, for those that do not, defines the
// reason a call reports instead.
#include "kiln_dist.h"
#include "kiln_dist_config.h"

#include <string>

static thread_local std::string kiln_dist_err;

extern "C" const char *kiln_dist_last_error(void) { return kiln_dist_err.c_str(); }

#ifndef KILN_DIST_NCCL_UNAVAILABLE
#define KILN_DIST_NCCL_UNAVAILABLE ""
#endif

extern "C" const char *kiln_dist_nccl_unavailable(void) { return KILN_DIST_NCCL_UNAVAILABLE; }

#ifdef KILN_DIST_UNAVAILABLE

extern "C" {
const char *kiln_dist_unavailable(void) { return KILN_DIST_UNAVAILABLE; }
kiln_dist_store kiln_dist_store_new(const char *, int, int, int, int) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return nullptr;
}
void kiln_dist_store_free(kiln_dist_store) {}
int kiln_dist_store_add(kiln_dist_store, const char *, long long, long long *) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return -1;
}
kiln_dist_pg kiln_dist_pg_new(kiln_dist_store, const char *, int, int, int) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return nullptr;
}
void kiln_dist_pg_free(kiln_dist_pg) {}
int kiln_dist_all_reduce(kiln_dist_pg, void **, int, int) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return -1;
}
int kiln_dist_broadcast(kiln_dist_pg, void **, int, int) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return -1;
}
int kiln_dist_barrier(kiln_dist_pg) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return -1;
}
kiln_dist_reducer kiln_dist_reducer_new(kiln_dist_pg, void **, int, long long, int) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return nullptr;
}
int kiln_dist_reducer_prepare(kiln_dist_reducer, void *) {
  kiln_dist_err = KILN_DIST_UNAVAILABLE;
  return -1;
}
void kiln_dist_reducer_free(kiln_dist_reducer) {}
}

#else  // c10d available

#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if KILN_DIST_NCCL
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdlib>
#include <map>
#include <vector>

namespace {

struct Store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct Group {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int size;
};

struct Reducer {
  std::unique_ptr<c10d::Reducer> r;
};

// Since torch 2.0 the gloo and NCCL classes are c10d::Backends, and a
// c10d::ProcessGroup dispatches each device type's collectives to one (as
// torch.distributed.new_group builds it); up to 1.13 they were
// ProcessGroups themselves. Either way the rest of this file, and c10d's
// Reducer, see a ProcessGroup.
template <typename B>
c10::intrusive_ptr<c10d::ProcessGroup> asProcessGroup(c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                                                      c10::intrusive_ptr<B> backend, c10::DeviceType device,
                                                      const char *name) {
#if TORCH_VERSION_MAJOR >= 2
  auto type = c10d::ProcessGroup::BackendType::GLOO;
  if (std::string(name) == "nccl") type = c10d::ProcessGroup::BackendType::NCCL;
#if TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 6
  // Before 2.6 the ProcessGroup took Options naming its backend, which
  // also made it the default one (there is no setDefaultBackend).
  auto pg = c10::make_intrusive<c10d::ProcessGroup>(
      store, rank, size, c10::make_intrusive<c10d::ProcessGroup::Options>(name, backend->getOptions()->timeout));
  pg->setBackend(device, type, backend);
#else
  auto pg = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size);
  pg->setBackend(device, type, backend);
  pg->setDefaultBackend(type);
#endif
  return pg;
#else
  (void)store, (void)rank, (void)size, (void)device, (void)name;
  return backend;
#endif
}

// Errors from c10d and gloo arrive as C++ exceptions; they become the call's
// error message and -1/NULL, never an abort.
#define KILN_DIST_TRY(fail)              \
  try {
#define KILN_DIST_CATCH(fail)            \
  }                                      \
  catch (const c10::Error &e) {          \
    kiln_dist_err = e.what_without_backtrace(); \
    return fail;                         \
  }                                      \
  catch (const std::exception &e) {      \
    kiln_dist_err = e.what();            \
    return fail;                         \
  }                                      \
  catch (...) {                          \
    kiln_dist_err = "unknown C++ exception in c10d"; \
    return fail;                         \
  }

bool isLoopback(const std::string &addr) {
  return addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
}

// gloo's transport device: the interface GLOO_SOCKET_IFNAME names (as
// torch.distributed does), loopback when the master is on loopback (a
// single-machine job, where the hostname may not resolve), else the address
// this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string &masterAddr) {
  if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (isLoopback(masterAddr)) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Packs tensors into one contiguous buffer per (dtype, device), runs op on
// each buffer, and copies the results back: one collective per bucket rather
// than one per tensor, as DDP's reducer does.
template <typename Op>
void bucketed(std::vector<at::Tensor *> &ts, Op op) {
  torch::NoGradGuard ng;
  std::map<std::pair<int, std::string>, std::vector<at::Tensor *>> buckets;
  for (auto *t : ts) {
    TORCH_CHECK(t != nullptr && t->defined(), "undefined tensor in a collective");
    buckets[{static_cast<int>(t->scalar_type()), t->device().str()}].push_back(t);
  }
  for (auto &kv : buckets) {
    auto &list = kv.second;
    if (list.size() == 1 && list[0]->is_contiguous()) {
      // Already one flat buffer: reduce it in place, no copies.
      std::vector<at::Tensor> buf{*list[0]};
      op(buf);
      continue;
    }
    std::vector<at::Tensor> flat;
    flat.reserve(list.size());
    for (auto *t : list) flat.push_back(t->reshape({-1}));
    std::vector<at::Tensor> buf{list.size() == 1 ? flat[0].contiguous() : torch::cat(flat)};
    op(buf);
    int64_t off = 0;
    for (auto *t : list) {
      int64_t n = t->numel();
      t->copy_(buf[0].narrow(0, off, n).view(t->sizes()));
      off += n;
    }
  }
}

std::vector<at::Tensor *> tensorList(void **tensors, int n) {
  TORCH_CHECK(n >= 0, "negative tensor count");
  std::vector<at::Tensor *> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(static_cast<at::Tensor *>(tensors[i]));
  return out;
}

}  // namespace

extern "C" {

const char *kiln_dist_unavailable(void) { return ""; }

kiln_dist_store kiln_dist_store_new(const char *addr, int port, int world_size, int is_master, int timeout_ms) {
  KILN_DIST_TRY(nullptr)
  TORCH_CHECK(port > 0 && port < 65536, "master port ", port, " out of range 1..65535");
  TORCH_CHECK(world_size > 0, "world size must be positive, got ", world_size);
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(port);
  o.isServer = is_master != 0;
  o.numWorkers = static_cast<std::size_t>(world_size);
  o.waitWorkers = true;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  auto *s = new Store{c10::make_intrusive<c10d::TCPStore>(std::string(addr), o)};
  return s;
  KILN_DIST_CATCH(nullptr)
}

void kiln_dist_store_free(kiln_dist_store s) { delete static_cast<Store *>(s); }

int kiln_dist_store_add(kiln_dist_store s, const char *key, long long delta, long long *out) {
  KILN_DIST_TRY(-1)
  TORCH_CHECK(s != nullptr, "no store");
  *out = static_cast<Store *>(s)->store->add(std::string(key), static_cast<int64_t>(delta));
  return 0;
  KILN_DIST_CATCH(-1)
}

kiln_dist_pg kiln_dist_pg_new(kiln_dist_store s, const char *backend, int rank, int world_size, int timeout_ms) {
  KILN_DIST_TRY(nullptr)
  TORCH_CHECK(s != nullptr, "no store");
  TORCH_CHECK(rank >= 0 && rank < world_size, "rank ", rank, " outside 0..", world_size - 1);
  auto store = static_cast<Store *>(s)->store;
  std::string b(backend);
  auto timeout = std::chrono::milliseconds(timeout_ms);
  if (b == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    auto *tcp = dynamic_cast<c10d::TCPStore *>(store.get());
    opts->devices.push_back(glooDevice(tcp ? tcp->getHost() : std::string()));
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, opts);
    return new Group{asProcessGroup(store, rank, world_size, gloo, c10::DeviceType::CPU, "gloo"), world_size};
  }
  if (b == "nccl") {
#if KILN_DIST_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, opts);
    return new Group{asProcessGroup(store, rank, world_size, nccl, c10::DeviceType::CUDA, "nccl"), world_size};
#else
    TORCH_CHECK(false, KILN_DIST_NCCL_UNAVAILABLE);
#endif
  }
  TORCH_CHECK(false, "unknown distributed backend \"", b, "\" (want gloo or nccl)");
  KILN_DIST_CATCH(nullptr)
}

void kiln_dist_pg_free(kiln_dist_pg pg) {
  try {
    delete static_cast<Group *>(pg);
  } catch (...) {
  }
}

int kiln_dist_all_reduce(kiln_dist_pg g, void **tensors, int n, int op) {
  KILN_DIST_TRY(-1)
  TORCH_CHECK(g != nullptr, "no process group");
  auto *grp = static_cast<Group *>(g);
  auto ts = tensorList(tensors, n);
  bucketed(ts, [&](std::vector<at::Tensor> &buf) {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    grp->pg->allreduce(buf, o)->wait();
    if (op == 1) buf[0].div_(grp->size);
  });
  return 0;
  KILN_DIST_CATCH(-1)
}

int kiln_dist_broadcast(kiln_dist_pg g, void **tensors, int n, int root) {
  KILN_DIST_TRY(-1)
  TORCH_CHECK(g != nullptr, "no process group");
  auto *grp = static_cast<Group *>(g);
  TORCH_CHECK(root >= 0 && root < grp->size, "broadcast root ", root, " outside 0..", grp->size - 1);
  auto ts = tensorList(tensors, n);
  bucketed(ts, [&](std::vector<at::Tensor> &buf) {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    grp->pg->broadcast(buf, o)->wait();
  });
  return 0;
  KILN_DIST_CATCH(-1)
}

int kiln_dist_barrier(kiln_dist_pg g) {
  KILN_DIST_TRY(-1)
  TORCH_CHECK(g != nullptr, "no process group");
  static_cast<Group *>(g)->pg->barrier()->wait();
  return 0;
  KILN_DIST_CATCH(-1)
}

kiln_dist_reducer kiln_dist_reducer_new(kiln_dist_pg g, void **params, int n, long long bucket_bytes, int find_unused) {
  KILN_DIST_TRY(nullptr)
  TORCH_CHECK(g != nullptr, "no process group");
  TORCH_CHECK(n > 0, "no parameters to reduce");
  TORCH_CHECK(bucket_bytes > 0, "bucket size must be positive, got ", bucket_bytes);
  auto *grp = static_cast<Group *>(g);
  std::vector<at::Tensor> ps;
  ps.reserve(n);
  for (auto *t : tensorList(params, n)) {
    TORCH_CHECK(t != nullptr && t->defined() && t->requires_grad(), "parameter ", ps.size(), " is undefined or does not require grad");
    ps.push_back(*t);
  }
  // As torch.nn.parallel.DistributedDataParallel builds it: a small first
  // bucket (its gradients are produced last, so its all-reduce is the one
  // nothing overlaps), then buckets of bucket_bytes, in reverse parameter
  // order (backward produces the last layers' gradients first).
  const int64_t first = std::min<int64_t>(c10d::kDefaultFirstBucketBytes, bucket_bytes);
  auto assigned = c10d::compute_bucket_assignment_by_size(
      ps, {static_cast<size_t>(first), static_cast<size_t>(bucket_bytes)}, std::vector<bool>(n, false));
  auto buckets = std::get<0>(assigned);
  auto limits = std::get<1>(assigned);
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  // find_unused: a parameter outside the loss's graph (a head the task
  // does not use) is marked ready by a graph walk every step instead of
  // leaving the reduction waiting; its gradient stays untouched. Without
  // one, the walk is skipped (and c10d warns when it finds nothing).
  // gradient_as_bucket_view off: the grads stay the model's own tensors
  // (the optimiser and checkpoints hold them), filled back from the flat,
  // preallocated buckets after each reduction.
  // The constructor's signature, from the headers of each release: up to
  // 2.6 the per-bucket size limits follow the bucket indices; 2.8 adds
  // skip_all_reduce_unused_params and use_python_reducer, 2.11
  // bucket_bytes_cap_list (empty: bucket_bytes_cap for all).
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR <= 6)
  auto r = std::make_unique<c10d::Reducer>(ps, buckets, limits, grp->pg, std::vector<bool>(n, false), bucket_bytes,
                                           /*find_unused_parameters=*/find_unused != 0, /*gradient_as_bucket_view=*/false,
                                           std::unordered_map<size_t, std::string>{}, first);
#else
  (void)limits;
  auto r = std::make_unique<c10d::Reducer>(ps, buckets, grp->pg, std::vector<bool>(n, false), bucket_bytes,
                                           /*find_unused_parameters=*/find_unused != 0, /*gradient_as_bucket_view=*/false,
                                           std::unordered_map<size_t, std::string>{}, first
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 8
                                           ,
                                           /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false
#endif
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 11
                                           ,
                                           /*bucket_bytes_cap_list=*/std::vector<int64_t>{}
#endif
  );
#endif
  return new Reducer{std::move(r)};
  KILN_DIST_CATCH(nullptr)
}

int kiln_dist_reducer_prepare(kiln_dist_reducer r, void *output) {
  KILN_DIST_TRY(-1)
  TORCH_CHECK(r != nullptr, "no reducer");
  auto *out = static_cast<at::Tensor *>(output);
  TORCH_CHECK(out != nullptr && out->defined(), "undefined output tensor");
  static_cast<Reducer *>(r)->r->prepare_for_backward({*out});
  return 0;
  KILN_DIST_CATCH(-1)
}

void kiln_dist_reducer_free(kiln_dist_reducer r) {
  try {
    delete static_cast<Reducer *>(r);
  } catch (...) {
  }
}

}  // extern "C"

#endif  // KILN_DIST_UNAVAILABLE
