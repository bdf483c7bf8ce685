// Elastic EP, part 1: what every EP kernel shares (the rank descriptor, control words, ordered loads and stores,
// the timed wait on a peer with the mask re-read in every poll), and the collectives that need no rows: barrier,
// allGather, the cleanBuffer/readmit rendezvous, and the stall kernel used for failure injection.
//
// Model (spec/elastic-ep.md §3, io.tokenroute.routing.protocol.RankProtocol). Every rank owns one device allocation
// laid out by io.tokenroute.routing.cuda.CudaRankLayout; the offsets of its symmetric part are equal on every rank, so
// a peer's word is peers[p] + offset. Peers are reached by plain pointers (cuda-local: one process, one GPU; nvshmem:
// nvshmem_ptr over NVLink). The protocol is *pull*: a rank writes only its own allocation and reads its peers', so a
// dead or stale rank can never corrupt a live one, and each (token, expert) row crosses memory once.
//
// Control words (symmetric, one 128-byte line each), monotonic, never reset by peers:
//   DISP  = seq << 1 | ready   staging slot (seq & 1) of dispatch step seq is published (ready) or being written
//   COMB  = seq << 1 | ready   layout + combine-send rows of step seq are published / being rewritten
//   SYNC  = sync sequence the rank arrived at (barrier, allGather)
//   RDV   = generation << 1 | done   cleanBuffer/readmit rendezvous
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

#include "tokenroute_common.cuh"

// ------------------------------------------------------------------------------------------------ the descriptor

// The rank descriptor: 64 int64 words in the rank's own allocation, written once by the host
// (io.tokenroute.routing.cuda.CudaRankLayout#descriptor). The order of the words is a contract with that method.
enum TrEpField {
    TR_EP_RANK = 0,
    TR_EP_RANKS,
    TR_EP_EXPERTS,
    TR_EP_LOCAL_EXPERTS,
    TR_EP_MAX_TOKENS,
    TR_EP_HIDDEN,
    TR_EP_MAX_TOPK,
    TR_EP_ELASTIC,
    TR_EP_COLLECTIVE_BYTES,
    TR_EP_BITMAP_WORDS,      // ceil(T / 32)
    TR_EP_BASE,              // this rank's allocation
    TR_EP_PEERS,             // device array of R allocation bases (self included)
    TR_EP_REPORT,            // pinned host int32 report (layout in CudaRankLayout)
    TR_EP_OFF_CTRL,          // symmetric offsets from here on
    TR_EP_OFF_STAGE,
    TR_EP_STAGE_STRIDE,
    TR_EP_ST_FORMAT,         // offsets inside one staging slot
    TR_EP_ST_CSR,
    TR_EP_ST_TOKENS,
    TR_EP_ST_BF16,
    TR_EP_ST_FP8,
    TR_EP_ST_SCALES,
    TR_EP_OFF_LAYOUT,
    TR_EP_OFF_COMB_ROWS,
    TR_EP_OFF_PAYLOAD,
    TR_EP_PAYLOAD_STRIDE,
    TR_EP_OFF_STATE,         // private offsets from here on
    TR_EP_OFF_MASK,
    TR_EP_OFF_MET,
    TR_EP_OFF_CMET,
    TR_EP_OFF_ROUTED,
    TR_EP_OFF_POSITION,
    TR_EP_OFF_BITMAP,
    TR_EP_OFF_SENT,
    TR_EP_OFF_VALID,
    TR_EP_OFF_ROW_BASE,
    TR_EP_OFF_CUM_RECV,
    TR_EP_OFF_DWAIT,
    TR_EP_OFF_CWAIT,
    TR_EP_OFF_RECV_X,
    TR_EP_OFF_RECV_SCALES,
    TR_EP_OFF_SRC_RANK,
    TR_EP_OFF_SRC_TOKEN,
    TR_EP_OFF_RECV_COUNT,
    TR_EP_OFF_OUT,
    TR_EP_OFF_LOST,
    TR_EP_OFF_GATHER_IN,
    TR_EP_OFF_GATHER_OUT,
    TR_EP_OFF_INPUT_X,
    TR_EP_OFF_INPUT_IDX,
    TR_EP_OFF_INPUT_W,
    TR_EP_RECV_CAPACITY,     // R * T rows per local expert
    TR_EP_SCALE_GROUPS,      // H / 128, or 0 when H % 128 != 0
    TR_EP_OFF_SRC_BEGIN,     // int32[L][R]: where expert l's list starts in source p's token lists
    TR_EP_OFF_TRACE,         // uint64[TR_EP_TRACE_PHASES][2]: first block start, last block end (%globaltimer)
    TR_EP_FIELDS
};
static_assert(TR_EP_FIELDS <= 64, "the descriptor holds 64 words");

