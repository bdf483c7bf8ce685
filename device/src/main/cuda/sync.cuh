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
// Elastic EP, part 1: what every EP kernel shares (the rank descriptor, control words, ordered loads and stores,
// the timed wait on a peer with the mask re-read in every poll), and the collectives that need no rows: barrier,
// allGather, the cleanBuffer/readmit rendezvous, and the stall kernel used for failure injection.
//
// Model (docs/contract.md §3, io.tokenroute.routing.protocol.RankProtocol). Every rank owns one device allocation
// laid out by io.tokenroute.routing.cuda.CudaRankLayout; the offsets of its symmetric part are equal on every rank, so
// a peer's word is peers[p] + offset. The protocol is *pull*: a rank writes only its own allocation and reads its
// peers', so a dead or stale rank can never corrupt a live one, and each (token, expert) row crosses memory once.
//
// Peer access. Kernels read a peer's allocation only through the peer-access layer below (tr_ep::peer_ref and the
// peer_* accessors), never through the PEERS array directly, so that one switch decides how a peer is reached:
//   default build (build-kernels.sh)   every peer by plain pointer: cuda-local (one process, one GPU) and nvshmem
//                                      peers that nvshmem_ptr maps (same node, NVLink or the same GPU). The layer
//                                      compiles to the plain loads the protocol needs and nothing else.
//   -DTR_EP_NVSHMEM (build-nvshmem-kernels.sh: one rank per process, the allocation on the NVSHMEM symmetric heap)
//                                      peers with PEERS[p] != 0 by pointer as above; peers with PEERS[p] == 0
//                                      (nvshmem_ptr returned null: another node) by NVSHMEM one-sided gets addressed
//                                      with this rank's own base + offset, the symmetric address of the same byte on
//                                      every PE.
// Contract with the host (CudaRankLayout#descriptor) for the nvshmem transport: rank p is PE p of NVSHMEM_TEAM_WORLD;
// PEERS[p] = nvshmem_ptr(base, p), or 0 where that is null; PEERS[self] = base, never 0 (a rank reads its own rows by
// pointer). To force the NVSHMEM path for testing on one GPU, the host writes 0 into PEERS[p] for every p != self:
// every peer is then read with NVSHMEM calls (which NVSHMEM itself serves over its own mapping of same-node PEs).
// Only a module built with TR_EP_NVSHMEM (and initialised with nvshmemx_cumodule_init) may be given a 0 entry: the
// default build would dereference it.
// NVSHMEM calls block until their data arrived. A wait still makes one call per poll and re-reads the mask and the
// clock between calls; a PE on the same node that died keeps its memory mapped (the calls return stale words, as the
// pointer loads do), while one on another node fails or stalls as the remote transport's own timeouts decide.
//
// Control words (symmetric, one 128-byte line each), monotonic, never reset by peers:
//   DISP  = seq << 1 | ready   staging slot (seq & 1) of dispatch step seq is published (ready) or being written
//   COMB  = seq << 1 | ready   layout + combine-send rows of step seq are published / being rewritten
//   SYNC  = sync sequence the rank arrived at (barrier, allGather)
//   RDV   = generation << 1 | done   cleanBuffer/readmit rendezvous
//   BEAT  = %globaltimer of the rank's latest poll in any wait: a sign of life, not of progress (see wait_peer)
// Sequences restart at generation << 32 after every rendezvous, so words of an older generation never satisfy a wait.
//
// Step state (seq, sync_seq) lives in device memory and is advanced by the kernels themselves, never passed from the
// host: a captured CUDA graph can be replayed step after step. Within a dispatch, kernels before the wait kernel work
// on seq + 1; the single-block wait kernel commits seq + 1 at its end; later kernels (copy, combine) read seq.
//
// Nothing here traps. A timed-out wait masks the peer (elastic: atomicExch on the rank's device mask entry plus a
// "newly masked" flag in the host-visible report) or records a fault the host reads from pinned memory (non-elastic),
// and the kernel completes with that peer treated as absent.
#pragma once

#include "tokenroute_abi.cuh"
#include "tokenroute_common.cuh"

#ifdef TR_EP_NVSHMEM
#include <nvshmem.h>
#include <nvshmemx.h>
#endif

// ------------------------------------------------------------------------------------------------ batched launches

