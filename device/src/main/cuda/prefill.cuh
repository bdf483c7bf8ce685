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
// Elastic EP, part 4: the high-throughput (prefill) mode (docs/contract.md §3b; the host transports run the same
// protocol in io.tokenroute.routing.protocol.PrefillEngine). This file: the shared helpers, the notify and the round
// waits; prefill_dispatch.cuh: pack, copy, handle; prefill_combine.cuh: combine start, reduce, gather, merge. DeepEP's normal-mode dispatch and combine, with every wait
// elastic, driven by the host in chunk rounds so that no kernel loops over credits (CudaPrefillEngine):
//
//   dispatch  tr_pf_notify                  plan (destinations per token, per-destination token lists, routed ids),
//                                           publish the per-destination counts and NOTIFY = step, wait for every
//                                           live peer's NOTIFY, read what each source sends here -> host sync
//             round c = 0 .. rounds - 1:    tr_pf_wait(DISPATCH_CREDIT)  destinations consumed chunk c - C
//                                           tr_pf_pack                   rows of chunk c into slot c % C of the
//                                                                        queues, DISPATCH_SENT = c + 1
//                                           tr_pf_wait(DISPATCH_TAIL)    sources wrote chunk c
//                                           tr_pf_copy                   chunk c of each source into the receive
//                                                                        batch, DISPATCH_TAKEN = c + 1
//             tr_pf_handle                  drop the sources lost mid-stream (compacting the batch), then per local
//                                           expert its rows ascending -> host sync
//   combine   tr_pf_combine_start, then per round: tr_pf_wait(COMBINE_CREDIT), tr_pf_reduce (partial rows of chunk c
//             into the combine queues, COMBINE_SENT), tr_pf_wait(COMBINE_TAIL), tr_pf_gather (partial rows of chunk
//             c out of the destinations' queues into rank-private memory, COMBINE_TAKEN); then tr_pf_merge.
//
// Queues: one per (source, destination) pair in the source's allocation, C slots of CR entries, and the combine queues
// of the same shape in the destination's allocation (pull protocol: a rank writes only its own allocation). A chunk's
// slot is rewritten only after its reader published that it consumed the chunk C rounds earlier (the credit). Every
// progress word is (step << 32 | chunks); a word of another step counts as 0 chunks, and the words restart at every
// rendezvous (tr_ep_clean), like the host protocol's.
//
// Why the source copies partial rows out of the queues and merges once at the end, where the host protocol merges
// while streaming: rounds advance in lockstep over every peer, and a token's partial rows sit in different chunk
// indices of different destinations' lists, so a streaming merge could hold a destination's slot while waiting for a
// later round of another destination (a cycle through the credits). The copies are rank-private memory sized by the
// rows this rank sent.
//
// Elastic: every wait is sync.cuh's timed wait with the mask re-read in every poll and the peers' heartbeat; a peer
// that times out is masked (or reported, non-elastic) and skipped by every later kernel of the call (alive[]). A
// source lost before all its chunks arrived contributes no row (the handle compacts the batch); a destination lost in
// the combine counts for the tokens whose partial rows arrived, and its experts' weights are the others' lost_weight.
#pragma once

#include "dispatch.cuh"  // warp_stage_row, load8_as_bf16, block_inclusive_scan
#include "fp8.cuh"
#include "sync.cuh"

