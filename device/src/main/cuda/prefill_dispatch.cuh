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
// The prefill mode's dispatch rows (prefill.cuh has the protocol): each round's pack and copy, then the handle.
#pragma once

#include "prefill.cuh"

// ------------------------------------------------------------------------------------------------ dispatch rows

// Round `round` of the dispatch's send: for every live destination with a chunk in this round (only destination `kind`
// when kind >= 0: the host then writes a round's chunks one launch each), its tokens' entries (token, local expert
// ids restricted to it, matching weights, the row as bf16 or fp8 codes + float32 scales) into slot round % C of its
// queue; the last block publishes DISPATCH_SENT = round + 1. One warp per entry.
extern "C" __global__ void __launch_bounds__(TR_PF_ROW_THREADS)
tr_pf_pack(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int K = static_cast<int>(d->max_topk);
    const int c = a.round;
    const int C = static_cast<int>(f->chunks);
    const int CR = static_cast<int>(f->chunk_rows);
    const int* dest_count = arr<int>(d, f->off_dest_count);
    const int* dest_start = arr<int>(d, f->off_dest_start);
    const int* dest_tokens = arr<int>(d, f->off_dest_tokens);
    const int* routed = arr<int>(d, f->off_routed);
    const float* weights = reinterpret_cast<const float*>(a.weights);
    const int lane = threadIdx.x % 32;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
    const bool fp8 = (a.format & TR_EP_FORMAT_FP8) != 0;
    const int mode = (a.format & TR_EP_FORMAT_ROUND_SCALE) != 0 ? TR_FP8_SCALE_POW2 : TR_FP8_SCALE_FLOAT;
    const int G = static_cast<int>(d->scale_groups);
    for (int64_t item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; item < static_cast<int64_t>(R) * CR;
         item += warps) {
        const int r = static_cast<int>(item / CR);
        const int m = static_cast<int>(item % CR);
        const int i = c * CR + m;
        if (i >= dest_count[r] || (a.kind >= 0 && r != a.kind) || !live(d, f, r)) continue;
        const int t = dest_tokens[dest_start[r] + i];
        uint8_t* entry = base(d) + f->off_queues + ((static_cast<int64_t>(r) * C + c % C) * CR + m) * f->entry_bytes;
        if (lane == 0) *reinterpret_cast<int*>(entry) = t;
        for (int j = lane; j < K; j += 32) {
            const int e = j < a.k ? routed[static_cast<int64_t>(t) * a.k + j] : -1;
            const bool local = e >= 0 && e / L == r;
            reinterpret_cast<int*>(entry + 4)[j] = local ? e % L : -1;
            reinterpret_cast<float*>(entry + 4 + 4 * K)[j] = local ? weights[static_cast<int64_t>(t) * a.k + j] : 0.0f;
        }
        uint8_t* row = entry + f->entry_row;
        if (!fp8) {
            warp_stage_row(reinterpret_cast<uint16_t*>(row), reinterpret_cast<const void*>(a.x), a.dtype, t, H, lane);
        } else {
            const int half = lane / 16;
            const int sub = lane % 16;
            for (int pair = 0; pair < G; pair += 2) {
                const int g = pair + half;
                float v[8];
                if (g < G) {
                    load8_as_bf16(v, reinterpret_cast<const void*>(a.x), a.dtype,
                                  static_cast<int64_t>(t) * H + g * TR_FP8_GROUP + sub * 8);
                } else {
#pragma unroll
                    for (int q = 0; q < 8; ++q) v[q] = 0.0f;
                }
                tr_fp8_quantize_group(v, g < G, g, sub, mode, row, row + H);
            }
        }
    }
    if (last_block(&arr<TrPfState>(d, f->off_state)->pack_done)) {
        __threadfence_system();
        for (int r = threadIdx.x; r < R; r += blockDim.x) {
            if (c < chunks_of(dest_count[r], CR) && (a.kind < 0 || r == a.kind) && live(d, f, r)) {
                st_release(progress(base(d), f, TR_PF_DISPATCH_SENT, r, R), tag(a.step, c + 1));
            }
        }
    }
}

