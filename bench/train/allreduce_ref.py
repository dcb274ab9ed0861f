"""PyTorch's own gloo all-reduce of a MiniLM-sized gradient bucket, the
reference for kiln's (train/dist TestAllReduceTime). Same libtorch (Debian's
1.13.1) on both sides. Run it under torchrun or let it start 2 ranks itself:

    OMP_NUM_THREADS=1 $KILN_PYTHON bench/train/allreduce_ref.py [floats] [tensors]
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

N = int(sys.argv[1]) if len(sys.argv) > 1 else 22_713_216  # all-MiniLM-L6-v2's parameters
PARTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def worker(rank, world, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    sizes = [N // PARTS] * (PARTS - 1) + [N - (PARTS - 1) * (N // PARTS)]
    xs = [torch.ones(s) for s in sizes]

    def reduce():
        # What kiln's wrapper (and DDP's reducer) does: one flat bucket, averaged.
        flat = xs[0].clone() if PARTS == 1 else torch.cat(xs)
        dist.all_reduce(flat)
        flat.div_(world)
        off = 0
        for x in xs:
            x.copy_(flat[off : off + x.numel()])
            off += x.numel()

    reduce()
    times = []
    for _ in range(10):
        dist.barrier()
        t = time.perf_counter()
        reduce()
        times.append((time.perf_counter() - t) * 1000)
    print(f"[rank {rank}] torch.distributed all-reduce of {N} float32 ({N*4/1e6:.1f} MB) in {PARTS} tensors over {world} ranks "
          f"(gloo, loopback, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}): mean {sum(times)/len(times):.1f} ms, "
          f"best {min(times):.1f} ms over {len(times)} runs", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(2, port), nprocs=2)
