#!/usr/bin/env python3
#
# Copyright 2026 The TokenRoute Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#

"""PyTorch version of the cuda-local EP step, for comparison with CudaLocalBench (same GPU, same shapes, same math).

Reads set 0's inputs and the Java results that io.tokenroute.examples.bench.CudaLocalBench wrote under DIR, checks
that PyTorch computes the same dispatch (bit for bit: rows ordered by expert, then source rank, then source token) and
the same combine (identity expert; PyTorch's index_add_ sums in another order, so within bf16 rounding), then times
dispatch (argsort + index_select) and combine (weighted index_add_ in fp32, cast to bf16) with CUDA events: median of
ITERS after warm-up, rotating SETS input sets so L2 cannot serve them. Prints a short table last.

usage: torch_ep_bench.py DIR [ITERS] [SETS]
"""
import sys

import numpy as np
import torch

R, T, H, K, E = 8, 128, 7168, 8, 256


def dispatch(x, idx):
    """x [R*T, H] bf16, idx [R*T, K] int64 -> rows ordered by (expert, global token), the gather index, counts."""
    flat = idx.reshape(-1)
    token = torch.arange(R * T, device=x.device).repeat_interleave(K)
    valid = flat >= 0
    key = flat * (R * T) + token
    key = torch.where(valid, key, torch.full_like(key, E * R * T))
    order = torch.argsort(key)
    order = order[: int(valid.sum())] if not bool(valid.all()) else order
    src = token[order]
    recv = x.index_select(0, src)
    return recv, order, src


def combine(y, order, src, w):
    """y rows aligned with dispatch order -> out [R*T, H] bf16 = sum of w * y per token (fp32)."""
    weights = w.reshape(-1)[order].unsqueeze(1)
    out = torch.zeros(R * T, H, dtype=torch.float32, device=y.device)
    out.index_add_(0, src, y.float() * weights)
    return out.to(torch.bfloat16)


def main():
    d = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sets = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    dev = torch.device("cuda")
    x0 = torch.from_numpy(np.fromfile(f"{d}/x0.bin", dtype=np.int16).reshape(R * T, H)).to(dev).view(torch.bfloat16)
    idx0 = torch.from_numpy(np.fromfile(f"{d}/idx0.bin", dtype=np.int64).reshape(R * T, K)).to(dev)
    w0 = torch.from_numpy(np.fromfile(f"{d}/w0.bin", dtype=np.float32).reshape(R * T, K)).to(dev)

    recv, order, src = dispatch(x0, idx0)
    java_recv = np.fromfile(f"{d}/recv.bin", dtype=np.int16)
    torch_recv = recv.view(torch.int16).cpu().numpy().reshape(-1)
    counts = torch.bincount(idx0.reshape(-1)[idx0.reshape(-1) >= 0], minlength=E).cpu().numpy()
    java_counts = np.fromfile(f"{d}/counts.bin", dtype=np.int32)
    dispatch_ok = java_recv.shape == torch_recv.shape and np.array_equal(java_recv, torch_recv) \
        and np.array_equal(counts, java_counts)
    out = combine(recv, order, src, w0).float()
    java_out = torch.from_numpy(np.fromfile(f"{d}/combine0.bin", dtype=np.int16).reshape(R * T, H)).to(dev) \
        .view(torch.bfloat16).float()
    rel = float((java_out - out).norm() / out.norm())
    max_ulps = float(((java_out - out).abs() / out.abs().clamp_min(1e-3)).max())
    print(f"check: dispatch bit-exact vs Java: {dispatch_ok}; combine rel. L2 error {rel:.2e} "
          f"(max rel. {max_ulps:.2e}; bf16 rounding is 3.9e-3)")

    xs, idxs, ws = [x0], [idx0], [w0]
    g = torch.Generator(device=dev).manual_seed(7)
    for _ in range(sets - 1):
        xs.append((torch.rand(R * T, H, device=dev, generator=g) * 4 - 2).to(torch.bfloat16))
        idxs.append(torch.rand(R * T, E, device=dev, generator=g).topk(K, dim=1).indices)
        ws.append(torch.rand(R * T, K, device=dev, generator=g) / K + 0.05)
    prepared = [dispatch(xs[s], idxs[s]) for s in range(sets)]

    def timed(fn):
        times = []
        warm = 30
        for i in range(-warm, iters):
            s = i % sets
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn(s)
            b.record()
            b.synchronize()
            if i >= 0:
                times.append(a.elapsed_time(b) * 1e3)
        return float(np.median(times))

    t_dispatch = timed(lambda s: dispatch(xs[s], idxs[s]))
    t_combine = timed(lambda s: combine(prepared[s][0], prepared[s][1], prepared[s][2], ws[s]))
    java = {}
    try:
        for line in open(f"{d}/java-times.txt"):
            k, v = line.strip().split("=")
            java[k] = float(v)
    except OSError:
        pass
    print()
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}, median of {iters}, {sets} rotating sets")
    print(f"  {'torch dispatch (argsort + index_select)':42s} {t_dispatch:.1f} us")
    print(f"  {'torch combine (index_add_ fp32)':42s} {t_combine:.1f} us")
    if java:
        print(f"  {'cuda-local bf16 dispatch speed-up':42s} {t_dispatch / java['dispatch_us']:.1f}x")
        print(f"  {'cuda-local fp8 dispatch speed-up':42s} {t_dispatch / java['fp8_dispatch_us']:.1f}x")
        print(f"  {'cuda-local bf16 combine speed-up':42s} {t_combine / java['combine_us']:.1f}x")


if __name__ == "__main__":
    main()
