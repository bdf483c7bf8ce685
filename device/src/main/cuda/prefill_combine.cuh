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
// The prefill mode's combine (prefill.cuh has the protocol): start, each round's reduce and gather, then the merge.
#pragma once

#include "prefill.cuh"

// ------------------------------------------------------------------------------------------------ combine

// Starts the combine's report and its per-peer state: peers alive unless masked now, partial rows owed to each kept
// source (back_to), partial rows received from each destination (back_got = 0). One block.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_pf_combine_start(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    (void)a;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    begin_call_report(d, TR_EP_CALL_COMBINE);
    for (int p = threadIdx.x; p < R; p += blockDim.x) {
        const bool up = p == self(d) || ld_volatile(own<int>(d, d->off_mask) + p) == 0;
        arr<int>(d, f->off_alive)[p] = up;
        arr<int>(d, f->off_back_to)[p] = up && arr<int>(d, f->off_kept)[p] ? arr<int>(d, f->off_recv_from)[p] : 0;
        arr<int>(d, f->off_back_got)[p] = 0;
    }
}

// Round `round` of the combine's send: for every live source with a chunk in this round (only source `kind` when
// kind >= 0, as in tr_pf_pack), each received row's partial
// output sum over its slots of weight x expert output (fp32 in slot order, a separate multiply and add per term,
// rounded once to bf16: PrefillEngine#writeBackChunk) into slot round % C of the combine queue towards that source,
// with the source's token; the last block publishes COMBINE_SENT = round + 1. One warp per row.
extern "C" __global__ void __launch_bounds__(TR_PF_ROW_THREADS)
tr_pf_reduce(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int H = static_cast<int>(d->hidden);
    const int K = static_cast<int>(d->max_topk);
    const int c = a.round;
    const int C = static_cast<int>(f->chunks);
    const int CR = static_cast<int>(f->chunk_rows);
    const int* back_to = arr<int>(d, f->off_back_to);
    const int* recv_begin = arr<int>(d, f->off_recv_begin);
    const int* pos = reinterpret_cast<const int*>(a.recv_expert_pos);
    const float* w = reinterpret_cast<const float*>(a.recv_weights);
    const uint16_t* y = reinterpret_cast<const uint16_t*>(a.expert_out);
    const int lane = threadIdx.x % 32;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
    for (int64_t item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; item < static_cast<int64_t>(R) * CR;
         item += warps) {
        const int s = static_cast<int>(item / CR);
        const int m = static_cast<int>(item % CR);
        const int i = c * CR + m;
        if (i >= back_to[s] || (a.kind >= 0 && s != a.kind) || !live(d, f, s)) continue;
        const int64_t row = recv_begin[s] + i;
        uint8_t* entry =
            base(d) + f->off_back_queues + ((static_cast<int64_t>(s) * C + c % C) * CR + m) * f->back_entry_bytes;
        if (lane == 0) *reinterpret_cast<int*>(entry) = reinterpret_cast<const int*>(a.recv_src_token)[row];
        uint16_t* out = reinterpret_cast<uint16_t*>(entry + TR_PF_BACK_ROW);
        if (H % 8 == 0) {
            for (int q = lane; q < H / 8; q += 32) {
                float acc[8];
#pragma unroll
                for (int v = 0; v < 8; ++v) acc[v] = 0.0f;
                for (int j = 0; j < K; ++j) {
                    const int at = pos[row * K + j];
                    if (at < 0) continue;
                    const float weight = w[row * K + j];
                    const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(y + static_cast<int64_t>(at) * H) + q);
                    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
                    for (int v = 0; v < 4; ++v) {
                        const float lo = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[v])));
                        const float hi = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[v] >> 16)));
                        acc[2 * v] = __fadd_rn(acc[2 * v], __fmul_rn(weight, lo));
                        acc[2 * v + 1] = __fadd_rn(acc[2 * v + 1], __fmul_rn(weight, hi));
                    }
                }
                uint32_t packed[4];
#pragma unroll
                for (int v = 0; v < 4; ++v) {
                    packed[v] = static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[2 * v])))
                              | static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[2 * v + 1]))) << 16;
                }
                reinterpret_cast<uint4*>(out)[q] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
            }
        } else {
            for (int h = lane; h < H; h += 32) {
                float acc = 0.0f;
                for (int j = 0; j < K; ++j) {
                    const int at = pos[row * K + j];
                    if (at < 0) continue;
                    const float x = __uint_as_float(tr_bf16_to_f32_bits(y[static_cast<int64_t>(at) * H + h]));
                    acc = __fadd_rn(acc, __fmul_rn(w[row * K + j], x));
                }
                out[h] = tr_f32_bits_to_bf16(__float_as_uint(acc));
            }
        }
    }
    if (last_block(&arr<TrPfState>(d, f->off_state)->reduce_done)) {
        __threadfence_system();
        for (int s = threadIdx.x; s < R; s += blockDim.x) {
            if (c < chunks_of(back_to[s], CR) && (a.kind < 0 || s == a.kind) && live(d, f, s)) {
                st_release(progress(base(d), f, TR_PF_COMBINE_SENT, s, R), tag(a.step, c + 1));
            }
        }
    }
}

