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
// The Java <-> CUDA contract of the kernels, in one place: the rank descriptor, the step state, the by-value launch
// structs, the control words, the host report, and every numeric code that crosses the boundary (Phase, wire format,
// input dtype, fp8 scale mode, faults, call kinds, trace phases).
//
// How Java is held to it. Every layout below is pinned by static_asserts on offsetof and sizeof, so moving a field
// without changing the numbers here fails the kernel build. build-kernels.sh also compiles tokenroute_abi_dump.cu, a
// host program that prints TR_ABI_ENTRIES (below) into tokenroute-abi.properties next to the fatbin; the Java classes
// that mirror these values (io.tokenroute.routing.cuda.CudaRankLayout, io.tokenroute.routing.Phase,
// io.tokenroute.routing.DispatchOptions, io.tokenroute.device.Fp8ScaleMode, ...) are compared with that file when the
// kernels are loaded, and by unit tests that need no GPU (io.tokenroute.device.KernelAbi). The module itself carries
// tr_abi_fingerprint, a hash of the same entries, so a module built from another version of this header (a stale
// NVSHMEM cubin, say) is refused at load instead of reading garbage.
//
// No kernels and no device state here: the dump program includes it as host code, and the layouts are the same on both
// sides (x86-64 and the CUDA device ABI agree on every type used here).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tokenroute_config.cuh"

// ------------------------------------------------------------------------------------------------ the descriptor

// The rank descriptor: 64 int64 words in the rank's own allocation, written once by the host when the group opens
// (CudaRankLayout#descriptor, one long per word) and only read by the kernels. Offsets "symmetric" are equal on every
// rank (a peer's word is the peer's base plus the offset); "private" ones only the owner's kernels use. T = max
// tokens, k = max top-k, E = experts, L = local experts, R = ranks, H = hidden.
constexpr int TR_EP_DESCRIPTOR_FIELDS = 56;  // words in use (Java: CudaRankLayout.FIELDS)
constexpr int TR_EP_DESCRIPTOR_WORDS = 64;   // words in all (Java: CudaRankLayout.DESCRIPTOR_WORDS)
struct TrEp {
    int64_t rank;              // this rank
    int64_t ranks;             // R
    int64_t experts;           // E
    int64_t local_experts;     // L = E / R
    int64_t max_tokens;        // T
    int64_t hidden;            // H
    int64_t max_topk;          // k
    int64_t elastic;           // 1: a timed-out peer is masked; 0: the timeout is reported as a fault
    int64_t collective_bytes;  // allGather payload capacity
    int64_t bitmap_words;      // ceil(T / 32)
    uint8_t* base;             // this rank's allocation
    const uint64_t* peers;     // device array of R allocation bases (self included; 0: reach by NVSHMEM)
    int* report;               // pinned host int32 report (TR_EP_REP_*)
    // symmetric offsets
    int64_t off_ctrl;          // control words, TR_EP_CTRL_STRIDE bytes apart
    int64_t off_stage;         // staging slot 0; slot 1 follows at stage_stride
    int64_t stage_stride;
    int64_t st_format;         // inside one staging slot: int32 format code
    int64_t st_csr;            // int32[E + 1]
    int64_t st_tokens;         // int32[T k]
    int64_t st_bf16;           // bf16 [T][H]
    int64_t st_fp8;            // e4m3 [T][H]
    int64_t st_scales;         // [T][H / 128] float32 or ue8m0 bytes
    int64_t off_layout;        // int32 [L][R][2]
    int64_t off_comb_rows;     // bf16 [L][R T][H]
    int64_t off_payload;       // 2 slots of (int64 length, bytes)
    int64_t payload_stride;
    // private offsets
    int64_t off_state;         // TrEpState
    int64_t off_mask;          // int32[R]
    int64_t off_met;           // int32[R]
    int64_t off_cmet;          // int32[R]
    int64_t off_routed;        // int32[T k]
    int64_t off_position;      // int32[T k]
    int64_t off_bitmap;        // uint32[E][bitmap_words]
    int64_t off_sent;          // int32[E]
    int64_t off_valid;         // int32[E]
    int64_t off_row_base;      // int32[L + 1]
    int64_t off_cum_recv;      // int64[L]
    int64_t off_dwait;         // int64[R]
    int64_t off_cwait;         // int64[R]
    int64_t off_recv_x;        // bf16 [L][R T][H] (fp8 rows packed at the start of each expert's region)
    int64_t off_recv_scales;   // [L][R T][H / 128]
    int64_t off_src_rank;      // int32[L][R T]
    int64_t off_src_token;     // int32[L][R T]
    int64_t off_recv_count;    // int32[L]
    int64_t off_out;           // bf16 [T][H]
    int64_t off_lost;          // float32[T]
    int64_t off_gather_in;     // int64 length + bytes
    int64_t off_gather_out;    // R slots of (int64 length, bytes)
    int64_t off_input_x;       // host-batch input area: rows up to float32 [T][H]
    int64_t off_input_idx;     // int64[T k]
    int64_t off_input_w;       // float32[T k]
    int64_t recv_capacity;     // R * T rows per local expert
    int64_t scale_groups;      // H / 128, or 0 when H % 128 != 0
    int64_t off_src_begin;     // int32[L][R]: where expert l's list starts in source p's token lists
    int64_t off_trace;         // uint64[TR_EP_TRACE_PHASES][2]: first block start, last block end (%globaltimer)
    int64_t off_prefill;       // the prefill descriptor (TrPf) in this allocation; 0: no prefill mode
    int64_t spare[TR_EP_DESCRIPTOR_WORDS - TR_EP_DESCRIPTOR_FIELDS];  // zero; room to grow at the same size
};
static_assert(sizeof(TrEp) == 8 * TR_EP_DESCRIPTOR_WORDS, "the descriptor is 64 words");
static_assert(offsetof(TrEp, spare) == 8 * TR_EP_DESCRIPTOR_FIELDS, "56 words in use before the spare ones");
static_assert(offsetof(TrEp, rank) == 0, "descriptor word 0");
static_assert(offsetof(TrEp, ranks) == 8, "descriptor word 1");
static_assert(offsetof(TrEp, experts) == 16, "descriptor word 2");
static_assert(offsetof(TrEp, local_experts) == 24, "descriptor word 3");
static_assert(offsetof(TrEp, max_tokens) == 32, "descriptor word 4");
static_assert(offsetof(TrEp, hidden) == 40, "descriptor word 5");
static_assert(offsetof(TrEp, max_topk) == 48, "descriptor word 6");
static_assert(offsetof(TrEp, elastic) == 56, "descriptor word 7");
static_assert(offsetof(TrEp, collective_bytes) == 64, "descriptor word 8");
static_assert(offsetof(TrEp, bitmap_words) == 72, "descriptor word 9");
static_assert(offsetof(TrEp, base) == 80, "descriptor word 10");
static_assert(offsetof(TrEp, peers) == 88, "descriptor word 11");
static_assert(offsetof(TrEp, report) == 96, "descriptor word 12");
static_assert(offsetof(TrEp, off_ctrl) == 104, "descriptor word 13");
static_assert(offsetof(TrEp, off_stage) == 112, "descriptor word 14");
static_assert(offsetof(TrEp, stage_stride) == 120, "descriptor word 15");
static_assert(offsetof(TrEp, st_format) == 128, "descriptor word 16");
static_assert(offsetof(TrEp, st_csr) == 136, "descriptor word 17");
static_assert(offsetof(TrEp, st_tokens) == 144, "descriptor word 18");
static_assert(offsetof(TrEp, st_bf16) == 152, "descriptor word 19");
static_assert(offsetof(TrEp, st_fp8) == 160, "descriptor word 20");
static_assert(offsetof(TrEp, st_scales) == 168, "descriptor word 21");
static_assert(offsetof(TrEp, off_layout) == 176, "descriptor word 22");
static_assert(offsetof(TrEp, off_comb_rows) == 184, "descriptor word 23");
static_assert(offsetof(TrEp, off_payload) == 192, "descriptor word 24");
static_assert(offsetof(TrEp, payload_stride) == 200, "descriptor word 25");
static_assert(offsetof(TrEp, off_state) == 208, "descriptor word 26");
static_assert(offsetof(TrEp, off_mask) == 216, "descriptor word 27");
static_assert(offsetof(TrEp, off_met) == 224, "descriptor word 28");
static_assert(offsetof(TrEp, off_cmet) == 232, "descriptor word 29");
static_assert(offsetof(TrEp, off_routed) == 240, "descriptor word 30");
static_assert(offsetof(TrEp, off_position) == 248, "descriptor word 31");
static_assert(offsetof(TrEp, off_bitmap) == 256, "descriptor word 32");
static_assert(offsetof(TrEp, off_sent) == 264, "descriptor word 33");
static_assert(offsetof(TrEp, off_valid) == 272, "descriptor word 34");
static_assert(offsetof(TrEp, off_row_base) == 280, "descriptor word 35");
static_assert(offsetof(TrEp, off_cum_recv) == 288, "descriptor word 36");
static_assert(offsetof(TrEp, off_dwait) == 296, "descriptor word 37");
static_assert(offsetof(TrEp, off_cwait) == 304, "descriptor word 38");
static_assert(offsetof(TrEp, off_recv_x) == 312, "descriptor word 39");
static_assert(offsetof(TrEp, off_recv_scales) == 320, "descriptor word 40");
static_assert(offsetof(TrEp, off_src_rank) == 328, "descriptor word 41");
static_assert(offsetof(TrEp, off_src_token) == 336, "descriptor word 42");
static_assert(offsetof(TrEp, off_recv_count) == 344, "descriptor word 43");
static_assert(offsetof(TrEp, off_out) == 352, "descriptor word 44");
static_assert(offsetof(TrEp, off_lost) == 360, "descriptor word 45");
static_assert(offsetof(TrEp, off_gather_in) == 368, "descriptor word 46");
static_assert(offsetof(TrEp, off_gather_out) == 376, "descriptor word 47");
static_assert(offsetof(TrEp, off_input_x) == 384, "descriptor word 48");
static_assert(offsetof(TrEp, off_input_idx) == 392, "descriptor word 49");
static_assert(offsetof(TrEp, off_input_w) == 400, "descriptor word 50");
static_assert(offsetof(TrEp, recv_capacity) == 408, "descriptor word 51");
static_assert(offsetof(TrEp, scale_groups) == 416, "descriptor word 52");
static_assert(offsetof(TrEp, off_src_begin) == 424, "descriptor word 53");
static_assert(offsetof(TrEp, off_trace) == 432, "descriptor word 54");
static_assert(offsetof(TrEp, off_prefill) == 440, "descriptor word 55");