namespace tr_pf {
using namespace tr_ep;

__device__ __forceinline__ const TrPf* pf(const TrEp* d) { return own<TrPf>(d, d->off_prefill); }

// A private prefill array of this rank (offsets are relative to the rank's base, like TrEp's).
template <typename T>
__device__ __forceinline__ T* arr(const TrEp* d, int64_t offset) {
    return reinterpret_cast<T*>(base(d) + offset);
}

__device__ __forceinline__ uint64_t tag(uint64_t step, uint64_t count) {
    return (step & 0xFFFFFFFFull) << 32 | count;
}

// Chunks a progress word holds for `step` (0 for a word of another step).
__device__ __forceinline__ uint64_t count_of(uint64_t word, uint64_t step) {
    return (word >> 32) == (step & 0xFFFFFFFFull) ? (word & 0xFFFFFFFFull) : 0;
}

__device__ __forceinline__ int chunks_of(int rows, int chunk_rows) { return (rows + chunk_rows - 1) / chunk_rows; }

// Progress word `kind` about `peer` in the allocation at rank_base.
__device__ __forceinline__ uint64_t* progress(uint8_t* rank_base, const TrPf* f, int kind, int peer, int r) {
    return reinterpret_cast<uint64_t*>(rank_base + f->off_progress) + kind * r + peer;
}
__device__ __forceinline__ const uint64_t* progress(const uint8_t* rank_base, const TrPf* f, int kind, int peer,
                                                    int r) {
    return reinterpret_cast<const uint64_t*>(rank_base + f->off_progress) + kind * r + peer;
}

// Whether peer p takes part in this call: answering so far, and not masked now (self always).
__device__ __forceinline__ bool live(const TrEp* d, const TrPf* f, int p) {
    if (p == self(d)) return true;
    return ld_volatile(arr<int>(d, f->off_alive) + p) != 0 && ld_volatile(own<int>(d, d->off_mask) + p) == 0;
}

// sync.cuh's wait_peer for a progress word: until it holds at least `target` chunks of `step`. Returns 1 when met
// (adding the wait to *cost_ns), 0 when p is or became masked, -1 after a timeout (on_timeout masked or reported it).
__device__ int wait_progress(const TrEp* d, int p, const PeerRef& src, const uint64_t* word, uint64_t step,
                             uint64_t target, uint64_t t0, uint64_t timeout_ns, int phase, int64_t* cost_ns) {
    const int* mask = own<int>(d, d->off_mask);
    const uint64_t* peer_beat = ctrl(src.base, d, TR_EP_BEAT);
    uint64_t seen = peer_load_volatile(src, peer_beat);
    WaitClock clock(t0);
    for (int poll = 0;; ++poll) {
        if (count_of(peer_acquire(src, word), step) >= target) {
            if (cost_ns != nullptr) atomicAdd(reinterpret_cast<unsigned long long*>(cost_ns), now_ns() - t0);
            return 1;
        }
        if (ld_volatile(mask + p) != 0) return 0;
        const uint64_t now = clock.tick();
        beat(d, poll, now);
        const uint64_t b = peer_load_volatile(src, peer_beat);
        if (b != seen) {
            seen = b;
            clock.restart();
        }
        if (clock.expired(timeout_ns)) {
            on_timeout(d, p, phase);
            return -1;
        }
        if (poll >= TR_EP_SPIN_POLLS) __nanosleep(TR_EP_SLEEP_NS);
    }
}

// Index of rank r among token t's destinations (ascending rank): set bits of its bitmap below r.
__device__ __forceinline__ int dest_index(const uint32_t* bits, int r) {
    int i = 0;
    for (int w = 0; w < (r >> 5); ++w) i += __popc(bits[w]);
    return i + __popc(bits[r >> 5] & ((1u << (r & 31)) - 1u));
}

__device__ __forceinline__ bool has_dest(const uint32_t* bits, int r) { return (bits[r >> 5] >> (r & 31)) & 1u; }

// Exclusive prefix over the 32 warps of a block of values[warp] (one per warp, in shared memory): out[warp], returns
// the total. Whole block; values and out may not alias.
__device__ __forceinline__ int warp_prefix(const int* values, int* out) {
    __shared__ int s_total;
    __syncthreads();
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        const int warps = blockDim.x / 32;
        const int v = lane < warps ? values[lane] : 0;
        int incl = v;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int u = __shfl_up_sync(0xFFFFFFFFu, incl, o);
            if (lane >= o) incl += u;
        }
        out[lane] = incl - v;
        if (lane == 31) s_total = incl;
    }
    __syncthreads();
    return s_total;
}

// Moves `bytes` from src to dst (dst < src, whole rows, no partial overlap within a row) by a whole block.
__device__ __forceinline__ void block_move(uint8_t* dst, const uint8_t* src, int64_t bytes) {
    if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes) & 15) == 0) {
        for (int64_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) {
            reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
        }
    } else {
        for (int64_t i = threadIdx.x; i < bytes; i += blockDim.x) dst[i] = src[i];
    }
}

