/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
// Elastic EP, part 3: combine (docs/contract.md §2 combine, RankProtocol#combine). Per rank, for the step seq
// committed by the dispatch, in stream order:
//
//   1. tr_ep_combine_send    the expert outputs are already in this rank's combine-send rows (written zero-copy by the
//                            expert kernel, or copied in by the host, earlier on the same stream): release-store
//                            COMB = seq << 1 | 1. One thread.
//   2. tr_ep_combine_wait    one block: waits on every active peer's COMB (timeout, mask re-read, wait-cost stats) and
//                            decides per global expert e whether its outputs are usable: its rank answered, this rank
//                            sent it rows, and that rank received exactly as many from this rank (its published
//                            layout); else the expert's weight goes to lost_weight.
//   3. tr_ep_combine_reduce  one block per token: out[t] = sum over k in top-k order of w * y, y pulled straight from
//                            the expert rank's combine-send rows, accumulated in fp32 with __fmul_rn / __fadd_rn (no
//                            fma contraction, as Java's acc += w * x) and rounded once to bf16 (tokenroute_common.cuh);
//                            lost_weight[t] = sum of the skipped weights in the same order.
//
// As in dispatch, every rank's step 1 can be launched before any rank's step 2, and each kernel is launched batched
// (blockIdx.y = rank, sync.cuh TrEp*Batch) or per rank (gridDim.y = 1). The reduce's last block re-checks that no
// expert rank moved on to its next step while its outputs were read (seqlock) and redoes the tokens without it.
#pragma once

#include "sync.cuh"

// Publishes this rank's expert outputs and layout of step seq; starts the call's report. One block of 32.
extern "C" __global__ void __launch_bounds__(32)
tr_ep_combine_send(const TrEpBatch b) {
    using namespace tr_ep;
    tr_allow_next_kernel();
    const TrEp* d = TR_EP_BATCH_RANK(b);
    if (d == nullptr) return;
    trace_begin(d, TR_EP_TRACE_COMBINE_SEND);
    if (threadIdx.x == 0) {
        // Publish first (the outputs were written by earlier work on this stream), then start the call's report,
        // so the system-scope fence does not wait for the report's PCIe writes.
        const uint64_t s = state(d)->seq;
        __threadfence_system();
        st_release(ctrl(base(d), d, TR_EP_COMB), s << 1 | 1);
    }
    begin_call_report(d, TR_EP_CALL_COMBINE);
    trace_end(d, TR_EP_TRACE_COMBINE_SEND);
}

// The wait half of combine. valid[e] = the first row of this rank's block in expert e's combine-send rows, or -1.
namespace tr_ep {

// valid[e] for every global expert whose rank is r (all experts when r < 0): this rank's first row in the expert's
// combine-send rows, or -1 (rank absent, nothing sent, or the rank received another number of rows from us).
__device__ void mark_valid_experts(const TrEp* d, const int* met, int only_rank) {
    const int R = ranks(d);
    const int me = self(d);
    const int E = static_cast<int>(d->experts);
    const int L = static_cast<int>(d->local_experts);
    const int* sent = own<int>(d, d->off_sent);
    int* valid = own<int>(d, d->off_valid);
    const int64_t cap = d->recv_capacity;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        const int r = e / L;
        if (only_rank >= 0 && r != only_rank) continue;
        const int l = e % L;
        int begin = -1;
        if (met[r] && sent[e] > 0) {
            const PeerRef src = peer_ref(d, r);
            const int* layout = reinterpret_cast<const int*>(src.base + d->off_layout);
            const int first = peer_load(src, layout + 2 * (l * R + me));
            // A consistent layout keeps the block inside the expert's rows; a torn one (caught by the re-check)
            // must not send the reduce elsewhere meanwhile.
            if (peer_load(src, layout + 2 * (l * R + me) + 1) == sent[e] && first >= 0 && first + sent[e] <= cap) {
                begin = first;
            }
        }
        valid[e] = begin;
    }
}

