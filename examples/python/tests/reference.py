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

"""Plain-loop reference of dispatch and combine in numpy, independent of the Java code (spec: README "Semantics").

Expert ``e`` lives on rank ``e // L`` at local index ``e % L``. A local expert receives the rows of every token that
lists it, grouped by source rank (ascending), then source token (ascending). Combine: per token,
``bf16(sum_j w_j * y_j)`` in float32 with a separate multiply and add, in top-k order, over the experts whose rank is
not masked; ``lost_weight`` sums (float32, top-k order) the weights of the skipped ones.
"""

import numpy as np

from tokenroute.bf16 import from_float32, to_float32


def received(inputs, ranks, local_experts, masked=()):
    """Per (rank, local expert): list of (src_rank, src_token) in delivery order. ``inputs[r] = (bits, idx, w)``."""
    out = {}
    for r in range(ranks):
        if r in masked:
            continue
        for l in range(local_experts):
            e = r * local_experts + l
            rows = []
            for src in range(ranks):
                if src in masked or inputs[src] is None:
                    continue
                idx = inputs[src][1]
                rows += [(src, t) for t in range(idx.shape[0]) if e in idx[t]]
            out[(r, l)] = rows
    return out


def combine(bits, idx, w, local_experts, expert_fn=lambda e, row: row, masked=()):
    """One rank's combine output: (hidden bf16 bits [n][H], lost_weight [n]).

    ``expert_fn(e, row_bits)`` gives expert ``e``'s bf16 output bits for an input row (identity by default)."""
    n, h = bits.shape
    out = np.zeros((n, h), np.uint16)
    lost = np.zeros(n, np.float32)
    for t in range(n):
        acc = np.zeros(h, np.float32)
        lw = np.float32(0)
        for j in range(idx.shape[1]):
            e = int(idx[t, j])
            if e < 0:
                continue
            weight = np.float32(w[t, j])
            if e // local_experts in masked:
                lw = np.float32(lw + weight)
                continue
            y = to_float32(expert_fn(e, bits[t]))
            acc = (acc + (weight * y).astype(np.float32)).astype(np.float32)
        out[t] = from_float32(acc)
        lost[t] = lw
    return out, lost


def random_inputs(rng, ranks, experts, n, hidden, top_k, none_prob=0.1):
    """Per rank (x float32 [n][H], bf16 bits of x, topk_idx [n][k] distinct or -1, weights [n][k])."""
    inputs = []
    for _ in range(ranks):
        x = rng.standard_normal((n, hidden)).astype(np.float32)
        idx = np.stack([rng.choice(experts, top_k, replace=False) for _ in range(n)]).astype(np.int64)
        idx[rng.random((n, top_k)) < none_prob] = -1
        w = rng.random((n, top_k)).astype(np.float32)
        inputs.append((x, from_float32(x), idx, w))
    return inputs