// One warp's rows [lo, hi) of the handle for local experts [first, first + batch): counts each expert's rows into
// warp_count (zeroed first); with warp_offset, also writes each row's entry (warp_offset[x] + running count + rank
// among this chunk's rows) into expert_rows and the slot's expert_pos. Whole, converged warp.
__device__ void handle_rows(const int64_t* ids, int K, int lo, int hi, int first, int batch, int* warp_count,
                            const int* warp_offset, int* expert_rows, int* expert_pos) {
    const int lane = threadIdx.x % 32;
    for (int x = lane; x < TR_PF_HANDLE_EXPERTS; x += 32) warp_count[x] = 0;
    __syncwarp();
    for (int base_row = lo; base_row < hi; base_row += 32) {
        const int row = base_row + lane;
        uint64_t mine = 0;
        if (row < hi) {
            for (int j = 0; j < K; ++j) {
                const int64_t l = ids[static_cast<int64_t>(row) * K + j];
                if (l >= first && l < first + batch) mine |= 1ull << (l - first);
            }
        }
        for (int x = 0; x < batch; ++x) {
            const bool here = (mine >> x) & 1u;
            const unsigned ballot = __ballot_sync(0xFFFFFFFFu, here);
            if (ballot == 0) continue;
            if (warp_offset != nullptr && here) {
                const int entry = warp_offset[x] + warp_count[x] + __popc(ballot & ((1u << lane) - 1u));
                expert_rows[entry] = row;
                for (int j = 0; j < K; ++j) {
                    if (ids[static_cast<int64_t>(row) * K + j] == first + x) {
                        expert_pos[static_cast<int64_t>(row) * K + j] = entry;
                    }
                }
            }
            __syncwarp();
            if (lane == 0) warp_count[x] += __popc(ballot);
            __syncwarp();
        }
    }
}

}  // namespace tr_pf

// ------------------------------------------------------------------------------------------------ notify

