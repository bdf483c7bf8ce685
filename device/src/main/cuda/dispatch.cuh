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
// Elastic EP, part 2: dispatch (docs/contract.md §2 dispatch, RankProtocol#dispatch). Per rank and step s, in stream
// order:
//
//   1. tr_ep_dispatch_send     seqlock marker DISP = s << 1; one block plans the routing; the other blocks stage the
//                              rows into staging slot s & 1: bf16 (converted from fp16/fp32 when needed), or fp8
//                              codes and scales quantised straight from the input (the arithmetic of fp8.cuh's
//                              tr_fp8_quantize_bf16, fused here so fp8 costs no extra pass and no extra kernel); the
//                              last block to finish release-stores DISP = s << 1 | 1.
//   2. tr_ep_dispatch_wait     one block: waits on every active peer's DISP >= s << 1 | 1 (timeout, mask re-read,
//                              wait-cost stats), drops peers whose fp8 options differ, then builds the layout:
//                              per local expert, blocks in ascending source rank, each the source's rows for that
//                              expert in ascending token order; publishes it for combine, reports counts to the host,
//                              and commits seq = s.
//   3. tr_ep_dispatch_copy     every warp copies received rows straight from the sources' staging into the packed
//                              receive buffer (16-byte loads), with src_rank / src_token; the last block re-checks
//                              that no source moved on meanwhile (seqlock) and redoes the step without it if one did.
//
// Each kernel is launched batched (blockIdx.y = rank, sync.cuh TrEp*Batch) or per rank (gridDim.y = 1). The send phase
// (1) of every rank is launched before any receive phase (2, 3): one process may drive all ranks of a cuda-local group
// from one thread without relying on the kernels being co-resident. Only the wait kernel spins, in one block per rank.
//
// Determinism: the position of token t in its destination expert's list is the number of tokens t' < t routed to that
// expert, read off a per-expert bitmap of tokens (population counts of the words below t), never from the order in
// which threads ran; a source masked before or during the wait contributes no rows to any expert of the call.
#pragma once

#include "fp8.cuh"  // fp8 staging quantises with tr_fp8_quantize_group
#include "sync.cuh"

namespace tr_ep {

// One row of the input, converted to bf16 bits: dtype TR_EP_DTYPE_BF16 (copy), _FP16 or _FP32, rounding as
// tokenroute_common.cuh (bit-exact with the Java numerics).
__device__ __forceinline__ void warp_stage_row(uint16_t* dst, const void* x, int dtype, int64_t t, int hidden,
                                               int lane) {
    if (dtype == TR_EP_DTYPE_BF16) {
        warp_copy(reinterpret_cast<uint8_t*>(dst), static_cast<const uint8_t*>(x) + 2 * t * hidden, 2LL * hidden,
                  lane);
    } else if (dtype == TR_EP_DTYPE_FP16) {
        const uint16_t* src = static_cast<const uint16_t*>(x) + t * hidden;
        for (int h = lane; h < hidden; h += 32) dst[h] = tr_f32_bits_to_bf16(tr_f16_to_f32_bits(src[h]));
    } else {
        const uint32_t* src = static_cast<const uint32_t*>(x) + t * hidden;
        for (int h = lane; h < hidden; h += 32) dst[h] = tr_f32_bits_to_bf16(src[h]);
    }
}

}  // namespace tr_ep

namespace tr_ep {

// Inclusive scan of v over the block (any blockDim that is a multiple of 32, at most 1024); warp_sums holds 32 ints.
__device__ __forceinline__ int block_inclusive_scan(int v, int* warp_sums) {
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const int u = __shfl_up_sync(0xFFFFFFFFu, v, o);
        if (lane >= o) v += u;
    }
    if (lane == 31) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int w = lane < blockDim.x / 32 ? warp_sums[lane] : 0;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int u = __shfl_up_sync(0xFFFFFFFFu, w, o);
            if (lane >= o) w += u;
        }
        warp_sums[lane] = w;
    }
    __syncthreads();
    return v + (warp > 0 ? warp_sums[warp - 1] : 0);
}