// Round `round` of the combine's receive: chunk `round` of every live destination's partial rows for this rank, out of
// its combine queue into rank-private memory (partials, at the row's place in dest_tokens); the last block counts them
// (back_got) and publishes COMBINE_TAKEN = round + 1. A row whose token is not the one due drops the destination (it
// cannot happen between ranks of one configuration). One warp per row.
extern "C" __global__ void __launch_bounds__(TR_PF_ROW_THREADS)
tr_pf_gather(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int me = self(d);
    const int H = static_cast<int>(d->hidden);
    const int c = a.round;
    const int C = static_cast<int>(f->chunks);
    const int CR = static_cast<int>(f->chunk_rows);
    int* alive = arr<int>(d, f->off_alive);
    int* back_got = arr<int>(d, f->off_back_got);
    const int* dest_count = arr<int>(d, f->off_dest_count);
    const int* dest_start = arr<int>(d, f->off_dest_start);
    const int* dest_tokens = arr<int>(d, f->off_dest_tokens);
    const int lane = threadIdx.x % 32;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
    for (int64_t item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; item < static_cast<int64_t>(R) * CR;
         item += warps) {
        const int r = static_cast<int>(item / CR);
        const int m = static_cast<int>(item % CR);
        const int i = c * CR + m;
        if (i >= dest_count[r] || !live(d, f, r)) continue;
        const PeerRef src = peer_ref(d, r);
        const uint8_t* entry = src.base + f->off_back_queues
                             + ((static_cast<int64_t>(me) * C + c % C) * CR + m) * f->back_entry_bytes;
        const int token = peer_load_warp(src, reinterpret_cast<const int*>(entry), lane);
        if (token != dest_tokens[dest_start[r] + i]) {
            if (lane == 0) st_volatile(alive + r, 0);
            continue;
        }
        peer_read_warp(reinterpret_cast<uint8_t*>(a.partials) + static_cast<int64_t>(dest_start[r] + i) * 2 * H, src,
                       entry + TR_PF_BACK_ROW, 2LL * H, lane);
    }
    if (last_block(&arr<TrPfState>(d, f->off_state)->gather_done)) {
        __threadfence_system();
        for (int r = threadIdx.x; r < R; r += blockDim.x) {
            if (c < chunks_of(dest_count[r], CR) && live(d, f, r)) {
                back_got[r] = min((c + 1) * CR, dest_count[r]);
                if (r != me) st_release(progress(base(d), f, TR_PF_COMBINE_TAKEN, r, R), tag(a.step, c + 1));
            }
        }
    }
}

// The source's sum per token (PrefillEngine#mergeToken): the partial rows of its destinations in ascending rank order,
// each used when it arrived (fp32, rounded once to bf16), and lost_weight = the weights, in slot order, of the slots
// whose rank's partial row was not used (masked before the step, or lost during it). One warp per token.
extern "C" __global__ void __launch_bounds__(TR_PF_ROW_THREADS)
tr_pf_merge(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int L = static_cast<int>(d->local_experts);
    const int H = static_cast<int>(d->hidden);
    const int W = static_cast<int>(f->rank_words);
    const int S = static_cast<int>(f->slots);
    const int* back_got = arr<int>(d, f->off_back_got);
    const int* dest_start = arr<int>(d, f->off_dest_start);
    const int* tok_pos = arr<int>(d, f->off_tok_pos);
    const int* routed = arr<int>(d, f->off_routed);
    const uint32_t* in_rank = arr<uint32_t>(d, f->off_in_rank);
    const uint16_t* partials = reinterpret_cast<const uint16_t*>(a.partials);
    const float* weights = reinterpret_cast<const float*>(a.weights);
    uint16_t* out = arr<uint16_t>(d, f->off_out);
    float* lost_out = arr<float>(d, f->off_lost);
    const int lane = threadIdx.x % 32;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
    for (int64_t t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; t < a.n; t += warps) {
        const uint32_t* bits = in_rank + t * W;
        // The partial row of destination r for this token, or null when it was not used.
        auto partial = [&](int r) -> const uint16_t* {
            if (!has_dest(bits, r)) return nullptr;
            const int at = tok_pos[t * S + dest_index(bits, r)];
            return at < back_got[r] ? partials + static_cast<int64_t>(dest_start[r] + at) * H : nullptr;
        };
        uint16_t* dst = out + t * H;
        const bool vector = H % 8 == 0;
        for (int q = lane; q < (vector ? H / 8 : H); q += 32) {
            float acc[8];
#pragma unroll
            for (int v = 0; v < 8; ++v) acc[v] = 0.0f;
            for (int w = 0; w < W; ++w) {
                for (uint32_t word = bits[w]; word != 0; word &= word - 1) {
                    const int r = w * 32 + __ffs(word) - 1;
                    const uint16_t* row = partial(r);
                    if (row == nullptr) continue;
                    if (vector) {
                        const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(row) + q);
                        const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
                        for (int v = 0; v < 4; ++v) {
                            const float lo = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[v])));
                            const float hi =
                                __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[v] >> 16)));
                            acc[2 * v] = __fadd_rn(acc[2 * v], __fmul_rn(1.0f, lo));
                            acc[2 * v + 1] = __fadd_rn(acc[2 * v + 1], __fmul_rn(1.0f, hi));
                        }
                    } else {
                        acc[0] = __fadd_rn(acc[0], __fmul_rn(1.0f, __uint_as_float(tr_bf16_to_f32_bits(row[q]))));
                    }
                }
            }
            if (vector) {
                uint32_t packed[4];
#pragma unroll
                for (int v = 0; v < 4; ++v) {
                    packed[v] = static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[2 * v])))
                              | static_cast<uint32_t>(tr_f32_bits_to_bf16(__float_as_uint(acc[2 * v + 1]))) << 16;
                }
                reinterpret_cast<uint4*>(dst)[q] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
            } else {
                dst[q] = tr_f32_bits_to_bf16(__float_as_uint(acc[0]));
            }
        }
        if (lane == 0) {
            float lost = 0.0f;
            for (int j = 0; j < a.k; ++j) {
                const int e = routed[t * a.k + j];
                if (e >= 0 && partial(e / L) == nullptr) lost = __fadd_rn(lost, weights[t * a.k + j]);
            }
            lost_out[t] = lost;
        }
    }
}