// The descriptor (TrEp), the step state, the launch structs, control words, report and codes: tokenroute_abi.cuh.
// A batched launch covers several ranks, blockIdx.y selecting the rank (TrEpBatch and its siblings); a per-rank
// launch is the same kernel with gridDim.y = 1 (a stalled rank on its own stream; the nvshmem transport, one rank per
// process).
#define TR_EP_BATCH_RANK(batch) reinterpret_cast<const TrEp*>((batch).desc[blockIdx.y])

// Programmatic dependent launch (Java KernelLaunch#programmaticDependency): the receive-side kernels of a step (dispatch
// wait and copy, combine wait and reduce) may be launched so that their blocks start while the kernel queued before
// them still runs, which hides the launch gap between kernels (about 1.4 us per boundary on an H200). Such a kernel
// calls tr_await_previous_kernel() before anything else: it returns once the previous kernel has completed and its
// writes are visible, and is a no-op after a normal launch. tr_allow_next_kernel() lets the next kernel's blocks be
// scheduled once every block of the calling kernel has called it (or exited). A kernel that waits on peers calls it
// only after its last wait: the next kernel's blocks would otherwise hold SMs while it spins, and a peer sharing the
// GPU (another process under MPS, a stalled rank's stream) might then not get to run the send it waits for (seen on
// an H200: 4 PEs under MPS stalled until the 10 s timeout).
__device__ __forceinline__ void tr_await_previous_kernel() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void tr_allow_next_kernel() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