// The layout of step s from the sources in met[] (RankProtocol#receiveRows' bookkeeping): per local expert l, blocks
// in ascending source rank; publishes it (symmetric layout for combine readers, host report), the receive counts,
// the row base of each expert, where each block starts in its source's token lists, and the stats. With undo, the
// counts of a previous build for the same step are first taken back out of the cumulative stats. Whole block.
__device__ void build_layout(const TrEp* d, uint64_t s, const int* met, bool undo) {
    __shared__ int s_count[TR_EP_LAYOUT_SMEM_CELLS];
    __shared__ int s_sums[32];
    TrEpState* st = state(d);
    const int R = ranks(d);
    const int me = self(d);
    const int L = static_cast<int>(d->local_experts);
    const int64_t slot_offset = d->off_stage + (s & 1) * d->stage_stride;
    int* layout = own<int>(d, d->off_layout);
    int* src_begin = own<int>(d, d->off_src_begin);
    int* counts = own<int>(d, d->off_recv_count);
    int* row_base = own<int>(d, d->off_row_base);
    int64_t* cumulative = own<int64_t>(d, d->off_cum_recv);
    int* rep_layout = report_layout(d);
    int* rep_counts = report_recv_count(d);
    const bool stats = st->stats != 0;
    const int max_tokens = static_cast<int>(d->max_tokens);
    const int max_entries = static_cast<int>(d->max_tokens * d->max_topk);
    const int64_t cap = d->recv_capacity;
    const bool in_smem = L * R <= TR_EP_LAYOUT_SMEM_CELLS;
    // Phase A, one thread per (local expert, source) cell, all peer reads in flight at once: the block's size and
    // where it starts in the source's token lists. Only a torn read (a peer rewriting the slot, caught by the
    // re-check) gives counts outside [0, T]; clamping keeps every write inside this rank's buffers meanwhile.
    for (int cell = threadIdx.x; cell < L * R; cell += blockDim.x) {
        const int l = cell / R;
        const int p = cell % R;
        int count = 0;
        int first = 0;
        if (met[p]) {
            const PeerRef src = peer_ref(d, p);
            const int* csr = reinterpret_cast<const int*>(src.base + slot_offset + d->st_csr);
            const int e = me * L + l;
            first = peer_load(src, csr + e);
            count = max(0, min(peer_load(src, csr + e + 1) - first, max_tokens));
            first = max(0, min(first, max_entries - count));
        }
        if (in_smem) s_count[cell] = count; else layout[2 * cell + 1] = count;
        src_begin[cell] = first;
    }
    __syncthreads();
    // Phase B, each thread a contiguous chunk of local experts: blocks in ascending source rank, then a block scan of
    // the chunk totals gives each expert's first row among all received rows (row_base).
    const int per = (L + blockDim.x - 1) / blockDim.x;
    const int lo = threadIdx.x * per;
    const int hi = min(L, lo + per);
    int local = 0;
    for (int l = lo; l < hi; ++l) {
        if (undo && stats) cumulative[l] -= counts[l];
        int offset = 0;
        for (int p = 0; p < R; ++p) {
            const int cell = l * R + p;
            const int count = min(in_smem ? s_count[cell] : layout[2 * cell + 1], static_cast<int>(cap) - offset);
            layout[2 * cell] = offset;
            layout[2 * cell + 1] = count;
            // Plain stores: the host reads the report after the kernel completed (stream order), never polls it.
            rep_layout[2 * cell] = offset;
            rep_layout[2 * cell + 1] = count;
            offset += count;
        }
        counts[l] = offset;
        rep_counts[l] = offset;
        if (stats) cumulative[l] += offset;
        local += offset;
    }
    const int inclusive = block_inclusive_scan(local, s_sums);
    int running = inclusive - local;
    for (int l = lo; l < hi; ++l) {
        row_base[l] = running;
        running += counts[l];
    }
    if (threadIdx.x == blockDim.x - 1) {
        row_base[L] = inclusive;
        st->total_rows = inclusive;
    }
    __threadfence_block();
    __syncthreads();
}