// ------------------------------------------------------------------------------------------------ prefill

// The prefill (high-throughput) descriptor: TR_PF_DESCRIPTOR_WORDS int64 words in the rank's own allocation at
// TrEp::off_prefill, written once by the host when the group opens (CudaPrefillLayout#descriptor) and only read by the
// kernels (prefill.cuh). Tp = prefillMaxTokensPerRank, CR = prefillChunkRows, C = prefillChunks, S = min(k, R) (the most
// destination ranks one token has). Offsets are relative to the rank's base like TrEp's; "symmetric" ones are read by
// peers.
constexpr int TR_PF_DESCRIPTOR_WORDS = 32;
struct TrPf {
    int64_t max_tokens;        // Tp
    int64_t chunk_rows;        // CR
    int64_t chunks;            // C: queue slots per (source, destination) pair
    int64_t entry_bytes;       // dispatch queue entry: int32 token, int32 local ids [k], float32 weights [k], row
    int64_t entry_row;         // offset of the staged row (bf16, or e4m3 codes + float32 scales) in an entry
    int64_t back_entry_bytes;  // combine queue entry: int32 token, then the bf16 partial row at TR_PF_BACK_ROW
    int64_t rank_words;        // ceil(R / 32): words of one token's destination bitmap
    int64_t slots;             // S
    // symmetric
    int64_t off_notify;        // uint64: the prefill step whose counts are published
    int64_t off_counts;        // int32[2][R]: tokens sent to each destination, by step parity
    int64_t off_progress;      // uint64[TR_PF_PROGRESS_KINDS][R]: (step << 32 | chunks) per peer
    int64_t off_queues;        // dispatch queues [R destinations][C][CR] entries
    int64_t off_back_queues;   // combine queues [R sources][C][CR] back entries
    // private
    int64_t off_state;         // TrPfState
    int64_t off_alive;         // int32[R]: peers answering in the current call
    int64_t off_kept;          // int32[R]: sources whose rows the current dispatch keeps
    int64_t off_recv_from;     // int32[R]: rows received from each source
    int64_t off_recv_begin;    // int32[R + 1]: where each source's rows start in the receive batch
    int64_t off_dest_count;    // int32[R]: tokens this rank sends each destination
    int64_t off_dest_start;    // int32[R + 1]: each destination's list in dest_tokens
    int64_t off_back_to;       // int32[R]: partial rows this rank sends back to each source in the combine
    int64_t off_back_got;      // int32[R]: partial rows this rank received from each destination
    int64_t off_in_rank;       // uint32[Tp][rank_words]: the destinations of each token (token_in_rank)
    int64_t off_dest_tokens;   // int32[Tp S]: per destination, its tokens ascending (dest_start gives the lists)
    int64_t off_tok_pos;       // int32[Tp][S]: token t's index in the list of its i-th destination (ascending rank)
    int64_t off_routed;        // int32[Tp][k]: the dispatched expert ids (-1 = none), for lost_weight
    int64_t off_input_x;       // host-batch input area: rows up to float32 [Tp][H]
    int64_t off_input_idx;     // int64[Tp k]
    int64_t off_input_w;       // float32[Tp k]
    int64_t off_out;           // bf16 [Tp][H]: the combine output
    int64_t off_lost;          // float32[Tp]
    int64_t off_summary;       // int32[TR_PF_SUMMARY_HEADER + 3R + L]: what the host reads back after a sync
};
static_assert(sizeof(TrPf) == 8 * TR_PF_DESCRIPTOR_WORDS, "the prefill descriptor is 32 words");
static_assert(offsetof(TrPf, max_tokens) == 0, "prefill word 0");
static_assert(offsetof(TrPf, chunk_rows) == 8, "prefill word 1");
static_assert(offsetof(TrPf, chunks) == 16, "prefill word 2");
static_assert(offsetof(TrPf, entry_bytes) == 24, "prefill word 3");
static_assert(offsetof(TrPf, entry_row) == 32, "prefill word 4");
static_assert(offsetof(TrPf, back_entry_bytes) == 40, "prefill word 5");
static_assert(offsetof(TrPf, rank_words) == 48, "prefill word 6");
static_assert(offsetof(TrPf, slots) == 56, "prefill word 7");
static_assert(offsetof(TrPf, off_notify) == 64, "prefill word 8");
static_assert(offsetof(TrPf, off_counts) == 72, "prefill word 9");
static_assert(offsetof(TrPf, off_progress) == 80, "prefill word 10");
static_assert(offsetof(TrPf, off_queues) == 88, "prefill word 11");
static_assert(offsetof(TrPf, off_back_queues) == 96, "prefill word 12");
static_assert(offsetof(TrPf, off_state) == 104, "prefill word 13");
static_assert(offsetof(TrPf, off_alive) == 112, "prefill word 14");
static_assert(offsetof(TrPf, off_kept) == 120, "prefill word 15");
static_assert(offsetof(TrPf, off_recv_from) == 128, "prefill word 16");
static_assert(offsetof(TrPf, off_recv_begin) == 136, "prefill word 17");
static_assert(offsetof(TrPf, off_dest_count) == 144, "prefill word 18");
static_assert(offsetof(TrPf, off_dest_start) == 152, "prefill word 19");
static_assert(offsetof(TrPf, off_back_to) == 160, "prefill word 20");
static_assert(offsetof(TrPf, off_back_got) == 168, "prefill word 21");
static_assert(offsetof(TrPf, off_in_rank) == 176, "prefill word 22");
static_assert(offsetof(TrPf, off_dest_tokens) == 184, "prefill word 23");
static_assert(offsetof(TrPf, off_tok_pos) == 192, "prefill word 24");
static_assert(offsetof(TrPf, off_routed) == 200, "prefill word 25");
static_assert(offsetof(TrPf, off_input_x) == 208, "prefill word 26");
static_assert(offsetof(TrPf, off_input_idx) == 216, "prefill word 27");
static_assert(offsetof(TrPf, off_input_w) == 224, "prefill word 28");
static_assert(offsetof(TrPf, off_out) == 232, "prefill word 29");
static_assert(offsetof(TrPf, off_lost) == 240, "prefill word 30");
static_assert(offsetof(TrPf, off_summary) == 248, "prefill word 31");

