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
// TokenRoute kernel tunables: the one place where block sizes and numeric constants of the kernels live.
//
// The Java launchers read each kernel's maximum block size back from the loaded module (cuFuncGetAttribute(
// MAX_THREADS_PER_BLOCK) reports the __launch_bounds__ value below) and size grids with the occupancy API, so changing
// a block size here and rebuilding is enough. The few values Java needs for sizing (TR_CAST_VEC, TR_FP8_GROUP,
// TR_EP_MAX_RANKS, TR_EP_BATCH_RANKS, TR_EP_FP8_UNROLL, TR_EP_PLAN_SMEM_BYTES, and the fp8 numerics) are entries of
// tokenroute_abi.cuh: Java checks its copies against them when the kernels are loaded, so a change here that Java
// does not follow fails loudly instead of silently.
#pragma once

// ---- fill / poison (fill.cuh) ----
#define TR_FILL_THREADS 256

// ---- dtype casts (cast.cuh) ----
#define TR_CAST_THREADS 256
// Elements per vectorised step: 8 two-byte values are one 16-byte load or store.
#define TR_CAST_VEC 8

// ---- per-token FP8 quantisation (fp8.cuh) ----
// Must be a multiple of 32: the kernel gives each 128-channel group to half a warp.
#define TR_FP8_THREADS 256
// Channels that share one scale; the Java quantiser (io.tokenroute.arrow.numeric.Fp8Quantizer.GROUP) must agree.
#define TR_FP8_GROUP 128
// Largest finite float8 e4m3fn magnitude, which each group's amax is scaled to.
#define TR_FP8_E4M3_MAX 448.0f
// Lower bound on a group's amax so that an all-zero group still gets a finite scale (Fp8Quantizer.AMAX_FLOOR).
#define TR_FP8_AMAX_FLOOR 1e-4f

// ---- elastic EP kernels: dispatch, combine, barrier/allGather/clean (dispatch.cuh, combine.cuh, sync.cuh) ----
// Block of the dispatch-send kernel. One block per rank plans the routing (per-expert token lists) with a
// shared-memory scan of this many partial sums; the other blocks stage rows, one warp per row.
#define TR_EP_SEND_THREADS 256
// Resident send blocks per SM the kernel is compiled for: 4 (64 registers, no spills with TR_EP_FP8_UNROLL 2) hides
// the quantisation's latency better than 3 with 80 registers (fp8 staging 18 -> 14 us on an H200, R = 8, T = 128).
#define TR_EP_SEND_MIN_BLOCKS 4
// Blocks that wait on peers (dispatch/combine wait, barrier/allGather wait, publish): one thread per peer, looping.
#define TR_EP_WAIT_THREADS 256
// Dispatch receive copy: one warp per received row, 16-byte loads, TR_EP_COPY_UNROLL loads in flight per lane.
#define TR_EP_COPY_THREADS 256
#define TR_EP_COPY_UNROLL 8
// Resident blocks per SM the copy kernel is compiled for (caps its registers).
#ifndef TR_EP_COPY_MIN_BLOCKS
#define TR_EP_COPY_MIN_BLOCKS 2
#endif
// The copy kernel caches the row bases of up to this many local experts and the layout of up to this many
// (local expert, source rank) cells in shared memory; larger groups read them from global memory.
#define TR_EP_COPY_MAX_EXPERTS 1024
#define TR_EP_COPY_MAX_CELLS 2048
// build_layout keeps the per-(expert, source) counts of up to this many cells in shared memory.
#define TR_EP_LAYOUT_SMEM_CELLS 2048
// Dispatch-send plans in shared memory (token bitmaps + CSR) when they fit in this many bytes, else in global memory.
#define TR_EP_PLAN_SMEM_BYTES 40960
// Combine reduce: one block per token; each thread owns TR_EP_REDUCE_CHUNKS chunks of 8 channels per pass, so one
// pass covers TR_EP_REDUCE_THREADS * 8 * TR_EP_REDUCE_CHUNKS channels (8192 with 128 x 8).
#define TR_EP_REDUCE_THREADS 128
#define TR_EP_REDUCE_CHUNKS 8
// Resident blocks per SM the reduce kernel is compiled for (caps its registers).
#ifndef TR_EP_REDUCE_MIN_BLOCKS
#define TR_EP_REDUCE_MIN_BLOCKS 4
#endif
// Most ranks one cuda-local group may emulate (size of per-block mask snapshots in shared memory).
#define TR_EP_MAX_RANKS 256
// Most ranks one batched launch covers (blockIdx.y = rank; per-rank arguments travel in the kernel parameters).
#define TR_EP_BATCH_RANKS 64
// Dispatch-send: group pairs each fp8 warp quantises per step (loads in flight per lane).
#define TR_EP_FP8_UNROLL 2
// Dispatch-send plan: expert ids each thread loads before using any (dependent global loads the plan waits on).
#define TR_EP_PLAN_PREFETCH 4
// Wait loops poll a peer word this many times before they start sleeping between polls (__nanosleep).
#define TR_EP_SPIN_POLLS 64
#define TR_EP_SLEEP_NS 64
// A gap longer than this between two polls of a wait means the waiting kernel was not running (time-slicing between
// processes, preemption); the gap does not count toward the timeout (sync.cuh WaitClock). Polls are microseconds apart.
#define TR_EP_DESCHEDULED_NS 500000ull
// A waiting rank publishes its heartbeat word every this many polls; peers waiting on it restart their timeout when it
// changes (a live rank that waits on a dead one is not masked by the ranks waiting on it).
#define TR_EP_BEAT_POLLS 32
// A wait on a peer that beats but never arrives still ends after this many timeouts of waiting (ranks that called
// different collectives must fail, not hang).
#define TR_EP_LIVE_WAIT_TIMEOUTS 16ull

// ---- prefill (high-throughput) kernels (prefill.cuh) ----
// The one block that plans a prefill step (destinations, per-destination token lists) and waits for the peers' counts,
// and the one block that builds the receive handle: one warp per 32 tokens (rows) of a tile.
#define TR_PF_PLAN_THREADS 1024
// The handle counts this many local experts per pass over the rows (shared-memory warp counts [32][this]).
#define TR_PF_HANDLE_EXPERTS 64
// The row kernels (pack, copy, reduce, gather, merge): one warp per row.
#define TR_PF_ROW_THREADS 256