// Where the copy finds its tables: shared-memory copies when they fit, else the rank's global arrays.
struct CopyTables {
    const int* row_base;   // [L + 1]
    const int* layout;     // [L][R][2] (begin, count)
    const int* src_begin;  // [L][R]
};

__device__ __forceinline__ CopyTables load_copy_tables(const TrEp* d, int* s_row_base, int* s_layout,
                                                       int* s_src_begin) {
    const int L = static_cast<int>(d->local_experts);
    const int cells = L * ranks(d);
    CopyTables t{own<int>(d, d->off_row_base), own<int>(d, d->off_layout), own<int>(d, d->off_src_begin)};
    if (L + 1 <= TR_EP_COPY_MAX_EXPERTS + 1) {
        for (int i = threadIdx.x; i <= L; i += blockDim.x) s_row_base[i] = t.row_base[i];
        t.row_base = s_row_base;
    }
    if (cells <= TR_EP_COPY_MAX_CELLS) {
        for (int i = threadIdx.x; i < cells; i += blockDim.x) {
            s_layout[2 * i] = t.layout[2 * i];
            s_layout[2 * i + 1] = t.layout[2 * i + 1];
            s_src_begin[i] = t.src_begin[i];
        }
        t.layout = s_layout;
        t.src_begin = s_src_begin;
    }
    __syncthreads();
    return t;
}

// Copies received rows [first, total) with stride (warp-granular: one warp per row) from the sources' staging slot of
// step s into the packed receive buffer, with src_rank / src_token.
__device__ void copy_rows(const TrEp* d, uint64_t s, const CopyTables& t, int64_t first, int64_t stride) {
    const TrEpState* st = state(d);
    const int total = st->total_rows;
    const int fp8 = st->format & TR_EP_FORMAT_FP8;
    const int ue8m0 = (st->format & TR_EP_FORMAT_UE8M0) != 0;
    const int R = ranks(d);
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int G = static_cast<int>(d->scale_groups);
    const int64_t cap = d->recv_capacity;
    const int64_t slot_offset = d->off_stage + (s & 1) * d->stage_stride;
    uint8_t* recv_x = own<uint8_t>(d, d->off_recv_x);
    uint8_t* recv_scales = own<uint8_t>(d, d->off_recv_scales);
    int* src_rank = own<int>(d, d->off_src_rank);
    int* src_token = own<int>(d, d->off_src_token);
    const int lane = threadIdx.x % 32;
    const int64_t row_bytes = fp8 ? H : 2LL * H;
    const int scale_bytes = ue8m0 ? 1 : 4;
    const int max_tokens = static_cast<int>(d->max_tokens);

    for (int64_t g = first; g < total; g += stride) {
        // Local expert: the last l with row_base[l] <= g.
        int lo = 0, hi = L - 1;
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (t.row_base[mid] <= g) lo = mid; else hi = mid - 1;
        }
        const int l = lo;
        const int i = static_cast<int>(g - t.row_base[l]);
        // Source rank: the block of layout[l][*] holding row i.
        int p = -1;
        for (int p0 = 0; p0 < R && p < 0; p0 += 32) {
            const int q = p0 + lane;
            bool hit = false;
            if (q < R) {
                const int begin = t.layout[2 * (l * R + q)];
                const int count = t.layout[2 * (l * R + q) + 1];
                hit = count > 0 && begin <= i && i < begin + count;
            }
            const unsigned ballot = __ballot_sync(0xFFFFFFFFu, hit);
            if (ballot != 0) p = p0 + __ffs(ballot) - 1;
        }
        if (p < 0) continue;  // unreachable for a consistent layout
        const int cell = l * R + p;
        const PeerRef src = peer_ref(d, p);
        const uint8_t* src_slot = src.base + slot_offset;
        const int* tokens = reinterpret_cast<const int*>(src_slot + d->st_tokens);
        // Clamped for the same reason as the counts in build_layout: a torn read must not leave the slot.
        const int token = max(0, min(peer_load_warp(src, tokens + (t.src_begin[cell] + i - t.layout[2 * cell]), lane),
                                     max_tokens - 1));
        const int64_t row = static_cast<int64_t>(l) * cap + i;
        // Expert l's rows start at l * cap bf16 rows in either format (fp8 rows are packed at the start of that
        // region), as RankProtocol's receive buffer.
        uint8_t* dst = recv_x + static_cast<int64_t>(l) * cap * 2LL * H + i * row_bytes;
        if (!fp8) {
            peer_read_warp(dst, src, src_slot + d->st_bf16 + token * row_bytes, row_bytes, lane);
        } else {
            peer_read_warp(dst, src, src_slot + d->st_fp8 + token * row_bytes, row_bytes, lane);
            peer_read_warp(recv_scales + row * G * scale_bytes, src,
                           src_slot + d->st_scales + static_cast<int64_t>(token) * G * scale_bytes,
                           static_cast<int64_t>(G) * scale_bytes, lane);
        }
        if (lane == 0) {
            src_rank[row] = p;
            src_token[row] = token;
        }
    }
}