// Private prefill state at TrPf::off_state: the last-block counters of the grid kernels (each resets its own).
struct TrPfState {
    uint32_t pack_done;
    uint32_t copy_done;
    uint32_t reduce_done;
    uint32_t gather_done;
    uint32_t pad[12];
};
static_assert(sizeof(TrPfState) == 64, "the prefill state is 64 bytes");

// Progress words (TrPf::off_progress + 8 (kind R + peer)), each (step << 32 | chunks) with the step's low 32 bits: a
// word of another step counts as 0 chunks (io.tokenroute.routing.protocol.PrefillEngine, RegionLayout.Progress).
constexpr int TR_PF_DISPATCH_SENT = 0;   // in the sender, per destination: dispatch chunks written for it
constexpr int TR_PF_DISPATCH_TAKEN = 1;  // in the receiver, per source: dispatch chunks consumed (the credit)
constexpr int TR_PF_COMBINE_SENT = 2;    // in the expert rank, per source: partial chunks written back
constexpr int TR_PF_COMBINE_TAKEN = 3;   // in the source, per expert rank: partial chunks consumed (the credit)
constexpr int TR_PF_PROGRESS_KINDS = 4;
// Offset of the partial row in a combine queue entry (after the int32 token, padded to 16 bytes).
constexpr int TR_PF_BACK_ROW = 16;

// What tr_pf_wait waits for (TrPfArgs::kind).
constexpr int TR_PF_WAIT_DISPATCH_CREDIT = 0;  // destinations consumed chunk round - C (their DISPATCH_TAKEN)
constexpr int TR_PF_WAIT_DISPATCH_TAIL = 1;    // sources wrote chunk round (their DISPATCH_SENT)
constexpr int TR_PF_WAIT_COMBINE_CREDIT = 2;   // sources consumed partial chunk round - C (their COMBINE_TAKEN)
constexpr int TR_PF_WAIT_COMBINE_TAIL = 3;     // destinations wrote partial chunk round (their COMBINE_SENT)

