#!/usr/bin/env python3
"""Install libtorch from a PyPI `torch` wheel into a kiln cache directory.

A torch wheel carries libtorch (torch/lib, torch/include); its CUDA libraries
come as separate nvidia-* wheels named in its metadata. Three modes:

  headers  torch/include only, ~60 MB: what scripts/compat/c10d.sh compiles
           the bridge's c10d wrapper against, release by release.

  cpu   headers + libc10/libtorch_cpu/libtorch + the few CUDA runtime libraries
        libtorch_cpu itself NEEDs (since the cu13 wheels: libcudart, libcupti;
        they load without a GPU or driver). Enough to build a CPU-only bridge
        (kiln-bridge -cpu-only) and run it on any x86-64 Linux. ~0.5 GB.
  cuda  the whole torch/ package plus every nvidia-* wheel it requires
        (cuDNN, cuBLAS, NCCL, …), laid out like site-packages so the
        libraries' RPATH ($ORIGIN/../../nvidia/...) finds them, plus the CUDA
        headers the bridge's NCCL wrapper compiles against. Several GB.

Layout: DEST/site/torch/{lib,include}, DEST/site/nvidia/...; DEST/.complete
marks a finished install (reruns do nothing). Prints LIBTORCH (DEST/site/torch).

--dry-run prints the plan (wheel, requirements, files) without installing;
--wheel uses a local torch wheel instead of downloading one (tests use both).
Only the ordinary pip client talks to the registry.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# torch ≥ 2.7 is tagged manylinux_2_28; older releases manylinux1 (≤ 2.5) or
# manylinux_2_17 / manylinux2014.
TORCH_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]
# The nvidia-* wheels are tagged with older manylinux levels.
NVIDIA_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_25_x86_64",
                    "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
CPU_LIBS = re.compile(r"^torch/lib/(libc10\.so|libtorch_cpu\.so|libtorch\.so|libgomp[^/]*\.so[^/]*)$")
# CUDA runtime pieces libtorch_cpu links directly (soname prefix → package stem).
CPU_CUDA_RUNTIME = {"libcudart.so": "nvidia-cuda-runtime", "libcupti.so": "nvidia-cuda-cupti"}
# Requirements that are Python-only or a compiler, not libraries libtorch loads.
SKIP_REQS = ("cuda-bindings", "triton")
# What an install holds; DEST/.complete records it, and an install of an
# older layout is redone. 2: cuda mode adds BUILD_HEADER_EXTRAS.
LAYOUT = 2


def log(msg):
    print("torchwheel: " + msg, file=sys.stderr)


def metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(name).decode()


def requires(meta):
    """Requires-Dist entries that apply on Linux without extras: (name, spec)."""
    out = []
    for line in meta.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.split(":", 1)[1].strip()
        spec, _, marker = req.partition(";")
        marker = marker.strip()
        if "extra ==" in marker:
            continue
        if marker and "platform_system" in marker and '"Linux"' not in marker and "'Linux'" not in marker:
            continue
        spec = spec.strip().replace(" ", "")
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower()
        out.append((name, spec))
    return out


def cuda_requirements(meta):
    """The CUDA library packages a torch wheel requires (pip requirement strings)."""
    return [spec for name, spec in requires(meta)
            if (name.startswith("nvidia-") or name == "cuda-toolkit") and not name.startswith(SKIP_REQS)]


# Headers c10d's ProcessGroupNCCL.hpp needs beyond cuda.h and nccl.h, which
# the cu13 wheels do not pull in: crt/host_config.h (cuda_runtime.h) and CCCL's
# nv/target (cuda_fp16.h). Both are headers only (1 MB and 18 MB); without
# them the bridge builds without the NCCL backend.
BUILD_HEADER_EXTRAS = ("crt", "cccl")


def with_build_headers(reqs):
    """cuda mode: add BUILD_HEADER_EXTRAS to a cuda-toolkit[...] requirement."""
    out = []
    for r in reqs:
        m = re.match(r"cuda-toolkit\[([^\]]*)\](.*)", r)
        if m:
            extras = m.group(1).split(",")
            extras += [e for e in BUILD_HEADER_EXTRAS if e not in extras]
            r = "cuda-toolkit[" + ",".join(extras) + "]" + m.group(2)
        out.append(r)
    return out


def extras_map(meta):
    """For a meta package like cuda-toolkit: extra name → requirement string."""
    out = {}
    for line in meta.splitlines():
        m = re.match(r"Requires-Dist:\s*([^;]+);.*extra\s*==\s*['\"]([\w\-]+)['\"]", line)
        if m:
            out.setdefault(m.group(2), m.group(1).strip().replace(" ", ""))
    return out


def pip(*args):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, stdout=sys.stderr)


def download(spec, dest, platforms):
    before = set(os.listdir(dest))
    args = ["download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11", "-d", dest]
    for p in platforms:
        args += ["--platform", p]
    pip(*args, spec)
    new = sorted(set(os.listdir(dest)) - before)
    name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("-", "_")
    hits = [f for f in os.listdir(dest) if f.lower().startswith(name + "-") and f.endswith(".whl")]
    if not hits:
        raise SystemExit(f"torchwheel: pip download {spec} left no wheel in {dest} (new: {new})")
    return os.path.join(dest, sorted(hits)[-1])


def cpu_runtime_requirements(torch_meta, fetch_meta):
    """Pinned requirements for the CUDA runtime libraries libtorch_cpu NEEDs.
    fetch_meta(spec) returns the METADATA of a (meta) package."""
    reqs = cuda_requirements(torch_meta)
    out = []
    for stem in CPU_CUDA_RUNTIME.values():
        direct = [r for r in reqs if r.lower().startswith(stem)]  # cu12 wheels: nvidia-cuda-runtime-cu12==…
        if direct:
            out.append(direct[0])
            continue
        for r in reqs:  # cu13 wheels: cuda-toolkit[cudart,cupti,…]==13.0.2
            m = re.match(r"cuda-toolkit\[([^\]]*)\](.*)", r)
            if m:
                extras = extras_map(fetch_meta("cuda-toolkit" + m.group(2)))
                for want in ("cudart", "cupti"):
                    if want in m.group(1).split(",") and extras.get(want, "").lower().startswith(stem):
                        out.append(extras[want])
    return sorted(set(out))


def plan(args, torch_wheel, dl):
    meta = metadata(torch_wheel)
    version = re.search(r"^Version:\s*(\S+)", meta, re.M).group(1)
    p = {"layout": LAYOUT, "torch_wheel": os.path.basename(torch_wheel), "version": version, "mode": args.mode,
         "libtorch": os.path.join(args.dest, "site", "torch")}
    if args.mode == "headers":
        p["requirements"] = []
        p["extract"] = ["torch/include/**"]
    elif args.mode == "cpu":
        def fetch_meta(spec):
            if args.meta_dir:  # tests: METADATA files named after the package
                name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0)
                with open(os.path.join(args.meta_dir, name + ".METADATA")) as f:
                    return f.read()
            return metadata(download(spec, dl, NVIDIA_PLATFORMS))
        p["requirements"] = cpu_runtime_requirements(meta, fetch_meta)
        p["extract"] = ["torch/include/**", "torch/lib/{libc10,libtorch_cpu,libtorch,libgomp}.so*",
                        "nvidia/**/lib/{libcudart,libcupti}.so*"]
    else:
        p["requirements"] = with_build_headers(cuda_requirements(meta))
        p["extract"] = ["torch/**", "requirements with their nvidia-* dependencies (pip install --target)"]
    return p


def extract(wheel, dest, keep):
    n = 0
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.is_dir() or not keep(info.filename):
                continue
            z.extract(info, dest)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", help="torch version to fetch from PyPI, e.g. 2.11.0")
    ap.add_argument("--wheel", help="use this local torch wheel instead of downloading")
    ap.add_argument("--mode", choices=["headers", "cpu", "cuda"], default="cpu")
    ap.add_argument("--dest", required=True)
    ap.add_argument("--dry-run", action="store_true", help="print the plan as JSON, install nothing")
    ap.add_argument("--meta-dir", help=argparse.SUPPRESS)  # tests: local METADATA for meta packages
    args = ap.parse_args()
    if not args.version and not args.wheel:
        ap.error("give --version or --wheel")
    site = os.path.join(args.dest, "site")
    done = os.path.join(args.dest, ".complete")
    if os.path.exists(done) and not args.dry_run:
        layout = 0
        try:
            with open(done) as f:
                layout = json.load(f).get("layout", 0)
        except (OSError, ValueError):
            pass
        if layout == LAYOUT:
            log(f"already installed in {args.dest}")
            print(os.path.join(site, "torch"))
            return
        log(f"{args.dest} holds an older install (layout {layout}, now {LAYOUT}); reinstalling")
    os.makedirs(args.dest, exist_ok=True)
    dl = tempfile.mkdtemp(prefix=".download-", dir=args.dest)
    try:
        torch_wheel = args.wheel or download(f"torch=={args.version}", dl, TORCH_PLATFORMS)
        p = plan(args, torch_wheel, dl)
        if args.dry_run:
            print(json.dumps(p, indent=2))
            return
        tmp = tempfile.mkdtemp(prefix=".site-", dir=args.dest)
        if args.mode == "headers":
            log(f"extracted {extract(torch_wheel, tmp, lambda f: f.startswith('torch/include/'))} files")
        elif args.mode == "cpu":
            n = extract(torch_wheel, tmp, lambda f: f.startswith("torch/include/") or CPU_LIBS.match(f))
            for req in p["requirements"]:
                w = download(req, dl, NVIDIA_PLATFORMS)
                n += extract(w, tmp, lambda f: re.match(r"^nvidia/.*/lib/(libcudart|libcupti)\.so[.\d]*$", f))
            log(f"extracted {n} files")
        else:
            # Unzipped, not pip-installed: the wheel is tagged cp311, and the
            # C++ side does not care which Python this machine has.
            n = extract(torch_wheel, tmp, lambda f: f.startswith("torch/"))
            log(f"extracted {n} files of torch")
            if p["requirements"]:
                pip("install", "--no-compile", "--only-binary=:all:", "--target", tmp, *p["requirements"])
        if os.path.exists(site):
            shutil.rmtree(site)
        os.rename(tmp, site)
        with open(done, "w") as f:
            json.dump(p, f, indent=2)
        print(os.path.join(site, "torch"))
    finally:
        shutil.rmtree(dl, ignore_errors=True)


if __name__ == "__main__":
    main()