// Tokens [first, n) with stride (block-granular: one block per token) of the reduce; see the file comment.
__device__ void reduce_tokens(const TrEp* d, const float* __restrict__ weights, int first, int stride) {
    const TrEpState* st = state(d);
    const int n = st->n;
    const int k = st->k;
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int64_t cap = d->recv_capacity;
    const int64_t comb_rows = d->off_comb_rows;
    const int* routed = own<int>(d, d->off_routed);
    const int* position = own<int>(d, d->off_position);
    const int* valid = own<int>(d, d->off_valid);
    uint16_t* out = own<uint16_t>(d, d->off_out);
    float* lost_out = own<float>(d, d->off_lost);
    const PeerTable peers = peer_table(d);
    const bool vector = (H % 8) == 0;
    const int chunks = H / 8;  // 16-byte chunks of 8 channels

    for (int t = first; t < n; t += stride) {
        if (vector) {
            for (int pass = 0; pass < chunks; pass += TR_EP_REDUCE_THREADS * TR_EP_REDUCE_CHUNKS) {
                float acc[TR_EP_REDUCE_CHUNKS][8];
#pragma unroll
                for (int c = 0; c < TR_EP_REDUCE_CHUNKS; ++c) {
#pragma unroll
                    for (int q = 0; q < 8; ++q) acc[c][q] = 0.0f;
                }
                float lost = 0.0f;
                for (int j = 0; j < k; ++j) {
                    const int e = routed[t * k + j];
                    if (e < 0) continue;
                    const float w = weights[t * k + j];
                    const int pos = position[t * k + j];
                    const int begin = pos >= 0 ? valid[e] : -1;
                    if (begin < 0) {
                        lost = __fadd_rn(lost, w);
                        continue;
                    }
                    const int r = e / L;
                    const int l = e % L;
                    const PeerRef ref = peer_ref(peers, r);
                    const uint4* src = reinterpret_cast<const uint4*>(
                        ref.base + comb_rows + (static_cast<int64_t>(l) * cap + begin + pos) * 2LL * H);
                    uint4 v[TR_EP_REDUCE_CHUNKS];
                    // Staging for NVSHMEM gets: this token's output row, written only after the last expert.
                    peer_read_chunks_block<TR_EP_REDUCE_CHUNKS, TR_EP_REDUCE_THREADS>(
                        v, ref, src, pass, chunks, reinterpret_cast<uint4*>(out + static_cast<int64_t>(t) * H));
#pragma unroll
                    for (int c = 0; c < TR_EP_REDUCE_CHUNKS; ++c) {
                        const uint32_t words[4] = {v[c].x, v[c].y, v[c].z, v[c].w};
#pragma unroll
                        for (int q = 0; q < 4; ++q) {
                            const float lo = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[q])));
                            const float hi = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[q] >> 16)));
                            acc[c][2 * q] = __fadd_rn(acc[c][2 * q], __fmul_rn(w, lo));
                            acc[c][2 * q + 1] = __fadd_rn(acc[c][2 * q + 1], __fmul_rn(w, hi));
                        }
                    }
                }
                uint4* dst = reinterpret_cast<uint4*>(out + static_cast<int64_t>(t) * H);
#pragma unroll
                for (int c = 0; c < TR_EP_REDUCE_CHUNKS; ++c) {
                    const int chunk = pass + threadIdx.x + c * TR_EP_REDUCE_THREADS;
                    if (chunk < chunks) {
                        uint32_t words[4];
#pragma unroll
                        for (int q = 0; q < 4; ++q) {
                            words[q] = static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[c][2 * q])))
                                     | static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[c][2 * q + 1])))
                                           << 16;
                        }
                        dst[chunk] = make_uint4(words[0], words[1], words[2], words[3]);
                    }
                }
                if (pass == 0 && threadIdx.x == 0) lost_out[t] = lost;
            }
        } else {
            // Any H: one channel per thread and step (slow path; the project's shapes take the vector path).
            for (int h = threadIdx.x; h < H; h += blockDim.x) {
                float acc = 0.0f;
                float lost = 0.0f;
                for (int j = 0; j < k; ++j) {
                    const int e = routed[t * k + j];
                    if (e < 0) continue;
                    const float w = weights[t * k + j];
                    const int pos = position[t * k + j];
                    const int begin = pos >= 0 ? valid[e] : -1;
                    if (begin < 0) {
                        lost = __fadd_rn(lost, w);
                        continue;
                    }
                    const PeerRef ref = peer_ref(peers, e / L);
                    const uint16_t* src = reinterpret_cast<const uint16_t*>(
                        ref.base + comb_rows + (static_cast<int64_t>(e % L) * cap + begin + pos) * 2LL * H);
                    const uint16_t y = peer_load(ref, src + h);
                    acc = __fadd_rn(acc, __fmul_rn(w, __uint_as_float(tr_bf16_to_f32_bits(y))));
                }
                out[static_cast<int64_t>(t) * H + h] = tr_f32_bits_to_bf16(__float_as_uint(acc));
                if (h == 0) lost_out[t] = lost;
            }
        }
    }
}