// The summary (int32 words at TrPf::off_summary) the host copies back after a sync: a header, then kept[R],
// recv_from[R], dest_count[R], expert_count[L].
constexpr int TR_PF_SUM_FLAGS = 0;       // TR_PF_FLAG_* bits
constexpr int TR_PF_SUM_ROWS = 1;        // rows received (after the handle)
constexpr int TR_PF_SUM_ENTRIES = 2;     // (row, local expert) entries of the handle
constexpr int TR_PF_SUM_SENT = 3;        // rows this rank sends, all destinations (its partial rows come back)
constexpr int TR_PF_SUMMARY_HEADER = 8;
constexpr int TR_PF_FLAG_COMPACT = 1;    // a source was dropped mid-stream: its rows must leave the receive batch
constexpr int TR_PF_FLAG_BAD_COUNT = 2;  // a peer announced more tokens than prefillMaxTokensPerRank (dropped)

// The by-value argument of every prefill kernel (with the rank descriptor): the step's buffers and scalars. Java
// (CudaPrefillLaunches) fills it at the byte offsets asserted here; the receive-side buffers live in rank-private
// device memory that grows with the traffic (CudaPrefillBuffers).
struct TrPfArgs {
    uint64_t x;                // dispatch: n x H rows of dtype (device)
    uint64_t idx;              // dispatch: n x k int64 expert ids (device)
    uint64_t weights;          // dispatch: the batch's n x k float32 weights; combine: the routing batch's
    uint64_t recv_rows;        // bf16 [rows][H] or e4m3 [rows][H]
    uint64_t recv_scales;      // [rows][H / 128] float32 or ue8m0 bytes
    uint64_t recv_ids;         // int64 [rows][k max]
    uint64_t recv_weights;     // float32 [rows][k max]
    uint64_t recv_src_rank;    // int32 [rows]
    uint64_t recv_src_token;   // int32 [rows]
    uint64_t recv_expert_pos;  // int32 [rows][k max]: the slot's entry in the handle, or -1
    uint64_t expert_rows;      // int32 [entries]: per local expert, its rows ascending
    uint64_t expert_out;       // bf16 [entries][H]: the experts' outputs (zero-copy)
    uint64_t partials;         // bf16 [sent rows][H]: partial rows back from the destinations, by dest_start
    uint64_t step;             // the prefill step (restarts at 1 after every rendezvous)
    uint64_t timeout_ns;       // wait timeout
    int32_t n;                 // tokens of the step
    int32_t k;                 // top-k of the step
    int32_t dtype;             // TR_EP_DTYPE_* of x
    int32_t format;            // TR_EP_FORMAT_* bits
    int32_t round;             // the chunk round of a round kernel
    int32_t kind;              // TR_PF_WAIT_* of tr_pf_wait; the one peer of tr_pf_pack/reduce, or -1 (all)
    int32_t rows;              // rows received (handle, reduce)
    int32_t pad;
};
static_assert(offsetof(TrPfArgs, x) == 0, "TrPfArgs.x");
static_assert(offsetof(TrPfArgs, idx) == 8, "TrPfArgs.idx");
static_assert(offsetof(TrPfArgs, weights) == 16, "TrPfArgs.weights");
static_assert(offsetof(TrPfArgs, recv_rows) == 24, "TrPfArgs.recv_rows");
static_assert(offsetof(TrPfArgs, recv_scales) == 32, "TrPfArgs.recv_scales");
static_assert(offsetof(TrPfArgs, recv_ids) == 40, "TrPfArgs.recv_ids");
static_assert(offsetof(TrPfArgs, recv_weights) == 48, "TrPfArgs.recv_weights");
static_assert(offsetof(TrPfArgs, recv_src_rank) == 56, "TrPfArgs.recv_src_rank");
static_assert(offsetof(TrPfArgs, recv_src_token) == 64, "TrPfArgs.recv_src_token");
static_assert(offsetof(TrPfArgs, recv_expert_pos) == 72, "TrPfArgs.recv_expert_pos");
static_assert(offsetof(TrPfArgs, expert_rows) == 80, "TrPfArgs.expert_rows");
static_assert(offsetof(TrPfArgs, expert_out) == 88, "TrPfArgs.expert_out");
static_assert(offsetof(TrPfArgs, partials) == 96, "TrPfArgs.partials");
static_assert(offsetof(TrPfArgs, step) == 104, "TrPfArgs.step");
static_assert(offsetof(TrPfArgs, timeout_ns) == 112, "TrPfArgs.timeout_ns");
static_assert(offsetof(TrPfArgs, n) == 120, "TrPfArgs.n");
static_assert(offsetof(TrPfArgs, k) == 124, "TrPfArgs.k");
static_assert(offsetof(TrPfArgs, dtype) == 128, "TrPfArgs.dtype");
static_assert(offsetof(TrPfArgs, format) == 132, "TrPfArgs.format");
static_assert(offsetof(TrPfArgs, round) == 136, "TrPfArgs.round");
static_assert(offsetof(TrPfArgs, kind) == 140, "TrPfArgs.kind");
static_assert(offsetof(TrPfArgs, rows) == 144, "TrPfArgs.rows");
static_assert(sizeof(TrPfArgs) == 152, "TrPfArgs size");

// ------------------------------------------------------------------------------------------------ step state

// Private step state at off_state, advanced by the kernels themselves (never by the host, which only zeroes it at open:
// CudaRankLayout.STATE_BYTES must cover it).
struct TrEpState {
    uint64_t seq;          // last dispatch step whose receive completed (see sync.cuh's file comment)
    uint64_t sync_seq;     // last barrier/allGather sequence
    uint64_t gen;          // rendezvous generation
    uint32_t send_done;    // blocks of the dispatch-send kernel that finished (the last one publishes, resets)
    int32_t n;             // tokens of the current step
    int32_t k;             // top-k of the current step
    int32_t format;        // TR_EP_FORMAT_* code of the current step
    int32_t total_rows;    // rows this rank received in the current step, all local experts
    uint32_t copy_done;    // blocks of the dispatch copy that finished (the last one re-checks peers)
    uint32_t reduce_done;  // blocks of the combine reduce that finished (likewise)
    int32_t stats;         // whether the current dispatch adds to the cumulative receive stats
    int32_t pad[6];
};
static_assert(sizeof(TrEpState) == 80, "the step state is 80 bytes");