// Round `round` of the dispatch's receive: chunk `round` of every kept source into the receive batch at
// recv_begin[p] + round * CR (rows, scales, local ids as int64, weights, src_rank, src_token); the last block
// publishes DISPATCH_TAKEN = round + 1 (the credit). A source masked meanwhile is no longer kept. One warp per entry.
extern "C" __global__ void __launch_bounds__(TR_PF_ROW_THREADS)
tr_pf_copy(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int me = self(d);
    const int H = static_cast<int>(d->hidden);
    const int K = static_cast<int>(d->max_topk);
    const int G = static_cast<int>(d->scale_groups);
    const int Tp = static_cast<int>(f->max_tokens);
    const int c = a.round;
    const int C = static_cast<int>(f->chunks);
    const int CR = static_cast<int>(f->chunk_rows);
    int* kept = arr<int>(d, f->off_kept);
    const int* recv_from = arr<int>(d, f->off_recv_from);
    const int* recv_begin = arr<int>(d, f->off_recv_begin);
    const bool fp8 = (a.format & TR_EP_FORMAT_FP8) != 0;
    const bool ue8m0 = (a.format & TR_EP_FORMAT_UE8M0) != 0;
    const int lane = threadIdx.x % 32;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
    for (int64_t item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; item < static_cast<int64_t>(R) * CR;
         item += warps) {
        const int p = static_cast<int>(item / CR);
        const int m = static_cast<int>(item % CR);
        const int i = c * CR + m;
        if (!kept[p] || i >= recv_from[p]) continue;
        if (!live(d, f, p)) {
            if (lane == 0) st_volatile(kept + p, 0);
            continue;
        }
        const PeerRef src = peer_ref(d, p);
        const uint8_t* entry =
            src.base + f->off_queues + ((static_cast<int64_t>(me) * C + c % C) * CR + m) * f->entry_bytes;
        const int64_t row = recv_begin[p] + i;
        const int token = max(0, min(peer_load_warp(src, reinterpret_cast<const int*>(entry), lane), Tp - 1));
        for (int j = lane; j < K; j += 32) {
            reinterpret_cast<int64_t*>(a.recv_ids)[row * K + j] =
                peer_load(src, reinterpret_cast<const int*>(entry + 4) + j);
            reinterpret_cast<int*>(a.recv_weights)[row * K + j] =
                peer_load(src, reinterpret_cast<const int*>(entry + 4 + 4 * K) + j);
        }
        const uint8_t* wire = entry + f->entry_row;
        if (!fp8) {
            peer_read_warp(reinterpret_cast<uint8_t*>(a.recv_rows) + row * 2 * H, src, wire, 2LL * H, lane);
        } else {
            peer_read_warp(reinterpret_cast<uint8_t*>(a.recv_rows) + row * H, src, wire, H, lane);
            if (!ue8m0) {
                peer_read_warp(reinterpret_cast<uint8_t*>(a.recv_scales) + row * 4 * G, src, wire + H, 4LL * G,
                               lane);
            } else {
                for (int g = lane; g < G; g += 32) {
                    // The power-of-two scale's biased exponent (io.tokenroute.arrow.numeric.Ue8m0#pack).
                    const uint32_t bits = static_cast<uint32_t>(peer_load(src, reinterpret_cast<const int*>(wire + H) + g));
                    reinterpret_cast<uint8_t*>(a.recv_scales)[row * G + g] = static_cast<uint8_t>(bits >> 23);
                }
            }
        }
        if (lane == 0) {
            reinterpret_cast<int*>(a.recv_src_rank)[row] = p;
            reinterpret_cast<int*>(a.recv_src_token)[row] = token;
        }
    }
    if (last_block(&arr<TrPfState>(d, f->off_state)->copy_done)) {
        __threadfence_system();
        for (int p = threadIdx.x; p < R; p += blockDim.x) {
            if (!kept[p] || c >= chunks_of(recv_from[p], CR)) continue;
            if (!live(d, f, p)) {
                kept[p] = 0;
            } else {
                st_release(progress(base(d), f, TR_PF_DISPATCH_TAKEN, p, R), tag(a.step, c + 1));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------ handle

// After the rounds: sources no longer kept lose every row (later sources move down, so the batch stays contiguous
// per source, ascending), then the handle: per local expert its rows ascending (a row routed to two local experts is
// listed under both), each (row, slot)'s entry, the counts and prefix sums. Fills the summary. One block of
// TR_PF_PLAN_THREADS: warp w owns a contiguous range of rows.
extern "C" __global__ void __launch_bounds__(TR_PF_PLAN_THREADS)
tr_pf_handle(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    __shared__ int s_count[32][TR_PF_HANDLE_EXPERTS];
    __shared__ int s_offset[32][TR_PF_HANDLE_EXPERTS];
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int K = static_cast<int>(d->max_topk);
    const int G = static_cast<int>(d->scale_groups);
    int* kept = arr<int>(d, f->off_kept);
    int* recv_from = arr<int>(d, f->off_recv_from);
    int* recv_begin = arr<int>(d, f->off_recv_begin);
    int* summary = arr<int>(d, f->off_summary);
    int* expert_count = summary + TR_PF_SUMMARY_HEADER + 3 * R;
    int* expert_begin = expert_count + L;
    const bool fp8 = (a.format & TR_EP_FORMAT_FP8) != 0;
    const int64_t row_bytes = fp8 ? H : 2LL * H;
    const int64_t scale_bytes = fp8 ? ((a.format & TR_EP_FORMAT_UE8M0) != 0 ? G : 4LL * G) : 0;
    const int warp = threadIdx.x / 32;
    const int warps = blockDim.x / 32;

    // Compaction (only after a source was lost mid-stream): row by row, ascending, so a row is read before any later
    // row's move can overwrite it.
    int write = 0;
    for (int p = 0; p < R; ++p) {
        const int count = kept[p] ? recv_from[p] : 0;
        const int from = recv_begin[p];
        if (count > 0 && from != write) {
            for (int i = 0; i < count; ++i) {
                const int64_t s = from + i;
                const int64_t t = write + i;
                block_move(reinterpret_cast<uint8_t*>(a.recv_rows) + t * row_bytes,
                           reinterpret_cast<uint8_t*>(a.recv_rows) + s * row_bytes, row_bytes);
                block_move(reinterpret_cast<uint8_t*>(a.recv_scales) + t * scale_bytes,
                           reinterpret_cast<uint8_t*>(a.recv_scales) + s * scale_bytes, scale_bytes);
                block_move(reinterpret_cast<uint8_t*>(a.recv_ids) + t * 8 * K,
                           reinterpret_cast<uint8_t*>(a.recv_ids) + s * 8 * K, 8LL * K);
                block_move(reinterpret_cast<uint8_t*>(a.recv_weights) + t * 4 * K,
                           reinterpret_cast<uint8_t*>(a.recv_weights) + s * 4 * K, 4LL * K);
                block_move(reinterpret_cast<uint8_t*>(a.recv_src_rank) + t * 4,
                           reinterpret_cast<uint8_t*>(a.recv_src_rank) + s * 4, 4);
                block_move(reinterpret_cast<uint8_t*>(a.recv_src_token) + t * 4,
                           reinterpret_cast<uint8_t*>(a.recv_src_token) + s * 4, 4);
                __syncthreads();
            }
            if (threadIdx.x == 0) atomicOr(summary + TR_PF_SUM_FLAGS, TR_PF_FLAG_COMPACT);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            recv_from[p] = count;
            recv_begin[p] = write;
        }
        write += count;
    }
    __syncthreads();
    const int rows = write;
    if (threadIdx.x == 0) recv_begin[R] = rows;

    const int64_t* ids = reinterpret_cast<const int64_t*>(a.recv_ids);
    int* expert_pos = reinterpret_cast<int*>(a.recv_expert_pos);
    int* expert_rows = reinterpret_cast<int*>(a.expert_rows);
    const int per = (rows + warps - 1) / warps;
    const int lo = min(rows, warp * per);
    const int hi = min(rows, lo + per);
    // Experts in batches of TR_PF_HANDLE_EXPERTS. Pass 0 counts each expert's rows; pass 1 counts them per warp
    // again and writes each entry at expert_begin + the expert's rows in earlier warps + earlier rows of this warp.
    for (int pass = 0; pass < 2; ++pass) {
        for (int first = 0; first < L; first += TR_PF_HANDLE_EXPERTS) {
            const int batch = min(TR_PF_HANDLE_EXPERTS, L - first);
            handle_rows(ids, K, lo, hi, first, batch, s_count[warp], nullptr, nullptr, nullptr);
            __syncthreads();
            for (int x = threadIdx.x; x < batch; x += blockDim.x) {
                int running = pass == 0 ? 0 : expert_begin[first + x];
                for (int w = 0; w < warps; ++w) {
                    s_offset[w][x] = running;
                    running += s_count[w][x];
                }
                if (pass == 0) expert_count[first + x] = running;
            }
            __syncthreads();
            if (pass == 1) {
                handle_rows(ids, K, lo, hi, first, batch, s_count[warp], s_offset[warp], expert_rows, expert_pos);
            }
            __syncthreads();
        }
        if (pass == 0 && threadIdx.x == 0) {
            int running = 0;
            for (int l = 0; l < L; ++l) {
                expert_begin[l] = running;
                running += expert_count[l];
            }
            expert_begin[L] = running;
            summary[TR_PF_SUM_ENTRIES] = running;
        }
        __syncthreads();
    }
    // Slots routed nowhere here.
    for (int64_t i = threadIdx.x; i < static_cast<int64_t>(rows) * K; i += blockDim.x) {
        if (ids[i] < 0 || ids[i] >= L) expert_pos[i] = -1;
    }
    if (threadIdx.x == 0) {
        summary[TR_PF_SUM_ROWS] = rows;
        for (int p = 0; p < R; ++p) {
            summary[TR_PF_SUMMARY_HEADER + p] = kept[p];
            summary[TR_PF_SUMMARY_HEADER + R + p] = recv_from[p];
        }
    }
}