namespace tr_ep {

__device__ __forceinline__ uint8_t* base(const TrEp* d) { return d->base; }
// This rank's own array at a descriptor offset: own<int>(d, d->off_mask). The offset is taken by reference so that it
// is read after the base, the order the kernels' machine code was tuned with.
template <typename T>
__device__ __forceinline__ T* own(const TrEp* d, const int64_t& offset) {
    return reinterpret_cast<T*>(base(d) + offset);
}
__device__ __forceinline__ TrEpState* state(const TrEp* d) { return own<TrEpState>(d, d->off_state); }
__device__ __forceinline__ uint64_t* ctrl(uint8_t* rank_base, const TrEp* d, int word) {
    return reinterpret_cast<uint64_t*>(rank_base + d->off_ctrl + TR_EP_CTRL_STRIDE * word);
}
__device__ __forceinline__ const uint64_t* ctrl(const uint8_t* rank_base, const TrEp* d, int word) {
    return reinterpret_cast<const uint64_t*>(rank_base + d->off_ctrl + TR_EP_CTRL_STRIDE * word);
}
__device__ __forceinline__ int* report(const TrEp* d) { return d->report; }
__device__ __forceinline__ int ranks(const TrEp* d) { return static_cast<int>(d->ranks); }
__device__ __forceinline__ int self(const TrEp* d) { return static_cast<int>(d->rank); }

// ---- ordered accesses. Peers may live on other GPUs (nvshmem over NVLink): system scope throughout. ----
__device__ __forceinline__ uint64_t ld_acquire(const uint64_t* p) {
    uint64_t v;
    asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void st_release(uint64_t* p, uint64_t v) {
    asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ void st_relaxed(uint64_t* p, uint64_t v) {
    asm volatile("st.relaxed.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ int ld_volatile(const int* p) {
    int v;
    asm volatile("ld.relaxed.sys.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void st_volatile(int* p, int v) {
    asm volatile("st.relaxed.sys.global.s32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
// Nanoseconds of the global timer (%globaltimer): comparable across SMs, unlike clock64().
__device__ __forceinline__ uint64_t now_ns() {
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// ---- the peer-access layer (see the file comment). ----
// peer_ref resolves peer p once; addresses inside the peer's allocation are then formed from ref.base exactly as from
// a plain pointer (ref.base + symmetric offset) and read through one of the accessors below, which decide per peer
// how to reach it. In the default build ref.base is PEERS[p] and each accessor is the one load the call site always
// made, so the layer adds no instruction.
struct PeerRef {
    const uint8_t* base;  // the peer's allocation, or (NVSHMEM gets) this rank's: the same symmetric offsets
#ifdef TR_EP_NVSHMEM
    int pe;               // the PE NVSHMEM reads from; -1 when base is a pointer into the peer itself
#endif
};

// The PEERS array, read once where a loop resolves many peers (the reduce, per top-k entry).
struct PeerTable {
    const uint64_t* bases;
#ifdef TR_EP_NVSHMEM
    const uint8_t* own;
#endif
};

__device__ __forceinline__ PeerTable peer_table(const TrEp* d) {
#ifdef TR_EP_NVSHMEM
    return PeerTable{d->peers, base(d)};
#else
    return PeerTable{d->peers};
#endif
}

__device__ __forceinline__ PeerRef peer_ref(const PeerTable& t, int p) {
#ifdef TR_EP_NVSHMEM
    const uint64_t b = t.bases[p];
    return b != 0 ? PeerRef{reinterpret_cast<const uint8_t*>(b), -1} : PeerRef{t.own, p};
#else
    return PeerRef{reinterpret_cast<const uint8_t*>(t.bases[p])};
#endif
}

__device__ __forceinline__ PeerRef peer_ref(const TrEp* d, int p) { return peer_ref(peer_table(d), p); }

#ifdef TR_EP_NVSHMEM
__device__ __forceinline__ bool by_nvshmem(const PeerRef& r) { return r.pe >= 0; }
// Scalars come back as values (nvshmem_*_g): their destination is NVSHMEM's, never a stack or shared-memory buffer a
// remote transport could not write into.
__device__ __forceinline__ int nv_g(const int* a, int pe) { return nvshmem_int_g(a, pe); }
__device__ __forceinline__ int64_t nv_g(const int64_t* a, int pe) { return nvshmem_int64_g(a, pe); }
__device__ __forceinline__ uint16_t nv_g(const uint16_t* a, int pe) { return nvshmem_uint16_g(a, pe); }
__device__ __forceinline__ uint64_t nv_g(const uint64_t* a, int pe) { return nvshmem_uint64_g(a, pe); }
#endif

// A peer's control word, acquire: later reads of that peer's data see what it wrote before publishing the word.
// NVSHMEM: an atomic fetch reads the whole word at its owner (never torn, never a stale copy); the fence makes it an
// acquire for this thread's later pointer reads, and gets issued after the blocking fetch returned reach the owner
// after it, where __threadfence_system() + st.release.sys already ordered the data before the word.
__device__ __forceinline__ uint64_t peer_acquire(const PeerRef& r, const uint64_t* word) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) {
        const uint64_t v = nvshmem_uint64_atomic_fetch(word, r.pe);
        asm volatile("fence.acq_rel.sys;" ::: "memory");
        return v;
    }
#endif
    return ld_acquire(word);
}

// Control word `word` of peer p (the re-checks and the rendezvous, which resolve the peer at every read).
__device__ __forceinline__ uint64_t peer_ctrl(const TrEp* d, int p, int word) {
    const PeerRef r = peer_ref(d, p);
    return peer_acquire(r, ctrl(r.base, d, word));
}

// Plain scalar read (ordered by an earlier peer_acquire of the same peer by this thread).
template <typename T>
__device__ __forceinline__ T peer_load(const PeerRef& r, const T* a) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) return nv_g(a, r.pe);
#endif
    return *a;
}

// Scalar read that must not be served from an earlier read (a word the peer may rewrite meanwhile).
template <typename T>
__device__ __forceinline__ T peer_load_volatile(const PeerRef& r, const T* a) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) return nv_g(a, r.pe);
#endif
    return *reinterpret_cast<const volatile T*>(a);
}

// peer_load of one address by a whole, converged warp: NVSHMEM reads it once and broadcasts.
template <typename T>
__device__ __forceinline__ T peer_load_warp(const PeerRef& r, const T* a, int lane) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) {
        T v = 0;
        if (lane == 0) v = nv_g(a, r.pe);
        return __shfl_sync(0xFFFFFFFFu, v, 0);
    }
#endif
    return *a;
}

// bf16 rows: copies row_bytes (a multiple of 16) with 16-byte accesses, TR_EP_COPY_UNROLL loads in flight per lane.
__device__ __forceinline__ void warp_copy16(uint8_t* dst, const uint8_t* src, int64_t row_bytes, int lane) {
    const int64_t n = row_bytes / 16;
    const uint4* s = reinterpret_cast<const uint4*>(src);
    uint4* o = reinterpret_cast<uint4*>(dst);
    int64_t i = lane;
    for (; i + (TR_EP_COPY_UNROLL - 1) * 32 < n; i += TR_EP_COPY_UNROLL * 32) {
        uint4 v[TR_EP_COPY_UNROLL];
#pragma unroll
        for (int u = 0; u < TR_EP_COPY_UNROLL; ++u) v[u] = __ldcg(s + i + u * 32);
#pragma unroll
        for (int u = 0; u < TR_EP_COPY_UNROLL; ++u) o[i + u * 32] = v[u];
    }
    for (; i < n; i += 32) o[i] = __ldcg(s + i);
}