// ------------------------------------------------------------------------------------------------ launch structs

// Batched launches: one grid covers up to TR_EP_BATCH_RANKS ranks, blockIdx.y selecting the rank; the per-rank
// arguments are arrays indexed by blockIdx.y in these by-value kernel parameters (they stay in the constant bank). A
// zero descriptor means "this rank is not launched". Java sets the fields at the byte offsets asserted here.
struct TrEpBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
};
struct TrEpSendBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
    uint64_t x[TR_EP_BATCH_RANKS];     // n x H rows of dtype, device memory
    uint64_t idx[TR_EP_BATCH_RANKS];   // n x k int64 expert ids
    int32_t n[TR_EP_BATCH_RANKS];
    int32_t k[TR_EP_BATCH_RANKS];
    int32_t dtype[TR_EP_BATCH_RANKS];  // TR_EP_DTYPE_*
};
struct TrEpReduceBatch {
    uint64_t desc[TR_EP_BATCH_RANKS];
    uint64_t weights[TR_EP_BATCH_RANKS];  // n x k float32, device memory
};
static_assert(sizeof(TrEpBatch) == 8 * TR_EP_BATCH_RANKS, "TrEpBatch: one descriptor per rank");
static_assert(offsetof(TrEpSendBatch, x) == 8 * TR_EP_BATCH_RANKS, "TrEpSendBatch.x");
static_assert(offsetof(TrEpSendBatch, idx) == 16 * TR_EP_BATCH_RANKS, "TrEpSendBatch.idx");
static_assert(offsetof(TrEpSendBatch, n) == 24 * TR_EP_BATCH_RANKS, "TrEpSendBatch.n");
static_assert(offsetof(TrEpSendBatch, k) == 28 * TR_EP_BATCH_RANKS, "TrEpSendBatch.k");
static_assert(offsetof(TrEpSendBatch, dtype) == 32 * TR_EP_BATCH_RANKS, "TrEpSendBatch.dtype");
static_assert(sizeof(TrEpSendBatch) == 36 * TR_EP_BATCH_RANKS, "TrEpSendBatch size");
static_assert(offsetof(TrEpReduceBatch, weights) == 8 * TR_EP_BATCH_RANKS, "TrEpReduceBatch.weights");
static_assert(sizeof(TrEpReduceBatch) == 16 * TR_EP_BATCH_RANKS, "TrEpReduceBatch size");

// ------------------------------------------------------------------------------------------------ control words

// Symmetric control words at off_ctrl + TR_EP_CTRL_STRIDE * index (meanings in sync.cuh's file comment).
constexpr int TR_EP_DISP = 0;
constexpr int TR_EP_COMB = 1;
constexpr int TR_EP_SYNC = 2;
constexpr int TR_EP_RDV = 3;
constexpr int TR_EP_BEAT = 4;
constexpr int TR_EP_CTRL_WORDS = 5;
constexpr int TR_EP_CTRL_STRIDE = 128;  // one cache line each

// ------------------------------------------------------------------------------------------------ the host report

// Pinned host int32 words per rank: a header, then newly[3][R], fault_peers[R], met[R], recv_count[L], layout[L][R][2].
constexpr int TR_EP_REP_FAULT = 0;     // TR_EP_FAULT_* bits of the last call
constexpr int TR_EP_REP_PHASE = 1;     // TR_EP_PHASE_* code of a timeout
constexpr int TR_EP_REP_BAD = 2;       // expert ids out of range seen by the device (dropped)
constexpr int TR_EP_REP_MISMATCH = 3;  // 1 + the peer whose fp8 options differ
constexpr int TR_EP_REP_HEADER = 8;

// Newly-masked flags are kept per call kind, so a late (stalled) rank's dispatch report survives its combine.
constexpr int TR_EP_CALL_DISPATCH = 0;
constexpr int TR_EP_CALL_COMBINE = 1;
constexpr int TR_EP_CALL_SYNC = 2;

constexpr int TR_EP_FAULT_TIMEOUT = 1;    // a peer timed out (non-elastic)
constexpr int TR_EP_FAULT_FORMAT = 2;     // a peer dispatched with other fp8 options
constexpr int TR_EP_FAULT_BAD_INPUT = 4;  // expert ids out of range were dropped

// ------------------------------------------------------------------------------------------------ codes

// io.tokenroute.routing.Phase codes (Phase#code), reported in TR_EP_REP_PHASE and passed to tr_ep_sync_wait.
constexpr int TR_EP_PHASE_BEFORE_DISPATCH = 0;
constexpr int TR_EP_PHASE_DISPATCH_SEND = 1;
constexpr int TR_EP_PHASE_DISPATCH_RECV = 2;
constexpr int TR_EP_PHASE_COMBINE_SEND = 3;
constexpr int TR_EP_PHASE_COMBINE_RECV = 4;
constexpr int TR_EP_PHASE_CLEAN = 5;
constexpr int TR_EP_PHASE_BARRIER = 6;
constexpr int TR_EP_PHASE_ALL_GATHER = 7;
constexpr int TR_EP_PHASE_AGREE = 8;
// Phases of the high-throughput (prefill) mode (prefill.cuh).
constexpr int TR_EP_PHASE_PREFILL_NOTIFY = 9;
constexpr int TR_EP_PHASE_PREFILL_DISPATCH = 10;
constexpr int TR_EP_PHASE_PREFILL_COMBINE = 11;

// Dispatch wire format (io.tokenroute.routing.DispatchOptions#formatCode): bits, equal on every rank of a step.
constexpr int TR_EP_FORMAT_FP8 = 1;          // rows are e4m3 codes with per-128-channel scales (else bf16)
constexpr int TR_EP_FORMAT_ROUND_SCALE = 2;  // scales rounded up to powers of two
constexpr int TR_EP_FORMAT_UE8M0 = 4;        // scales stored as their biased exponent byte