struct TrEp {
    int64_t f[64];
};

// Batched launches (the hot path of cuda-local): one grid covers several ranks, blockIdx.y selecting the rank; the
// per-rank arguments are arrays indexed by blockIdx.y in the kernel parameters (they stay in the constant bank), and
// a zero descriptor means "this rank is not launched": its blocks return at once. A per-rank launch is the same
// kernel with gridDim.y = 1 (a stalled rank on its own stream; the nvshmem transport, one rank per process).
struct TrEpBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
};
struct TrEpSendBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
    uint64_t x[TR_EP_BATCH_RANKS];    // n x H rows of dtype, device memory
    uint64_t idx[TR_EP_BATCH_RANKS];  // n x k int64 expert ids
    int32_t n[TR_EP_BATCH_RANKS];
    int32_t k[TR_EP_BATCH_RANKS];
    int32_t dtype[TR_EP_BATCH_RANKS];  // 0 bf16, 1 fp16, 2 fp32
};
struct TrEpReduceBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
    uint64_t weights[TR_EP_BATCH_RANKS];  // n x k float32, device memory
};
#define TR_EP_BATCH_RANK(batch) reinterpret_cast<const TrEp*>((batch).desc[blockIdx.y])

// Control words, at off_ctrl + 128 * index.
constexpr int TR_EP_DISP = 0;
constexpr int TR_EP_COMB = 1;
constexpr int TR_EP_SYNC = 2;
constexpr int TR_EP_RDV = 3;

// Private step state at off_state (CudaRankLayout.STATE_BYTES).
struct TrEpState {
    uint64_t seq;          // last dispatch step whose receive completed (see the file comment)
    uint64_t sync_seq;     // last barrier/allGather sequence
    uint64_t gen;          // rendezvous generation
    uint32_t send_done;    // blocks of the dispatch-send kernel that finished (the last one publishes, resets)
    int32_t n;             // tokens of the current step
    int32_t k;             // top-k of the current step
    int32_t format;        // DispatchOptions format code of the current step
    int32_t total_rows;    // rows this rank received in the current step, all local experts
    uint32_t copy_done;    // blocks of the dispatch copy that finished (the last one re-checks peers)
    uint32_t reduce_done;  // blocks of the combine reduce that finished (likewise)
    int32_t stats;         // whether the current dispatch adds to the cumulative receive stats
    int32_t pad[6];
};
static_assert(sizeof(TrEpState) == 80, "CudaRankLayout.STATE_BYTES covers the state");

// Host-visible report (pinned memory, int32 words), io.tokenroute.routing.cuda.CudaRankLayout#report*.
constexpr int TR_EP_REP_FAULT = 0;        // bit 1: a peer timed out (non-elastic), 2: fp8 options differ, 4: bad ids
constexpr int TR_EP_REP_PHASE = 1;        // io.tokenroute.routing.Phase ordinal of the timeout
constexpr int TR_EP_REP_BAD = 2;          // expert ids out of range seen by the device (dropped)
constexpr int TR_EP_REP_MISMATCH = 3;     // 1 + the peer whose fp8 options differ
constexpr int TR_EP_REP_HEADER = 8;       // then newly[3][R], fault_peers[R], met[R], recv_count[L], layout[L][R][2]
// Newly-masked flags are kept per call kind, so a late (stalled) rank's dispatch report survives its combine.
constexpr int TR_EP_CALL_DISPATCH = 0;
constexpr int TR_EP_CALL_COMBINE = 1;
constexpr int TR_EP_CALL_SYNC = 2;