// The last block's re-check after the copy: sources whose DISP reached (s + 2) << 1 were rewriting the slot being
// read; they are masked (or reported) and the layout rebuilt without them. Returns whether any was dropped.
__device__ __forceinline__ bool recheck_dispatch(const TrEp* d, uint64_t s) {
    __shared__ int s_dropped;
    int* met = own<int>(d, d->off_met);
    __syncthreads();
    if (threadIdx.x == 0) s_dropped = 0;
    __syncthreads();
    for (int p = threadIdx.x; p < ranks(d); p += blockDim.x) {
        if (p != self(d) && met[p] && peer_ctrl(d, p, TR_EP_DISP) >= (s + 2) << 1) {
            met[p] = 0;
            on_timeout(d, p, TR_EP_PHASE_DISPATCH_RECV);
            s_dropped = 1;
        }
    }
    __syncthreads();
    const bool dropped = s_dropped != 0;
    if (dropped) build_layout(d, s, met, true);
    return dropped;
}

}  // namespace tr_ep

namespace tr_ep {

// One lane's 8 consecutive channels of the input as float32 values of bf16 numbers: bf16 as is, fp16/fp32 rounded to
// bf16 first (as the Java protocol stages them). x + offset must be 16-byte aligned (32 for fp32).
__device__ __forceinline__ void load8_as_bf16(float v[8], const void* x, int dtype, int64_t channel) {
    if (dtype == TR_EP_DTYPE_BF16) {
        const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + channel));
        const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            v[2 * q] = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(w[q])));
            v[2 * q + 1] = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(w[q] >> 16)));
        }
    } else if (dtype == TR_EP_DTYPE_FP16) {
        const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + channel));
        const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            v[2 * q] = __uint_as_float(tr_bf16_to_f32_bits(tr_f32_bits_to_bf16(
                tr_f16_to_f32_bits(static_cast<uint16_t>(w[q])))));
            v[2 * q + 1] = __uint_as_float(tr_bf16_to_f32_bits(tr_f32_bits_to_bf16(
                tr_f16_to_f32_bits(static_cast<uint16_t>(w[q] >> 16)))));
        }
    } else {
        const uint4* p = reinterpret_cast<const uint4*>(static_cast<const uint32_t*>(x) + channel);
        const uint4 a = __ldcg(p);
        const uint4 b = __ldcg(p + 1);
        const uint32_t w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int q = 0; q < 8; ++q) v[q] = __uint_as_float(tr_bf16_to_f32_bits(tr_f32_bits_to_bf16(w[q])));
    }
}