// Plans the step (PrefillEngine#plan: per destination the ascending tokens with an expert there, masked destinations
// left out), publishes the counts (parity slot of `step`) and NOTIFY = step, waits for every live peer's NOTIFY
// (timeout, mask re-read, heartbeat) and reads what each sends here. Starts the dispatch's report; fills the summary
// (kept, recv_from, dest_count, sent). One block of TR_PF_PLAN_THREADS.
extern "C" __global__ void __launch_bounds__(TR_PF_PLAN_THREADS)
tr_pf_notify(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    __shared__ int s_mask[TR_EP_MAX_RANKS];
    __shared__ int s_count[TR_EP_MAX_RANKS];
    __shared__ int s_warp[32];
    __shared__ int s_warp_pre[32];
    __shared__ int s_bad;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int me = self(d);
    const int E = static_cast<int>(d->experts);
    const int L = static_cast<int>(d->local_experts);
    const int W = static_cast<int>(f->rank_words);
    const int S = static_cast<int>(f->slots);
    const int Tp = static_cast<int>(f->max_tokens);
    const int n = a.n;
    const int k = a.k;
    const int64_t* idx = reinterpret_cast<const int64_t*>(a.idx);
    uint32_t* in_rank = arr<uint32_t>(d, f->off_in_rank);
    int* routed = arr<int>(d, f->off_routed);
    int* dest_count = arr<int>(d, f->off_dest_count);
    int* dest_start = arr<int>(d, f->off_dest_start);
    int* dest_tokens = arr<int>(d, f->off_dest_tokens);
    int* tok_pos = arr<int>(d, f->off_tok_pos);
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;

    int* summary = arr<int>(d, f->off_summary);
    begin_call_report(d, TR_EP_CALL_DISPATCH);
    if (threadIdx.x == 0) {
        s_bad = 0;
        summary[TR_PF_SUM_FLAGS] = 0;
    }
    for (int p = threadIdx.x; p < R; p += blockDim.x) {
        s_mask[p] = p == me ? 0 : ld_volatile(own<int>(d, d->off_mask) + p);
        s_count[p] = 0;
    }
    __syncthreads();
    // Each token's destinations (unmasked ranks of its valid experts) and the dispatched ids.
    for (int t = threadIdx.x; t < n; t += blockDim.x) {
        uint32_t* bits = in_rank + static_cast<int64_t>(t) * W;
        for (int w = 0; w < W; ++w) bits[w] = 0;
        for (int j = 0; j < k; ++j) {
            const int64_t e = idx[static_cast<int64_t>(t) * k + j];
            const bool valid = e >= 0 && e < E;
            if (!valid && e != -1) atomicAdd(&s_bad, 1);
            routed[static_cast<int64_t>(t) * k + j] = valid ? static_cast<int>(e) : -1;
            if (valid) {
                const int r = static_cast<int>(e) / L;
                if (s_mask[r] == 0 && !has_dest(bits, r)) {
                    bits[r >> 5] |= 1u << (r & 31);
                    atomicAdd(&s_count[r], 1);
                }
            }
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int running = 0;
        for (int r = 0; r < R; ++r) {
            dest_start[r] = running;
            dest_count[r] = s_count[r];
            running += s_count[r];
        }
        dest_start[R] = running;
    }
    __syncthreads();
    // Per destination, each token's index in its list (tokens below it going there): warp ballots per tile of
    // blockDim tokens, a prefix over the warps, and a running count per destination carried across tiles.
    for (int r = 0; r < R; ++r) {
        int running = 0;
        for (int tile = 0; tile < n; tile += blockDim.x) {
            const int t = tile + threadIdx.x;
            const uint32_t* bits = in_rank + static_cast<int64_t>(t) * W;
            const bool goes = t < n && has_dest(bits, r);
            const unsigned ballot = __ballot_sync(0xFFFFFFFFu, goes);
            if (lane == 0) s_warp[warp] = __popc(ballot);
            const int total = warp_prefix(s_warp, s_warp_pre);
            if (goes) {
                const int pos = running + s_warp_pre[warp] + __popc(ballot & ((1u << lane) - 1u));
                dest_tokens[dest_start[r] + pos] = t;
                tok_pos[static_cast<int64_t>(t) * S + dest_index(bits, r)] = pos;
            }
            running += total;
            __syncthreads();
        }
    }
    // Publish: counts of this step's parity, then NOTIFY = step.
    uint8_t* me_base = base(d);
    int* counts = reinterpret_cast<int*>(me_base + f->off_counts) + (a.step & 1) * R;
    for (int r = threadIdx.x; r < R; r += blockDim.x) counts[r] = dest_count[r];
    __syncthreads();
    if (threadIdx.x == 0) {
        if (s_bad > 0) {
            st_volatile(report(d) + TR_EP_REP_BAD, s_bad);
            st_volatile(report(d) + TR_EP_REP_FAULT, TR_EP_FAULT_BAD_INPUT);
        }
        __threadfence_system();
        st_release(reinterpret_cast<uint64_t*>(me_base + f->off_notify), a.step);
    }
    // Wait for every live peer's counts; read what each sends here.
    int* alive = arr<int>(d, f->off_alive);
    int* kept = arr<int>(d, f->off_kept);
    int* recv_from = arr<int>(d, f->off_recv_from);
    const uint64_t t0 = now_ns();
    for (int p = threadIdx.x; p < R; p += blockDim.x) {
        int ok = 1;
        int count = 0;
        if (p == me) {
            count = dest_count[me];
        } else if (s_mask[p] != 0) {
            ok = 0;
        } else {
            const PeerRef src = peer_ref(d, p);
            const uint64_t* word = reinterpret_cast<const uint64_t*>(src.base + f->off_notify);
            ok = wait_peer(d, p, src, word, a.step, t0, a.timeout_ns, TR_EP_PHASE_PREFILL_NOTIFY,
                           own<int64_t>(d, d->off_dwait) + p) > 0;
            if (ok) {
                const int* theirs = reinterpret_cast<const int*>(src.base + f->off_counts) + (a.step & 1) * R;
                count = peer_load_volatile(src, theirs + me);
                if (count < 0 || count > Tp) {
                    // Not a count any peer of this configuration sends: a torn or foreign word. Its rows are not used.
                    atomicOr(summary + TR_PF_SUM_FLAGS, TR_PF_FLAG_BAD_COUNT);
                    count = 0;
                }
            }
        }
        alive[p] = ok;
        kept[p] = ok;
        recv_from[p] = ok ? count : 0;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int* recv_begin = arr<int>(d, f->off_recv_begin);
        int running = 0;
        for (int p = 0; p < R; ++p) {
            recv_begin[p] = running;
            running += recv_from[p];
            summary[TR_PF_SUMMARY_HEADER + p] = kept[p];
            summary[TR_PF_SUMMARY_HEADER + R + p] = recv_from[p];
            summary[TR_PF_SUMMARY_HEADER + 2 * R + p] = dest_count[p];
        }
        recv_begin[R] = running;
        summary[TR_PF_SUM_ROWS] = running;
        summary[TR_PF_SUM_SENT] = dest_start[R];
    }
}

// ------------------------------------------------------------------------------------------------ waits

// One round's wait (TrPfArgs::kind, TR_PF_WAIT_*), one thread per peer: credits from the destinations (their consumed
// chunks >= round - C + 1) before this rank rewrites a slot, or tails from the sources (their written chunks >= round
// + 1) before it reads one. A peer that is masked or times out is dropped from the call (alive = 0; a source that
// had rows still to send is no longer kept). One block.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_pf_wait(const TrEp* __restrict__ d, const TrPfArgs a) {
    using namespace tr_pf;
    const TrPf* f = pf(d);
    const int R = ranks(d);
    const int me = self(d);
    const int c = a.round;
    const int C = static_cast<int>(f->chunks);
    const int CR = static_cast<int>(f->chunk_rows);
    int* alive = arr<int>(d, f->off_alive);
    int* kept = arr<int>(d, f->off_kept);
    const bool dispatch = a.kind == TR_PF_WAIT_DISPATCH_CREDIT || a.kind == TR_PF_WAIT_DISPATCH_TAIL;
    const int phase = dispatch ? TR_EP_PHASE_PREFILL_DISPATCH : TR_EP_PHASE_PREFILL_COMBINE;
    int64_t* cost = own<int64_t>(d, dispatch ? d->off_dwait : d->off_cwait);
    const uint64_t t0 = now_ns();
    for (int p = threadIdx.x; p < R; p += blockDim.x) {
        if (p == me || !live(d, f, p)) continue;
        int rows = 0;
        int kind = 0;
        uint64_t target = 0;
        switch (a.kind) {
            case TR_PF_WAIT_DISPATCH_CREDIT:
                rows = arr<int>(d, f->off_dest_count)[p];
                kind = TR_PF_DISPATCH_TAKEN;
                target = c - C + 1;
                break;
            case TR_PF_WAIT_DISPATCH_TAIL:
                rows = kept[p] ? arr<int>(d, f->off_recv_from)[p] : 0;
                kind = TR_PF_DISPATCH_SENT;
                target = c + 1;
                break;
            case TR_PF_WAIT_COMBINE_CREDIT:
                rows = arr<int>(d, f->off_back_to)[p];
                kind = TR_PF_COMBINE_TAKEN;
                target = c - C + 1;
                break;
            default:
                rows = arr<int>(d, f->off_dest_count)[p];
                kind = TR_PF_COMBINE_SENT;
                target = c + 1;
                break;
        }
        const bool credit = a.kind == TR_PF_WAIT_DISPATCH_CREDIT || a.kind == TR_PF_WAIT_COMBINE_CREDIT;
        if (c >= chunks_of(rows, CR) || (credit && c < C)) continue;
        const PeerRef src = peer_ref(d, p);
        const int ok = wait_progress(d, p, src, progress(src.base, f, kind, me, R), a.step, target, t0,
                                     a.timeout_ns, phase, cost + p);
        if (ok <= 0) {
            alive[p] = 0;
            if (a.kind == TR_PF_WAIT_DISPATCH_TAIL) kept[p] = 0;
        }
    }
}