constexpr int TR_EP_FAULT_TIMEOUT = 1;
constexpr int TR_EP_FAULT_FORMAT = 2;
constexpr int TR_EP_FAULT_BAD_INPUT = 4;

// io.tokenroute.routing.Phase ordinals.
constexpr int TR_EP_PHASE_DISPATCH_RECV = 2;
constexpr int TR_EP_PHASE_COMBINE_RECV = 4;
constexpr int TR_EP_PHASE_CLEAN = 5;
constexpr int TR_EP_PHASE_BARRIER = 6;
constexpr int TR_EP_PHASE_ALL_GATHER = 7;

// Kernel phases stamped into the trace (CudaLocalGroup#phaseTrace): cheap enough to stay on (two atomics per block).
constexpr int TR_EP_TRACE_SEND = 0;
constexpr int TR_EP_TRACE_DISPATCH_WAIT = 1;
constexpr int TR_EP_TRACE_COPY = 2;
constexpr int TR_EP_TRACE_COMBINE_SEND = 3;
constexpr int TR_EP_TRACE_COMBINE_WAIT = 4;
constexpr int TR_EP_TRACE_REDUCE = 5;
constexpr int TR_EP_TRACE_PHASES = 8;

namespace tr_ep {

__device__ __forceinline__ int64_t field(const TrEp* d, int i) { return d->f[i]; }
__device__ __forceinline__ uint8_t* base(const TrEp* d) { return reinterpret_cast<uint8_t*>(d->f[TR_EP_BASE]); }
__device__ __forceinline__ uint8_t* peer(const TrEp* d, int p) {
    return reinterpret_cast<uint8_t*>(reinterpret_cast<const uint64_t*>(d->f[TR_EP_PEERS])[p]);
}
template <typename T>
__device__ __forceinline__ T* own(const TrEp* d, int offset_field) {
    return reinterpret_cast<T*>(base(d) + d->f[offset_field]);
}
__device__ __forceinline__ TrEpState* state(const TrEp* d) { return own<TrEpState>(d, TR_EP_OFF_STATE); }
__device__ __forceinline__ uint64_t* ctrl(uint8_t* rank_base, const TrEp* d, int word) {
    return reinterpret_cast<uint64_t*>(rank_base + d->f[TR_EP_OFF_CTRL] + 128 * word);
}
__device__ __forceinline__ int* report(const TrEp* d) { return reinterpret_cast<int*>(d->f[TR_EP_REPORT]); }
__device__ __forceinline__ int ranks(const TrEp* d) { return static_cast<int>(d->f[TR_EP_RANKS]); }
__device__ __forceinline__ int self(const TrEp* d) { return static_cast<int>(d->f[TR_EP_RANK]); }

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

// First start and last end of a kernel's blocks; the host resets the trace to (UINT64_MAX, 0) before reading it.
__device__ __forceinline__ void trace_begin(const TrEp* d, int phase) {
    if (threadIdx.x == 0) {
        atomicMin(reinterpret_cast<unsigned long long*>(own<uint64_t>(d, TR_EP_OFF_TRACE) + 2 * phase),
                  static_cast<unsigned long long>(now_ns()));
    }
}
__device__ __forceinline__ void trace_end(const TrEp* d, int phase) {
    if (threadIdx.x == 0) {
        atomicMax(reinterpret_cast<unsigned long long*>(own<uint64_t>(d, TR_EP_OFF_TRACE) + 2 * phase + 1),
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
    return report_recv_count(d) + d->f[TR_EP_LOCAL_EXPERTS];
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

__device__ __forceinline__ int call_kind(int phase) {
    return phase == TR_EP_PHASE_DISPATCH_RECV ? TR_EP_CALL_DISPATCH
           : phase == TR_EP_PHASE_COMBINE_RECV ? TR_EP_CALL_COMBINE : TR_EP_CALL_SYNC;
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
    if (d->f[TR_EP_ELASTIC]) {
        int* mask = own<int>(d, TR_EP_OFF_MASK);
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

// Waits until *word >= target (acquire), re-reading the rank's mask entry for p in every poll.
// Returns 1 when met (adding the wait to *cost_ns if given), 0 when p is or became masked, -1 after a timeout
// (handled by on_timeout). t0 is the common start of the wait, timeout_ns a runtime argument.
__device__ __forceinline__ int wait_peer(const TrEp* d, int p, const uint64_t* word, uint64_t target, uint64_t t0,
                                         uint64_t timeout_ns, int phase, int64_t* cost_ns) {
    const int* mask = own<int>(d, TR_EP_OFF_MASK);
    for (int poll = 0;; ++poll) {
        if (ld_acquire(word) >= target) {
            if (cost_ns != nullptr) *cost_ns += static_cast<int64_t>(now_ns() - t0);
            return 1;
        }
        if (ld_volatile(mask + p) != 0) return 0;
        if (now_ns() - t0 > timeout_ns) {
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
    const int* mask = own<int>(d, TR_EP_OFF_MASK);
    const uint64_t t0 = now_ns();
    for (int p = threadIdx.x; p < r; p += blockDim.x) {
        int ok;
        if (p == me) {
            ok = 1;
        } else if (ld_volatile(mask + p) != 0) {
            ok = 0;
        } else {
            ok = wait_peer(d, p, ctrl(peer(d, p), d, word), target, t0, timeout_ns, phase,
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
        const uint8_t* in = own<uint8_t>(d, TR_EP_OFF_GATHER_IN);
        uint8_t* slot = base(d) + d->f[TR_EP_OFF_PAYLOAD] + (s & 1) * d->f[TR_EP_PAYLOAD_STRIDE];
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
    int* met = own<int>(d, TR_EP_OFF_MET);
    await_active_peers(d, TR_EP_SYNC, s, timeout_ns, phase, met, nullptr);
    if (gather) {
        const int64_t stride = 8 + d->f[TR_EP_COLLECTIVE_BYTES];
        uint8_t* out = own<uint8_t>(d, TR_EP_OFF_GATHER_OUT);
        const int warp = threadIdx.x / 32;
        const int lane = threadIdx.x % 32;
        const int warps = blockDim.x / 32;
        for (int p = warp; p < r; p += warps) {
            uint8_t* dst = out + p * stride;
            if (!met[p]) {
                if (lane == 0) *reinterpret_cast<int64_t*>(dst) = -1;
                continue;
            }
            const uint8_t* slot = peer(d, p) + d->f[TR_EP_OFF_PAYLOAD] + (s & 1) * d->f[TR_EP_PAYLOAD_STRIDE];
            int64_t len = *reinterpret_cast<const volatile int64_t*>(slot);
            len = len < 0 ? 0 : (len > d->f[TR_EP_COLLECTIVE_BYTES] ? d->f[TR_EP_COLLECTIVE_BYTES] : len);
            for (int64_t i = lane; i < len; i += 32) dst[8 + i] = slot[8 + i];
            if (lane == 0) *reinterpret_cast<int64_t*>(dst) = len;
        }
        __syncthreads();
        __threadfence_system();
        for (int p = threadIdx.x; p < r; p += blockDim.x) {
            if (p != self(d) && met[p] && ld_acquire(ctrl(peer(d, p), d, TR_EP_SYNC)) >= s + 2) {
                met[p] = 0;
                *reinterpret_cast<int64_t*>(out + p * stride) = -1;
                if (d->f[TR_EP_ELASTIC] && atomicExch(own<int>(d, TR_EP_OFF_MASK) + p, 1) == 0) {
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

// cleanBuffer / readmit: the generation rendezvous of RankProtocol#rendezvous on the device. Participants are this
// rank and every peer it does not mask (all ranks in non-elastic mode). They converge on the largest generation any
// of them proposes, restart every sequence at generation << 32, publish fresh control words, and confirm. A silent
// participant is masked after timeout_ns (elastic) or reported as a CLEAN fault (non-elastic). One thread does it:
// the wait is a handful of words per peer. Resets this rank's receive counts.
extern "C" __global__ void __launch_bounds__(32)
tr_ep_clean(const TrEp* __restrict__ d, uint64_t timeout_ns) {
    using namespace tr_ep;
    if (threadIdx.x != 0) return;
    const int r = ranks(d);
    const int me = self(d);
    const bool elastic = d->f[TR_EP_ELASTIC] != 0;
    const int* mask = own<int>(d, TR_EP_OFF_MASK);
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
            const uint64_t g = ld_acquire(ctrl(peer(d, p), d, TR_EP_RDV)) >> 1;
            mine = g > mine ? g : mine;
        }
    }
    ++mine;
    st_release(rdv, mine << 1);
    uint64_t t0 = now_ns();
    for (int poll = 0;; ++poll) {
        bool all = true;
        for (int p = 0; p < r; ++p) {
            if (!participant(p)) continue;
            const uint64_t g = ld_acquire(ctrl(peer(d, p), d, TR_EP_RDV)) >> 1;
            if (g > mine) {
                mine = g;
                st_release(rdv, mine << 1);
                all = false;
            } else if (g < mine) {
                all = false;
            }
        }
        if (all) break;
        if (now_ns() - t0 > timeout_ns) {
            for (int p = 0; p < r; ++p) {
                if (participant(p) && (ld_acquire(ctrl(peer(d, p), d, TR_EP_RDV)) >> 1) != mine) {
                    on_timeout(d, p, TR_EP_PHASE_CLEAN);
                }
            }
            break;
        }
        if (poll >= TR_EP_SPIN_POLLS) __nanosleep(TR_EP_SLEEP_NS);
    }

    const uint64_t base_seq = mine << 32;
    st->seq = base_seq;
    st->sync_seq = base_seq;
    st->gen = mine;
    st->send_done = 0;
    st->total_rows = 0;
    int* counts = own<int>(d, TR_EP_OFF_RECV_COUNT);
    for (int l = 0; l < d->f[TR_EP_LOCAL_EXPERTS]; ++l) counts[l] = 0;
    __threadfence_system();
    st_release(ctrl(base(d), d, TR_EP_DISP), base_seq << 1 | 1);
    st_release(ctrl(base(d), d, TR_EP_COMB), base_seq << 1 | 1);
    st_release(ctrl(base(d), d, TR_EP_SYNC), base_seq);
    st_release(rdv, mine << 1 | 1);

    t0 = now_ns();
    for (int poll = 0;; ++poll) {
        bool all = true;
        for (int p = 0; p < r; ++p) {
            if (participant(p) && ld_acquire(ctrl(peer(d, p), d, TR_EP_RDV)) < (mine << 1 | 1)) all = false;
        }
        if (all) break;
        if (now_ns() - t0 > timeout_ns) {
            for (int p = 0; p < r; ++p) {
                if (participant(p) && ld_acquire(ctrl(peer(d, p), d, TR_EP_RDV)) < (mine << 1 | 1)) {
                    on_timeout(d, p, TR_EP_PHASE_CLEAN);
                }
            }
            break;
        }
        if (poll >= TR_EP_SPIN_POLLS) __nanosleep(TR_EP_SLEEP_NS);
    }
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