// FP8 staging, fused into the send kernel: each group goes through tr_fp8_quantize_group (fp8.cuh, same translation
// unit), the quantisation of tr_fp8_quantize_bf16, so the codes and scales are bit-exact with
// io.tokenroute.arrow.numeric.Fp8Quantizer like that kernel's. Each half-warp owns one group; a
// warp takes TR_EP_FP8_UNROLL group pairs per step so that many loads are in flight. Whole warps only.
__device__ __forceinline__ void warp_quantize_rows(uint8_t* q, uint8_t* scales, const void* x, int dtype, int n,
                                                   int hidden, int mode, int64_t first_pair, int64_t pair_stride) {
    const int lane = threadIdx.x & 31;
    const int half = lane / 16;
    const int sub = lane % 16;
    const int64_t groups = static_cast<int64_t>(n) * (hidden / TR_FP8_GROUP);
    const int64_t pairs = (groups + 1) / 2;
    for (int64_t base = first_pair; base < pairs; base += pair_stride * TR_EP_FP8_UNROLL) {
        float v[TR_EP_FP8_UNROLL][8];
#pragma unroll
        for (int u = 0; u < TR_EP_FP8_UNROLL; ++u) {
            const int64_t g = 2 * (base + u * pair_stride) + half;
            if (g < groups) {
                load8_as_bf16(v[u], x, dtype, g * TR_FP8_GROUP + sub * 8);
            } else {
#pragma unroll
                for (int j = 0; j < 8; ++j) v[u][j] = 0.0f;
            }
        }
#pragma unroll
        for (int u = 0; u < TR_EP_FP8_UNROLL; ++u) {
            const int64_t pair = base + u * pair_stride;
            if (pair >= pairs) break;  // warp-uniform
            const int64_t g = 2 * pair + half;
            tr_fp8_quantize_group(v[u], g < groups, g, sub, mode, q, scales);
        }
    }
}

}  // namespace tr_ep