// Input row dtypes of tr_ep_dispatch_send (io.tokenroute.arrow.HiddenDtype BF16, FP16, FP32).
constexpr int TR_EP_DTYPE_BF16 = 0;
constexpr int TR_EP_DTYPE_FP16 = 1;
constexpr int TR_EP_DTYPE_FP32 = 2;

// fp8 scale encodings (io.tokenroute.device.Fp8ScaleMode codes), the scale_mode of tr_fp8_quantize_bf16.
constexpr int TR_FP8_SCALE_FLOAT = 0;  // float32 scaleInv = amax / 448
constexpr int TR_FP8_SCALE_POW2 = 1;   // float32 scaleInv rounded up to a power of two ("roundScale")
constexpr int TR_FP8_SCALE_UE8M0 = 2;  // that power of two packed as its uint8 biased exponent ("ue8m0")

// Kernel phases stamped into the trace (CudaLocalGroup#phaseTrace).
constexpr int TR_EP_TRACE_SEND = 0;
constexpr int TR_EP_TRACE_DISPATCH_WAIT = 1;
constexpr int TR_EP_TRACE_COPY = 2;
constexpr int TR_EP_TRACE_COMBINE_SEND = 3;
constexpr int TR_EP_TRACE_COMBINE_WAIT = 4;
constexpr int TR_EP_TRACE_REDUCE = 5;
// Inside the dispatch send: block 0's routing plan, and the other blocks' staging (bf16 rows or fp8 quantisation).
constexpr int TR_EP_TRACE_PLAN = 6;
constexpr int TR_EP_TRACE_STAGE = 7;
constexpr int TR_EP_TRACE_PHASES = 8;

// ------------------------------------------------------------------------------------------------ the ABI entries