// Any row: 16-byte accesses when both ends are aligned and the size allows, else 2-byte (rows are bf16 or bytes of
// an even count; odd byte counts fall back to bytes).
__device__ __forceinline__ void warp_copy(uint8_t* dst, const uint8_t* src, int64_t bytes, int lane) {
    if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes) & 15) == 0) {
        warp_copy16(dst, src, bytes, lane);
    } else if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes) & 3) == 0) {
        const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
        uint32_t* o = reinterpret_cast<uint32_t*>(dst);
        for (int64_t i = lane; i < bytes / 4; i += 32) o[i] = s[i];
    } else {
        for (int64_t i = lane; i < bytes; i += 32) dst[i] = src[i];
    }
}

// A row of a peer into this rank's allocation, by a whole, converged warp. NVSHMEM: one blocking warp get (the data
// is in dst when it returns); dst must lie in this rank's allocation, which is on the symmetric heap and therefore
// registered with every remote transport.
__device__ __forceinline__ void peer_read_warp(uint8_t* dst, const PeerRef& r, const uint8_t* src, int64_t bytes,
                                               int lane) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) {
        nvshmemx_getmem_warp(dst, src, static_cast<size_t>(bytes), r.pe);
        return;
    }
#endif
    warp_copy(dst, src, bytes, lane);
}

// peer_read_warp for byte strings of any alignment (allGather payloads): bytes [at, at + bytes) of src into the same
// offsets of dst, byte by byte through pointers.
__device__ __forceinline__ void peer_read_bytes_warp(uint8_t* dst, const PeerRef& r, const uint8_t* src, int64_t at,
                                                     int64_t bytes, int lane) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) {
        nvshmemx_getmem_warp(dst + at, src + at, static_cast<size_t>(bytes), r.pe);
        return;
    }
#endif
    for (int64_t i = lane; i < bytes; i += 32) dst[at + i] = src[at + i];
}

// The 16-byte chunks first + threadIdx.x + c * THREADS (c < CHUNKS, chunk < chunks) of a peer's row, into registers,
// by a whole block of THREADS threads in block-uniform control flow (0 outside the row). NVSHMEM: one blocking block
// get of the block's range into staging (the same chunks of a row of this rank's allocation, which the caller
// overwrites afterwards anyway), then each thread reads back its own chunks (L2: the get's writes bypass this SM's L1).
template <int CHUNKS, int THREADS>
__device__ __forceinline__ void peer_read_chunks_block(uint4 (&v)[CHUNKS], const PeerRef& r, const uint4* src,
                                                       int first, int chunks, uint4* staging) {
#ifdef TR_EP_NVSHMEM
    if (by_nvshmem(r)) {
        const int n = min(chunks - first, THREADS * CHUNKS);
        __syncthreads();  // every thread has taken the previous peer's chunks out of staging
        nvshmemx_getmem_block(staging + first, src + first, static_cast<size_t>(n) * sizeof(uint4), r.pe);
        __syncthreads();
        src = staging;
    }
#else
    (void)staging;
#endif
#pragma unroll
    for (int c = 0; c < CHUNKS; ++c) {
        const int chunk = first + threadIdx.x + c * THREADS;
        v[c] = chunk < chunks ? __ldcg(src + chunk) : make_uint4(0, 0, 0, 0);
    }
}

// First start and last end of a kernel's blocks; the host resets the trace to (UINT64_MAX, 0) before reading it.
__device__ __forceinline__ void trace_begin(const TrEp* d, int phase) {
    if (threadIdx.x == 0) {
        atomicMin(reinterpret_cast<unsigned long long*>(own<uint64_t>(d, d->off_trace) + 2 * phase),
                  static_cast<unsigned long long>(now_ns()));
    }
}
__device__ __forceinline__ void trace_end(const TrEp* d, int phase) {
    if (threadIdx.x == 0) {
        atomicMax(reinterpret_cast<unsigned long long*>(own<uint64_t>(d, d->off_trace) + 2 * phase + 1),
                  static_cast<unsigned long long>(now_ns()));
    }
}

__device__ __forceinline__ int* report_newly(const TrEp* d, int kind) {
    return report(d) + TR_EP_REP_HEADER + kind * ranks(d);
}
__device__ __forceinline__ int* report_fault_peers(const TrEp* d) { return report_newly(d, 3); }
__device__ __forceinline__ int* report_met(const TrEp* d) { return report_newly(d, 4); }
__device__ __forceinline__ int* report_recv_count(const TrEp* d) { return report_newly(d, 5); }
__device__ __forceinline__ int* report_layout(const TrEp* d) {
    return report_recv_count(d) + d->local_experts;
}