// The send half of dispatch, batched over gridDim.y ranks (TrEpSendBatch; x: n x H input rows of dtype in device
// memory, the caller's batch or the rank's input area; idx: n x k int64 expert ids, -1 = none); format is the
// DispatchOptions format code (TR_EP_FORMAT_* bits, 0 for bf16), equal for all ranks. One block per rank plans the
// routing (the grid's first gridDim.y blocks); each rank's gridDim.x - 1 others stage its rows: bf16
// (converted from fp16/fp32), or fp8 codes and scales quantised straight from the input. The last block to finish
// release-stores DISP = s << 1 | 1. Grid (>= 2, ranks) blocks of TR_EP_SEND_THREADS; dynamic shared memory:
// 4 (E ceil(T / 32) + E + 1) bytes to plan in shared memory (when that is at most TR_EP_PLAN_SMEM_BYTES), or 0 to plan
// in the rank's global scratch.
extern "C" __global__ void __launch_bounds__(TR_EP_SEND_THREADS, TR_EP_SEND_MIN_BLOCKS)
tr_ep_dispatch_send(const TrEpSendBatch b, int format) {
    using namespace tr_ep;
    extern __shared__ uint32_t s_plan[];
    __shared__ int s_mask[TR_EP_MAX_RANKS];
    __shared__ int s_sums[32];
    __shared__ int s_bad;

    // Roles by launch order, not by blockIdx: the first gridDim.y blocks plan, one per rank, and the rest stage rows,
    // gridDim.x - 1 per rank. Blocks start in linear order, and an fp8 grid spans more than one wave: with the plan
    // at blockIdx.x = 0, the plans of the last ranks started in the second wave and ended the send late.
    const int linear = blockIdx.y * gridDim.x + blockIdx.x;
    const bool plans = linear < static_cast<int>(gridDim.y);
    const int slot_of_rank = plans ? linear : (linear - static_cast<int>(gridDim.y)) / (gridDim.x - 1);
    tr_allow_next_kernel();
    const TrEp* d = reinterpret_cast<const TrEp*>(b.desc[slot_of_rank]);
    if (d == nullptr) return;
    const void* x = reinterpret_cast<const void*>(b.x[slot_of_rank]);
    const int64_t* idx = reinterpret_cast<const int64_t*>(b.idx[slot_of_rank]);
    const int n = b.n[slot_of_rank];
    const int k = b.k[slot_of_rank];
    const int dtype = b.dtype[slot_of_rank];
    trace_begin(d, TR_EP_TRACE_SEND);
    TrEpState* st = state(d);
    const uint64_t s = st->seq + 1;
    const int R = ranks(d);
    const int me = self(d);
    const int E = static_cast<int>(d->experts);
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int W = static_cast<int>(d->bitmap_words);
    uint8_t* slot = base(d) + d->off_stage + (s & 1) * d->stage_stride;
    uint64_t* disp = ctrl(base(d), d, TR_EP_DISP);

    // Seqlock: a reader that saw anything of this step's slot will also see the marker (RankProtocol's
    // DISPATCH_STATE = q << 1 before the rows), and drops this rank if it was still reading step s - 2.
    if (threadIdx.x == 0) {
        st_relaxed(disp, s << 1);
        __threadfence();
    }
    __syncthreads();

    if (plans) {
        // ---- the routing plan (RankProtocol#planRouting + writeRoutingLists) ----
        trace_begin(d, TR_EP_TRACE_PLAN);
        const int* mask = own<int>(d, d->off_mask);
        const int max_entries = static_cast<int>(d->max_tokens * d->max_topk);
        // Shared-memory plan when it fits (CudaRankLayout#planSharedBytes computes the same condition): token
        // bitmaps, CSR, and the routed/position entries, written to global memory once at the end.
        const bool in_smem = 4LL * (static_cast<int64_t>(E) * W + E + 1) + 8LL * max_entries
                             <= TR_EP_PLAN_SMEM_BYTES;
        uint32_t* bitmap = in_smem ? s_plan : own<uint32_t>(d, d->off_bitmap);
        int* csr_global = reinterpret_cast<int*>(slot + d->st_csr);
        int* csr = in_smem ? reinterpret_cast<int*>(s_plan + E * W) : csr_global;
        int* routed_global = own<int>(d, d->off_routed);
        int* position_global = own<int>(d, d->off_position);
        int* routed = in_smem ? reinterpret_cast<int*>(s_plan + E * W + E + 1) : routed_global;
        int* position = in_smem ? routed + max_entries : position_global;
        int* sent = own<int>(d, d->off_sent);
        int* tokens = reinterpret_cast<int*>(slot + d->st_tokens);
        const int entries = n * k;
        begin_call_report(d, TR_EP_CALL_DISPATCH);
        if (threadIdx.x == 0) s_bad = 0;
        for (int p = threadIdx.x; p < R; p += blockDim.x) s_mask[p] = ld_volatile(mask + p);
        for (int i = threadIdx.x; i < E * W; i += blockDim.x) bitmap[i] = 0;
        __syncthreads();
        // Pass 1: which entries are sent (expert valid, its rank not masked in this rank's view), token bitmaps.
        // The ids are loaded TR_EP_PLAN_PREFETCH at a time before any is used: the plan's stores go through generic
        // pointers (shared or global memory), so the compiler cannot move a later load above them by itself.
        for (int first = threadIdx.x; first < entries; first += TR_EP_PLAN_PREFETCH * blockDim.x) {
            int64_t ids[TR_EP_PLAN_PREFETCH];
#pragma unroll
            for (int u = 0; u < TR_EP_PLAN_PREFETCH; ++u) {
                const int i = first + u * blockDim.x;
                ids[u] = i < entries ? __ldcg(idx + i) : -1;
            }
#pragma unroll
            for (int u = 0; u < TR_EP_PLAN_PREFETCH; ++u) {
                const int i = first + u * blockDim.x;
                if (i >= entries) break;
                const int64_t e = ids[u];
                const int t = i / k;
                int include = -1;
                if (e >= 0 && e < E) {
                    routed[i] = static_cast<int>(e);
                    const int dest = static_cast<int>(e) / L;
                    if (dest == me || s_mask[dest] == 0) {
                        include = 0;
                        atomicOr(bitmap + e * W + (t >> 5), 1u << (t & 31));
                    }
                } else {
                    routed[i] = -1;
                    if (e != -1) atomicAdd(&s_bad, 1);
                }
                position[i] = include;
            }
        }
        __syncthreads();
        // Per-expert counts and their exclusive scan (CSR offsets): each thread sums a contiguous chunk of experts,
        // then a block scan of the chunk sums. Order-independent, hence deterministic.
        const int per = (E + blockDim.x - 1) / blockDim.x;
        const int lo = threadIdx.x * per;
        const int hi = min(E, lo + per);
        int local = 0;
        for (int e = lo; e < hi; ++e) {
            int c = 0;
            for (int w = 0; w < W; ++w) c += __popc(bitmap[e * W + w]);
            sent[e] = c;
            csr[e] = c;
            local += c;
        }
        const int inclusive = block_inclusive_scan(local, s_sums);
        int running = inclusive - local;
        for (int e = lo; e < hi; ++e) {
            const int c = csr[e];
            csr[e] = running;
            if (in_smem) csr_global[e] = running;
            running += c;
        }
        if (threadIdx.x == blockDim.x - 1) {
            csr[E] = inclusive;
            if (in_smem) csr_global[E] = inclusive;
        }
        __syncthreads();
        // Pass 2: each sent entry's position among the expert's tokens = tokens below it in the expert's bitmap.
        for (int i = threadIdx.x; i < entries; i += blockDim.x) {
            int pos = position[i];
            if (pos >= 0) {
                const int e = routed[i];
                const int t = i / k;
                const uint32_t* row = bitmap + e * W;
                pos = __popc(row[t >> 5] & ((1u << (t & 31)) - 1u));
                for (int w = 0; w < (t >> 5); ++w) pos += __popc(row[w]);
                tokens[csr[e] + pos] = t;
            }
            if (in_smem) {
                routed_global[i] = routed[i];
                position_global[i] = pos;
            } else {
                position[i] = pos;
            }
        }
        if (threadIdx.x == 0) {
            st->n = n;
            st->k = k;
            st->format = format;
            *reinterpret_cast<int*>(slot + d->st_format) = format;
        }
        __syncthreads();
        if (threadIdx.x == 0 && s_bad > 0) {
            st_volatile(report(d) + TR_EP_REP_BAD, s_bad);
            st_volatile(report(d) + TR_EP_REP_FAULT, TR_EP_FAULT_BAD_INPUT);
        }
        trace_end(d, TR_EP_TRACE_PLAN);
    }
    if (!plans || gridDim.x == 1) {
        // ---- the rows ----
        trace_begin(d, TR_EP_TRACE_STAGE);
        const int warps = blockDim.x / 32;
        const int lane = threadIdx.x % 32;
        // This block's place among its rank's stage blocks, recomputed here: kept live through the plan, it spilled.
        const int part = gridDim.x == 1 ? 0 : (linear - static_cast<int>(gridDim.y)) % (gridDim.x - 1);
        const int64_t first = static_cast<int64_t>(part) * warps + threadIdx.x / 32;
        const int64_t stride = static_cast<int64_t>(gridDim.x == 1 ? 1 : gridDim.x - 1) * warps;
        if ((format & TR_EP_FORMAT_FP8) == 0) {
            uint16_t* rows = reinterpret_cast<uint16_t*>(slot + d->st_bf16);
            for (int64_t t = first; t < n; t += stride) {
                warp_stage_row(rows + t * H, x, dtype, t, H, lane);
            }
        } else {
            const int mode = (format & TR_EP_FORMAT_UE8M0)         ? TR_FP8_SCALE_UE8M0
                             : (format & TR_EP_FORMAT_ROUND_SCALE) ? TR_FP8_SCALE_POW2
                                                                   : TR_FP8_SCALE_FLOAT;
            warp_quantize_rows(slot + d->st_fp8, slot + d->st_scales, x, dtype, n, H, mode, first,
                               stride);
        }
        __syncthreads();
        trace_end(d, TR_EP_TRACE_STAGE);
    }
    // ---- the last block to finish publishes ----
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        const unsigned done = atomicAdd(&st->send_done, 1u);
        if (done == gridDim.x - 1) {
            st->send_done = 0;
            __threadfence_system();
            st_release(disp, s << 1 | 1);
        }
    }
    trace_end(d, TR_EP_TRACE_SEND);
}