// Every integer Java must agree on, as (key, value) for tokenroute-abi.properties and the fingerprint. Keys are what
// the Java checks ask for: descriptor.<field> is a byte offset, the rest are values. A new entry here is a new line in
// the properties file; Java checks the ones it mirrors, and for descriptor.*, phase.* and format.* also that it knows
// every entry of the family.
#define TR_ABI_DESCRIPTOR_FIELD(X, field) X("descriptor." #field, offsetof(TrEp, field))
#define TR_ABI_PREFILL_FIELD(X, field) X("prefill." #field, offsetof(TrPf, field))
#define TR_ABI_PREFILL_ARG(X, field) X("prefill_args." #field, offsetof(TrPfArgs, field))
#define TR_ABI_ENTRIES(X)                                                                                             \
    X("descriptor.bytes", sizeof(TrEp))                                                                               \
    X("descriptor.words", TR_EP_DESCRIPTOR_WORDS)                                                                     \
    X("descriptor.fields", TR_EP_DESCRIPTOR_FIELDS)                                                                   \
    TR_ABI_DESCRIPTOR_FIELD(X, rank) TR_ABI_DESCRIPTOR_FIELD(X, ranks) TR_ABI_DESCRIPTOR_FIELD(X, experts)            \
    TR_ABI_DESCRIPTOR_FIELD(X, local_experts) TR_ABI_DESCRIPTOR_FIELD(X, max_tokens)                                  \
    TR_ABI_DESCRIPTOR_FIELD(X, hidden) TR_ABI_DESCRIPTOR_FIELD(X, max_topk) TR_ABI_DESCRIPTOR_FIELD(X, elastic)       \
    TR_ABI_DESCRIPTOR_FIELD(X, collective_bytes) TR_ABI_DESCRIPTOR_FIELD(X, bitmap_words)                             \
    TR_ABI_DESCRIPTOR_FIELD(X, base) TR_ABI_DESCRIPTOR_FIELD(X, peers) TR_ABI_DESCRIPTOR_FIELD(X, report)             \
    TR_ABI_DESCRIPTOR_FIELD(X, off_ctrl) TR_ABI_DESCRIPTOR_FIELD(X, off_stage)                                        \
    TR_ABI_DESCRIPTOR_FIELD(X, stage_stride) TR_ABI_DESCRIPTOR_FIELD(X, st_format) TR_ABI_DESCRIPTOR_FIELD(X, st_csr) \
    TR_ABI_DESCRIPTOR_FIELD(X, st_tokens) TR_ABI_DESCRIPTOR_FIELD(X, st_bf16) TR_ABI_DESCRIPTOR_FIELD(X, st_fp8)      \
    TR_ABI_DESCRIPTOR_FIELD(X, st_scales) TR_ABI_DESCRIPTOR_FIELD(X, off_layout)                                      \
    TR_ABI_DESCRIPTOR_FIELD(X, off_comb_rows) TR_ABI_DESCRIPTOR_FIELD(X, off_payload)                                 \
    TR_ABI_DESCRIPTOR_FIELD(X, payload_stride) TR_ABI_DESCRIPTOR_FIELD(X, off_state)                                  \
    TR_ABI_DESCRIPTOR_FIELD(X, off_mask) TR_ABI_DESCRIPTOR_FIELD(X, off_met) TR_ABI_DESCRIPTOR_FIELD(X, off_cmet)      \
    TR_ABI_DESCRIPTOR_FIELD(X, off_routed) TR_ABI_DESCRIPTOR_FIELD(X, off_position)                                   \
    TR_ABI_DESCRIPTOR_FIELD(X, off_bitmap) TR_ABI_DESCRIPTOR_FIELD(X, off_sent) TR_ABI_DESCRIPTOR_FIELD(X, off_valid) \
    TR_ABI_DESCRIPTOR_FIELD(X, off_row_base) TR_ABI_DESCRIPTOR_FIELD(X, off_cum_recv)                                 \
    TR_ABI_DESCRIPTOR_FIELD(X, off_dwait) TR_ABI_DESCRIPTOR_FIELD(X, off_cwait)                                       \
    TR_ABI_DESCRIPTOR_FIELD(X, off_recv_x) TR_ABI_DESCRIPTOR_FIELD(X, off_recv_scales)                                \
    TR_ABI_DESCRIPTOR_FIELD(X, off_src_rank) TR_ABI_DESCRIPTOR_FIELD(X, off_src_token)                                \
    TR_ABI_DESCRIPTOR_FIELD(X, off_recv_count) TR_ABI_DESCRIPTOR_FIELD(X, off_out)                                    \
    TR_ABI_DESCRIPTOR_FIELD(X, off_lost) TR_ABI_DESCRIPTOR_FIELD(X, off_gather_in)                                    \
    TR_ABI_DESCRIPTOR_FIELD(X, off_gather_out) TR_ABI_DESCRIPTOR_FIELD(X, off_input_x)                                \
    TR_ABI_DESCRIPTOR_FIELD(X, off_input_idx) TR_ABI_DESCRIPTOR_FIELD(X, off_input_w)                                 \
    TR_ABI_DESCRIPTOR_FIELD(X, recv_capacity) TR_ABI_DESCRIPTOR_FIELD(X, scale_groups)                                \
    TR_ABI_DESCRIPTOR_FIELD(X, off_src_begin) TR_ABI_DESCRIPTOR_FIELD(X, off_trace)                                   \
    TR_ABI_DESCRIPTOR_FIELD(X, off_prefill)                                                                           \
    X("prefill.bytes", sizeof(TrPf))                                                                                  \
    X("prefill.words", TR_PF_DESCRIPTOR_WORDS)                                                                        \
    TR_ABI_PREFILL_FIELD(X, max_tokens) TR_ABI_PREFILL_FIELD(X, chunk_rows) TR_ABI_PREFILL_FIELD(X, chunks)           \
    TR_ABI_PREFILL_FIELD(X, entry_bytes) TR_ABI_PREFILL_FIELD(X, entry_row) TR_ABI_PREFILL_FIELD(X, back_entry_bytes) \
    TR_ABI_PREFILL_FIELD(X, rank_words) TR_ABI_PREFILL_FIELD(X, slots) TR_ABI_PREFILL_FIELD(X, off_notify)            \
    TR_ABI_PREFILL_FIELD(X, off_counts) TR_ABI_PREFILL_FIELD(X, off_progress) TR_ABI_PREFILL_FIELD(X, off_queues)     \
    TR_ABI_PREFILL_FIELD(X, off_back_queues) TR_ABI_PREFILL_FIELD(X, off_state) TR_ABI_PREFILL_FIELD(X, off_alive)    \
    TR_ABI_PREFILL_FIELD(X, off_kept) TR_ABI_PREFILL_FIELD(X, off_recv_from) TR_ABI_PREFILL_FIELD(X, off_recv_begin)  \
    TR_ABI_PREFILL_FIELD(X, off_dest_count) TR_ABI_PREFILL_FIELD(X, off_dest_start)                                   \
    TR_ABI_PREFILL_FIELD(X, off_back_to) TR_ABI_PREFILL_FIELD(X, off_back_got) TR_ABI_PREFILL_FIELD(X, off_in_rank)   \
    TR_ABI_PREFILL_FIELD(X, off_dest_tokens) TR_ABI_PREFILL_FIELD(X, off_tok_pos) TR_ABI_PREFILL_FIELD(X, off_routed) \
    TR_ABI_PREFILL_FIELD(X, off_input_x) TR_ABI_PREFILL_FIELD(X, off_input_idx)                                       \
    TR_ABI_PREFILL_FIELD(X, off_input_w) TR_ABI_PREFILL_FIELD(X, off_out) TR_ABI_PREFILL_FIELD(X, off_lost)           \
    TR_ABI_PREFILL_FIELD(X, off_summary)                                                                              \
    X("prefill_state.bytes", sizeof(TrPfState))                                                                       \
    TR_ABI_PREFILL_ARG(X, x) TR_ABI_PREFILL_ARG(X, idx) TR_ABI_PREFILL_ARG(X, weights)                                \
    TR_ABI_PREFILL_ARG(X, recv_rows) TR_ABI_PREFILL_ARG(X, recv_scales) TR_ABI_PREFILL_ARG(X, recv_ids)               \
    TR_ABI_PREFILL_ARG(X, recv_weights) TR_ABI_PREFILL_ARG(X, recv_src_rank) TR_ABI_PREFILL_ARG(X, recv_src_token)    \
    TR_ABI_PREFILL_ARG(X, recv_expert_pos) TR_ABI_PREFILL_ARG(X, expert_rows) TR_ABI_PREFILL_ARG(X, expert_out)       \
    TR_ABI_PREFILL_ARG(X, partials) TR_ABI_PREFILL_ARG(X, step) TR_ABI_PREFILL_ARG(X, timeout_ns)                     \
    TR_ABI_PREFILL_ARG(X, n) TR_ABI_PREFILL_ARG(X, k) TR_ABI_PREFILL_ARG(X, dtype) TR_ABI_PREFILL_ARG(X, format)      \
    TR_ABI_PREFILL_ARG(X, round) TR_ABI_PREFILL_ARG(X, kind) TR_ABI_PREFILL_ARG(X, rows)                              \
    X("prefill_args.bytes", sizeof(TrPfArgs))                                                                         \
    X("prefill_progress.DISPATCH_SENT", TR_PF_DISPATCH_SENT)                                                          \
    X("prefill_progress.DISPATCH_TAKEN", TR_PF_DISPATCH_TAKEN)                                                        \
    X("prefill_progress.COMBINE_SENT", TR_PF_COMBINE_SENT)                                                            \
    X("prefill_progress.COMBINE_TAKEN", TR_PF_COMBINE_TAKEN)                                                          \
    X("prefill_wait.DISPATCH_CREDIT", TR_PF_WAIT_DISPATCH_CREDIT)                                                     \
    X("prefill_wait.DISPATCH_TAIL", TR_PF_WAIT_DISPATCH_TAIL)                                                         \
    X("prefill_wait.COMBINE_CREDIT", TR_PF_WAIT_COMBINE_CREDIT)                                                       \
    X("prefill_wait.COMBINE_TAIL", TR_PF_WAIT_COMBINE_TAIL)                                                           \
    X("prefill_summary.flags", TR_PF_SUM_FLAGS)                                                                       \
    X("prefill_summary.rows", TR_PF_SUM_ROWS)                                                                         \
    X("prefill_summary.entries", TR_PF_SUM_ENTRIES)                                                                   \
    X("prefill_summary.sent", TR_PF_SUM_SENT)                                                                         \
    X("prefill_summary.header", TR_PF_SUMMARY_HEADER)                                                                 \
    X("prefill_summary.flag_compact", TR_PF_FLAG_COMPACT)                                                             \
    X("prefill_summary.flag_bad_count", TR_PF_FLAG_BAD_COUNT)                                                         \
    X("prefill_config.back_row", TR_PF_BACK_ROW)                                                                      \
    X("state.bytes", sizeof(TrEpState))                                                                               \
    X("batch.bytes", sizeof(TrEpBatch))                                                                               \
    X("batch.send.x", offsetof(TrEpSendBatch, x))                                                                     \
    X("batch.send.idx", offsetof(TrEpSendBatch, idx))                                                                 \
    X("batch.send.n", offsetof(TrEpSendBatch, n))                                                                     \
    X("batch.send.k", offsetof(TrEpSendBatch, k))                                                                     \
    X("batch.send.dtype", offsetof(TrEpSendBatch, dtype))                                                             \
    X("batch.send.bytes", sizeof(TrEpSendBatch))                                                                      \
    X("batch.reduce.weights", offsetof(TrEpReduceBatch, weights))                                                     \
    X("batch.reduce.bytes", sizeof(TrEpReduceBatch))                                                                  \
    X("ctrl.words", TR_EP_CTRL_WORDS)                                                                                 \
    X("ctrl.stride", TR_EP_CTRL_STRIDE)                                                                               \
    X("report.header", TR_EP_REP_HEADER)                                                                              \
    X("report.fault", TR_EP_REP_FAULT)                                                                                \
    X("report.phase", TR_EP_REP_PHASE)                                                                                \
    X("report.bad", TR_EP_REP_BAD)                                                                                    \
    X("report.mismatch", TR_EP_REP_MISMATCH)                                                                          \
    X("call.dispatch", TR_EP_CALL_DISPATCH)                                                                           \
    X("call.combine", TR_EP_CALL_COMBINE)                                                                             \
    X("call.sync", TR_EP_CALL_SYNC)                                                                                   \
    X("fault.timeout", TR_EP_FAULT_TIMEOUT)                                                                           \
    X("fault.format", TR_EP_FAULT_FORMAT)                                                                             \
    X("fault.bad_input", TR_EP_FAULT_BAD_INPUT)                                                                       \
    X("phase.BEFORE_DISPATCH", TR_EP_PHASE_BEFORE_DISPATCH)                                                           \
    X("phase.DISPATCH_SEND", TR_EP_PHASE_DISPATCH_SEND)                                                               \
    X("phase.DISPATCH_RECV", TR_EP_PHASE_DISPATCH_RECV)                                                               \
    X("phase.COMBINE_SEND", TR_EP_PHASE_COMBINE_SEND)                                                                 \
    X("phase.COMBINE_RECV", TR_EP_PHASE_COMBINE_RECV)                                                                 \
    X("phase.CLEAN", TR_EP_PHASE_CLEAN)                                                                               \
    X("phase.BARRIER", TR_EP_PHASE_BARRIER)                                                                           \
    X("phase.ALL_GATHER", TR_EP_PHASE_ALL_GATHER)                                                                     \
    X("phase.AGREE", TR_EP_PHASE_AGREE)                                                                               \
    X("phase.PREFILL_NOTIFY", TR_EP_PHASE_PREFILL_NOTIFY)                                                             \
    X("phase.PREFILL_DISPATCH", TR_EP_PHASE_PREFILL_DISPATCH)                                                         \
    X("phase.PREFILL_COMBINE", TR_EP_PHASE_PREFILL_COMBINE)                                                           \
    X("format.BF16", 0)                                                                                               \
    X("format.FP8", TR_EP_FORMAT_FP8)                                                                                 \
    X("format.FP8_ROUND_SCALE", TR_EP_FORMAT_FP8 | TR_EP_FORMAT_ROUND_SCALE)                                          \
    X("format.FP8_UE8M0", TR_EP_FORMAT_FP8 | TR_EP_FORMAT_ROUND_SCALE | TR_EP_FORMAT_UE8M0)                           \
    X("dtype.BF16", TR_EP_DTYPE_BF16)                                                                                 \
    X("dtype.FP16", TR_EP_DTYPE_FP16)                                                                                 \
    X("dtype.FP32", TR_EP_DTYPE_FP32)                                                                                 \
    X("fp8_scale.FLOAT32", TR_FP8_SCALE_FLOAT)                                                                        \
    X("fp8_scale.FLOAT32_POW2", TR_FP8_SCALE_POW2)                                                                    \
    X("fp8_scale.UE8M0", TR_FP8_SCALE_UE8M0)                                                                          \
    X("trace.phases", TR_EP_TRACE_PHASES)                                                                             \
    X("config.TR_CAST_VEC", TR_CAST_VEC)                                                                              \
    X("config.TR_FP8_GROUP", TR_FP8_GROUP)                                                                            \
    X("config.TR_EP_MAX_RANKS", TR_EP_MAX_RANKS)                                                                      \
    X("config.TR_EP_BATCH_RANKS", TR_EP_BATCH_RANKS)                                                                  \
    X("config.TR_EP_FP8_UNROLL", TR_EP_FP8_UNROLL)                                                                    \
    X("config.TR_EP_PLAN_SMEM_BYTES", TR_EP_PLAN_SMEM_BYTES)

// FNV-1a over every entry's key and 8-byte value, in TR_ABI_ENTRIES order: tokenroute-abi.properties records it as
// "fingerprint", and the kernel module carries it as tr_abi_fingerprint (tokenroute_kernels.cu).
__host__ __device__ constexpr uint64_t tr_abi_mix(uint64_t h, const char* key, long long value) {
    for (; *key != '\0'; ++key) h = (h ^ static_cast<uint8_t>(*key)) * 0x100000001B3ull;
    const unsigned long long bits = static_cast<unsigned long long>(value);
    for (int i = 0; i < 8; ++i) h = (h ^ static_cast<uint8_t>(bits >> (8 * i))) * 0x100000001B3ull;
    return h;
}

__host__ __device__ constexpr uint64_t tr_abi_fingerprint_value() {
    uint64_t h = 0xCBF29CE484222325ull;
#define TR_ABI_MIX(key, value) h = tr_abi_mix(h, key, static_cast<long long>(value));
    TR_ABI_ENTRIES(TR_ABI_MIX)
#undef TR_ABI_MIX
    return h;
}