// Starts a call's report: clears the fault words, the call kind's newly-masked flags and the fault-peer flags (the
// device writes the report; the host reads it after the call's work completed). One block of the call's first kernel.
__device__ __forceinline__ void begin_call_report(const TrEp* d, int kind) {
    int* rep = report(d);
    const int r = ranks(d);
    for (int i = threadIdx.x; i < TR_EP_REP_HEADER; i += blockDim.x) st_volatile(rep + i, 0);
    for (int i = threadIdx.x; i < r; i += blockDim.x) {
        st_volatile(report_newly(d, kind) + i, 0);
        st_volatile(report_fault_peers(d) + i, 0);
    }
}

// The report's newly-masked flags a phase's timeouts go to: prefill dispatch and combine share them with the
// low-latency calls of the same kind (one call of a kind runs at a time).
__device__ __forceinline__ int call_kind(int phase) {
    return phase == TR_EP_PHASE_DISPATCH_RECV || phase == TR_EP_PHASE_PREFILL_NOTIFY
                   || phase == TR_EP_PHASE_PREFILL_DISPATCH
               ? TR_EP_CALL_DISPATCH
           : phase == TR_EP_PHASE_COMBINE_RECV || phase == TR_EP_PHASE_PREFILL_COMBINE ? TR_EP_CALL_COMBINE
                                                                                       : TR_EP_CALL_SYNC;
}

// The last-block-done pattern: every block calls it after its work; it returns true in the one block that finished
// last (which then sees every other block's writes) and resets the counter for the next launch. Whole block.
__device__ __forceinline__ bool last_block(uint32_t* counter) {
    __shared__ int s_last;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        const unsigned done = atomicAdd(counter, 1u);
        s_last = done == gridDim.x - 1;
        if (s_last) *counter = 0;
        __threadfence();
    }
    __syncthreads();
    return s_last != 0;
}

// A wait on peer p timed out: mask it (elastic) or record the fault for the host (non-elastic). Never traps.
__device__ __forceinline__ void on_timeout(const TrEp* d, int p, int phase) {
    if (d->elastic) {
        int* mask = own<int>(d, d->off_mask);
        if (atomicExch(mask + p, 1) == 0) {
            st_volatile(report_newly(d, call_kind(phase)) + p, 1);
        }
    } else {
        st_volatile(report_fault_peers(d) + p, 1);
        st_volatile(report(d) + TR_EP_REP_PHASE, phase);
        st_volatile(report(d) + TR_EP_REP_FAULT, TR_EP_FAULT_TIMEOUT);
    }
    __threadfence_system();
}

// The time a wait has been running, for its timeout. A gap of more than TR_EP_DESCHEDULED_NS between two polls means
// this kernel was not running (PEs of one GPU time-slicing it, a killed process's context being torn down, preemption):
// it says nothing about the peer, so it does not count. The wait restarts when the peer shows a sign of life.
struct WaitClock {
    uint64_t last;
    uint64_t waited;
    uint64_t total;

    __device__ __forceinline__ explicit WaitClock(uint64_t start) : last(start), waited(0), total(0) {}

    // Advances by the time since the previous poll; returns the current %globaltimer.
    __device__ __forceinline__ uint64_t tick() {
        const uint64_t now = now_ns();
        const uint64_t step = now - last;
        last = now;
        if (step <= TR_EP_DESCHEDULED_NS) {
            waited += step;
            total += step;
        }
        return now;
    }

    __device__ __forceinline__ void restart() { waited = 0; }

    // Silent for the timeout, or waiting on a live peer for TR_EP_LIVE_WAIT_TIMEOUTS timeouts (a peer that beats but
    // never arrives: ranks calling different collectives, which must not hang).
    __device__ __forceinline__ bool expired(uint64_t timeout_ns) const {
        return waited > timeout_ns || total > TR_EP_LIVE_WAIT_TIMEOUTS * timeout_ns;
    }
};

// Publishes this rank's sign of life (relaxed: only its change matters) every TR_EP_BEAT_POLLS polls of a wait.
__device__ __forceinline__ void beat(const TrEp* d, int poll, uint64_t now) {
    if (poll % TR_EP_BEAT_POLLS == 0) st_relaxed(ctrl(base(d), d, TR_EP_BEAT), now);
}