// The wait half of dispatch (RankProtocol#dispatch from DISPATCH_RECV to publishCombineLayout). One block.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_ep_dispatch_wait(const TrEpBatch b, uint64_t timeout_ns, int stats) {
    using namespace tr_ep;
    tr_await_previous_kernel();
    const TrEp* d = TR_EP_BATCH_RANK(b);
    if (d == nullptr) return;
    trace_begin(d, TR_EP_TRACE_DISPATCH_WAIT);
    TrEpState* st = state(d);
    const uint64_t s = st->seq + 1;
    const int R = ranks(d);
    const int me = self(d);
    const int64_t slot_offset = d->off_stage + (s & 1) * d->stage_stride;
    int* met = own<int>(d, d->off_met);
    const int format = st->format;

    await_active_peers(d, TR_EP_DISP, s << 1 | 1, timeout_ns, TR_EP_PHASE_DISPATCH_RECV, met,
                       own<int64_t>(d, d->off_dwait));
    tr_allow_next_kernel();
    // A peer that dispatched this step with other fp8 options: its rows are not ours to interpret.
    for (int p = threadIdx.x; p < R; p += blockDim.x) {
        if (p == me || !met[p]) continue;
        const PeerRef src = peer_ref(d, p);
        if (peer_load_volatile(src, reinterpret_cast<const int*>(src.base + slot_offset + d->st_format))
            != format) {
            met[p] = 0;
            st_volatile(report(d) + TR_EP_REP_MISMATCH, p + 1);
            st_volatile(report(d) + TR_EP_REP_FAULT, TR_EP_FAULT_FORMAT);
        }
    }
    if (threadIdx.x == 0) {
        st->stats = stats;
        // Seqlock marker for combine readers of the layout and the combine-send rows (RankProtocol: COMBINE_STATE).
        st_relaxed(ctrl(base(d), d, TR_EP_COMB), s << 1);
        __threadfence();
    }
    __syncthreads();
    build_layout(d, s, met, false);
    if (threadIdx.x == 0) st->seq = s;  // read by this rank's later kernels: stream order suffices
    trace_end(d, TR_EP_TRACE_DISPATCH_WAIT);
}