// The last block's re-check after the reduce: expert ranks whose COMB reached (seq + 1) << 1 started rewriting
// their outputs; they are masked (or reported) and valid[] rebuilt. Returns whether any was dropped. Whole block.
__device__ __forceinline__ bool recheck_combine(const TrEp* d) {
    __shared__ int s_dropped;
    const uint64_t s = state(d)->seq;
    int* met = own<int>(d, d->off_cmet);
    __syncthreads();
    if (threadIdx.x == 0) s_dropped = 0;
    __syncthreads();
    for (int p = threadIdx.x; p < ranks(d); p += blockDim.x) {
        if (p != self(d) && met[p] && peer_ctrl(d, p, TR_EP_COMB) >= (s + 1) << 1) {
            met[p] = 0;
            on_timeout(d, p, TR_EP_PHASE_COMBINE_RECV);
            s_dropped = 1;
        }
    }
    __syncthreads();
    const bool dropped = s_dropped != 0;
    if (dropped) {
        mark_valid_experts(d, met, -1);
        __syncthreads();
    }
    return dropped;
}

}  // namespace tr_ep

// The wait half of combine. valid[e] = the first row of this rank's block in expert e's combine-send rows, or -1.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_ep_combine_wait(const TrEpBatch b, uint64_t timeout_ns) {
    using namespace tr_ep;
    tr_await_previous_kernel();
    const TrEp* d = TR_EP_BATCH_RANK(b);
    if (d == nullptr) return;
    trace_begin(d, TR_EP_TRACE_COMBINE_WAIT);
    const uint64_t s = state(d)->seq;
    int* met = own<int>(d, d->off_cmet);
    await_active_peers(d, TR_EP_COMB, s << 1 | 1, timeout_ns, TR_EP_PHASE_COMBINE_RECV, met,
                       own<int64_t>(d, d->off_cwait));
    tr_allow_next_kernel();
    mark_valid_experts(d, met, -1);
    trace_end(d, TR_EP_TRACE_COMBINE_WAIT);
}

// out: bf16 [n][H], lost: float32 [n] (the rank's private output); weights: float32 [n][k] in device memory.
// Grid: any number of blocks of TR_EP_REDUCE_THREADS (grid-stride over tokens). The last block to finish re-checks
// the expert ranks (RankProtocol's seqlock): one whose COMB reached (seq + 1) << 1 started rewriting its outputs for
// its next step, so it is masked (or reported, non-elastic) and every token is reduced again without it by that block.
extern "C" __global__ void __launch_bounds__(TR_EP_REDUCE_THREADS, TR_EP_REDUCE_MIN_BLOCKS)
tr_ep_combine_reduce(const TrEpReduceBatch b) {
    using namespace tr_ep;
    tr_await_previous_kernel();
    const TrEp* d = TR_EP_BATCH_RANK(b);
    if (d == nullptr) return;
    const float* weights = reinterpret_cast<const float*>(b.weights[blockIdx.y]);
    trace_begin(d, TR_EP_TRACE_REDUCE);
    int first = blockIdx.x;
    int stride = gridDim.x;
    // One call site of reduce_tokens (it is large once inlined): attempt -1 is the grid's pass, later attempts are
    // the last block's redos.
    for (int attempt = -1; attempt < 3; ++attempt) {
        if (attempt >= 0) {
            if (!recheck_combine(d)) break;
            first = 0;
            stride = 1;
        }
        reduce_tokens(d, weights, first, stride);
        if (attempt == -1 && !last_block(&state(d)->reduce_done)) break;
        __threadfence();
    }
    trace_end(d, TR_EP_TRACE_REDUCE);
}