// Waits until peer p's *word >= target (acquire; word inside src), re-reading the rank's mask entry for p in every
// poll. Returns 1 when met (adding the wait to *cost_ns if given), 0 when p is or became masked, -1 after a timeout
// (handled by on_timeout). t0 is the common start of the wait, timeout_ns a runtime argument.
//
// Liveness: a peer that is itself waiting (on a dead rank, say, for its own full timeout) publishes BEAT while it
// polls. Its beat restarts this wait's clock, so survivors that detect a death at different times do not mask each
// other; a dead or stopped peer beats no more and is masked one timeout after its last beat.
__device__ __forceinline__ int wait_peer(const TrEp* d, int p, const PeerRef& src, const uint64_t* word,
                                         uint64_t target, uint64_t t0, uint64_t timeout_ns, int phase,
                                         int64_t* cost_ns) {
    const int* mask = own<int>(d, d->off_mask);
    const uint64_t* peer_beat = ctrl(src.base, d, TR_EP_BEAT);
    uint64_t seen = peer_load_volatile(src, peer_beat);
    WaitClock clock(t0);
    for (int poll = 0;; ++poll) {
        if (peer_acquire(src, word) >= target) {
            if (cost_ns != nullptr) *cost_ns += static_cast<int64_t>(now_ns() - t0);
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

// Every active peer (self excluded) waits for its control word `word` to reach target; met[p] = 1 when it did
// (met[self] = 1). One thread per peer; call with the whole block, ends with __syncthreads.
__device__ __forceinline__ void await_active_peers(const TrEp* d, int word, uint64_t target, uint64_t timeout_ns,
                                                   int phase, int* met, int64_t* cost_ns) {
    const int r = ranks(d);
    const int me = self(d);
    const int* mask = own<int>(d, d->off_mask);
    const uint64_t t0 = now_ns();
    for (int p = threadIdx.x; p < r; p += blockDim.x) {
        int ok;
        if (p == me) {
            ok = 1;
        } else if (ld_volatile(mask + p) != 0) {
            ok = 0;
        } else {
            const PeerRef src = peer_ref(d, p);
            ok = wait_peer(d, p, src, ctrl(src.base, d, word), target, t0, timeout_ns, phase,
                           cost_ns == nullptr ? nullptr : cost_ns + p) > 0;
        }
        met[p] = ok;
    }
    __syncthreads();
}

}  // namespace tr_ep

// ------------------------------------------------------------------------------------------------ barrier/allGather

// Arrive half of barrier (payload_len < 0) and allGather (payload_len >= 0 bytes in gather_in): copies the payload
// into this rank's payload slot (sync_seq + 1) & 1, then release-stores SYNC = sync_seq + 1. One block.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_ep_sync_arrive(const TrEp* __restrict__ d, int64_t payload_len) {
    using namespace tr_ep;
    TrEpState* st = state(d);
    const uint64_t s = st->sync_seq + 1;
    begin_call_report(d, TR_EP_CALL_SYNC);
    if (payload_len >= 0) {
        const uint8_t* in = own<uint8_t>(d, d->off_gather_in);
        uint8_t* slot = base(d) + d->off_payload + (s & 1) * d->payload_stride;
        if (threadIdx.x == 0) *reinterpret_cast<int64_t*>(slot) = payload_len;
        for (int64_t i = threadIdx.x; i < payload_len; i += blockDim.x) slot[8 + i] = in[i];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence_system();
        st_release(ctrl(base(d), d, TR_EP_SYNC), s);
    }
}

// Wait half of barrier/allGather: waits for every active peer's SYNC >= sync_seq + 1 (timeout, mask re-read), then
// for allGather copies each met peer's payload into gather_out[p] = (int64 length, bytes) and re-checks that the peer
// did not move on to sync_seq + 3 meanwhile (its slot would be torn: the peer is then masked and reported absent).
// Writes met[] into the report and commits sync_seq. One block.
extern "C" __global__ void __launch_bounds__(TR_EP_WAIT_THREADS)
tr_ep_sync_wait(const TrEp* __restrict__ d, uint64_t timeout_ns, int gather, int phase) {
    using namespace tr_ep;
    TrEpState* st = state(d);
    const uint64_t s = st->sync_seq + 1;
    const int r = ranks(d);
    int* met = own<int>(d, d->off_met);
    await_active_peers(d, TR_EP_SYNC, s, timeout_ns, phase, met, nullptr);
    if (gather) {
        // Each slot starts with an int64 length: slots must stay 8-byte aligned whatever collectiveBytes is
        // (CudaRankLayout.gatherStride, the same rounding).
        const int64_t stride = 8 + ((d->collective_bytes + 7) & ~static_cast<int64_t>(7));
        uint8_t* out = own<uint8_t>(d, d->off_gather_out);
        const int warp = threadIdx.x / 32;
        const int lane = threadIdx.x % 32;
        const int warps = blockDim.x / 32;
        for (int p = warp; p < r; p += warps) {
            uint8_t* dst = out + p * stride;
            if (!met[p]) {
                if (lane == 0) *reinterpret_cast<int64_t*>(dst) = -1;
                continue;
            }
            const PeerRef src = peer_ref(d, p);
            const uint8_t* slot = src.base + d->off_payload + (s & 1) * d->payload_stride;
            int64_t len = peer_load_volatile(src, reinterpret_cast<const int64_t*>(slot));
            len = len < 0 ? 0 : (len > d->collective_bytes ? d->collective_bytes : len);
            peer_read_bytes_warp(dst, src, slot, 8, len, lane);
            if (lane == 0) *reinterpret_cast<int64_t*>(dst) = len;
        }
        __syncthreads();
        __threadfence_system();
        for (int p = threadIdx.x; p < r; p += blockDim.x) {
            if (p != self(d) && met[p] && peer_ctrl(d, p, TR_EP_SYNC) >= s + 2) {
                met[p] = 0;
                *reinterpret_cast<int64_t*>(out + p * stride) = -1;
                if (d->elastic && atomicExch(own<int>(d, d->off_mask) + p, 1) == 0) {
                    st_volatile(report_newly(d, TR_EP_CALL_SYNC) + p, 1);
                }
            }
        }
    }
    __syncthreads();
    for (int p = threadIdx.x; p < r; p += blockDim.x) st_volatile(report_met(d) + p, met[p]);
    if (threadIdx.x == 0) {
        st->sync_seq = s;
        __threadfence_system();
    }
}

// ------------------------------------------------------------------------------------------------ rendezvous

namespace tr_ep {

// Changes whenever peer p beats or moves its rendezvous word (both only grow, so their sum changes with either).
__device__ __forceinline__ uint64_t life_sign(const TrEp* d, int p) {
    return peer_ctrl(d, p, TR_EP_BEAT) + peer_ctrl(d, p, TR_EP_RDV);
}

// The rendezvous's waits, one thread: polls until no participant lags (lagging(p) is re-evaluated every poll and may
// raise this rank's proposal as a side effect). Each participant has its own timeout, restarted by its life_sign: a
// lagging participant that is alive is itself waiting (on a dead rank it has not yet given up on, say), and survivors
// that detect a death at different times must not mask each other. A participant silent for timeout_ns, or lagging for
// TR_EP_LIVE_WAIT_TIMEOUTS timeouts, is masked (elastic; it stops being a participant) or reported as a CLEAN fault
// (non-elastic, which ends the wait).
template <typename Participant, typename Lagging>
__device__ void rendezvous_wait(const TrEp* d, Participant participant, Lagging lagging, uint64_t timeout_ns) {
    __shared__ uint64_t s_life[TR_EP_MAX_RANKS];
    __shared__ uint64_t s_live_at[TR_EP_MAX_RANKS];
    const int r = ranks(d);
    for (int p = 0; p < r; ++p) {
        s_life[p] = participant(p) ? life_sign(d, p) : 0;
        s_live_at[p] = 0;
    }
    WaitClock clock(now_ns());
    for (int poll = 0;; ++poll) {
        beat(d, poll, clock.tick());
        bool waiting = false;
        bool reported = false;
        for (int p = 0; p < r; ++p) {
            if (!participant(p) || !lagging(p)) continue;
            const uint64_t b = life_sign(d, p);
            if (b != s_life[p]) {
                s_life[p] = b;
                s_live_at[p] = clock.total;
            }
            if (clock.total - s_live_at[p] > timeout_ns || clock.total > TR_EP_LIVE_WAIT_TIMEOUTS * timeout_ns) {
                on_timeout(d, p, TR_EP_PHASE_CLEAN);
                reported = true;
            } else {
                waiting = true;
            }
        }
        if (!waiting || (reported && !d->elastic)) return;
        if (poll >= TR_EP_SPIN_POLLS) __nanosleep(TR_EP_SLEEP_NS);
    }
}

}  // namespace tr_ep

// cleanBuffer / readmit: the generation rendezvous of RankProtocol#rendezvous on the device. Participants are this
// rank and every peer it does not mask (all ranks in non-elastic mode). They converge on the largest generation any
// of them proposes, restart every sequence at generation << 32, publish fresh control words, and confirm. A silent
// participant is masked after timeout_ns (elastic) or reported as a CLEAN fault (non-elastic); one that beats is
// waited for (tr_ep::rendezvous_wait). One thread does it: the wait is a handful of words per peer. Resets this
// rank's receive counts.
extern "C" __global__ void __launch_bounds__(32)
tr_ep_clean(const TrEp* __restrict__ d, uint64_t timeout_ns) {
    using namespace tr_ep;
    if (threadIdx.x != 0) return;
    const int r = ranks(d);
    const int me = self(d);
    const bool elastic = d->elastic != 0;
    const int* mask = own<int>(d, d->off_mask);
    TrEpState* st = state(d);
    uint64_t* rdv = ctrl(base(d), d, TR_EP_RDV);
    int* rep = report(d);
    for (int i = 0; i < TR_EP_REP_HEADER; ++i) st_volatile(rep + i, 0);
    for (int i = 0; i < r; ++i) {
        st_volatile(report_newly(d, TR_EP_CALL_SYNC) + i, 0);
        st_volatile(report_fault_peers(d) + i, 0);
    }

    auto participant = [&](int p) { return p != me && (!elastic || ld_volatile(mask + p) == 0); };
    uint64_t mine = st->gen;
    for (int p = 0; p < r; ++p) {
        if (participant(p)) {
            const uint64_t g = peer_ctrl(d, p, TR_EP_RDV) >> 1;
            mine = g > mine ? g : mine;
        }
    }
    ++mine;
    st_release(rdv, mine << 1);
    // Proposing: a participant lags while its generation differs from ours; a larger one becomes ours (and the others
    // are polled again against it).
    rendezvous_wait(d, participant, [&](int p) {
        const uint64_t g = peer_ctrl(d, p, TR_EP_RDV) >> 1;
        if (g > mine) {
            mine = g;
            st_release(rdv, mine << 1);
            return true;
        }
        return g != mine;
    }, timeout_ns);

    const uint64_t base_seq = mine << 32;
    st->seq = base_seq;
    st->sync_seq = base_seq;
    st->gen = mine;
    st->send_done = 0;
    st->total_rows = 0;
    int* counts = own<int>(d, d->off_recv_count);
    for (int l = 0; l < d->local_experts; ++l) counts[l] = 0;
    if (d->off_prefill != 0) {
        // The prefill mode's words restart with the steps (prefill.cuh): its notify word and every progress word.
        const TrPf* f = own<TrPf>(d, d->off_prefill);
        st_relaxed(own<uint64_t>(d, f->off_notify), 0);
        uint64_t* progress = own<uint64_t>(d, f->off_progress);
        for (int i = 0; i < TR_PF_PROGRESS_KINDS * r; ++i) st_relaxed(progress + i, 0);
    }
    __threadfence_system();
    st_release(ctrl(base(d), d, TR_EP_DISP), base_seq << 1 | 1);
    st_release(ctrl(base(d), d, TR_EP_COMB), base_seq << 1 | 1);
    st_release(ctrl(base(d), d, TR_EP_SYNC), base_seq);
    st_release(rdv, mine << 1 | 1);

    // Confirming: a participant lags until it published the agreed generation as done.
    rendezvous_wait(d, participant, [&](int p) { return peer_ctrl(d, p, TR_EP_RDV) < (mine << 1 | 1); },
                    timeout_ns);
    __threadfence_system();
}

// ------------------------------------------------------------------------------------------------ failure injection

// Holds a stream: spins until the host writes a non-zero word at release (pinned host memory) or max_ns elapsed, so a
// test can stall a rank's phases behind it and let the survivors time out. The cap keeps a forgotten stall from
// hanging the process.
extern "C" __global__ void __launch_bounds__(32)
tr_ep_spin(const int* __restrict__ release, uint64_t max_ns) {
    if (threadIdx.x != 0) return;
    const uint64_t t0 = tr_ep::now_ns();
    while (tr_ep::ld_volatile(release) == 0 && tr_ep::now_ns() - t0 < max_ns) {
        __nanosleep(1000);
    }
}