// The copy half of dispatch: received row g (all local experts concatenated) is found by a binary search over the
// experts' row bases and a warp ballot over the layout's source blocks, then copied from the source's staging slot.
// The last block to finish re-checks the sources (RankProtocol's seqlock): one that reached step s + 2 meanwhile
// was rewriting the slot being read (it moved on without this rank, having masked it), so it is masked (or reported,
// non-elastic) and the step is rebuilt without it by that block alone, up to three times.
extern "C" __global__ void __launch_bounds__(TR_EP_COPY_THREADS, TR_EP_COPY_MIN_BLOCKS)
tr_ep_dispatch_copy(const TrEpBatch b) {
    using namespace tr_ep;
    __shared__ int s_row_base[TR_EP_COPY_MAX_EXPERTS + 1];
    __shared__ int s_layout[2 * TR_EP_COPY_MAX_CELLS];
    __shared__ int s_src_begin[TR_EP_COPY_MAX_CELLS];
    tr_await_previous_kernel();
    const TrEp* d = TR_EP_BATCH_RANK(b);
    if (d == nullptr) return;
    trace_begin(d, TR_EP_TRACE_COPY);
    const uint64_t s = state(d)->seq;
    const int warps = blockDim.x / 32;
    int64_t first = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32;
    int64_t stride = static_cast<int64_t>(gridDim.x) * warps;
    // One call site of copy_rows: attempt -1 is the grid's pass, later attempts are the last block's redos.
    for (int attempt = -1; attempt < 3; ++attempt) {
        if (attempt >= 0) {
            if (!recheck_dispatch(d, s)) break;
            first = threadIdx.x / 32;
            stride = warps;
        }
        const CopyTables tables = load_copy_tables(d, s_row_base, s_layout, s_src_begin);
        copy_rows(d, s, tables, first, stride);
        if (attempt == -1 && !last_block(&state(d)->copy_done)) break;
        __threadfence();
    }
    trace_end(d, TR_EP_TRACE_COPY);
}
