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
package io.tokenroute.routing.cuda;

import io.tokenroute.device.KernelAbi;
import io.tokenroute.routing.BufferConfig;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The prefill (high-throughput) part of one rank's device allocation ({@code device/src/main/cuda/prefill.cuh}),
 * appended after the low-latency sections of {@link CudaRankLayout} when {@code prefillMaxTokensPerRank > 0}, and its
 * descriptor ({@code struct TrPf} of {@code tokenroute_abi.cuh}, checked by {@link #checkKernelAbi}). Offsets are from
 * the rank's base, equal on every rank. The queues have the host transports' shape and entry sizes
 * ({@link io.tokenroute.routing.protocol.RegionLayout}), so a configuration's queue bytes are the same on every
 * transport.
 *
 * <pre>
 * symmetric (peers read it; only the owner writes it)
 *   notify        uint64: the prefill step whose counts are published
 *   counts        int32[2][R]: tokens sent to each destination, by step parity
 *   progress      uint64[4][R]: (step &lt;&lt; 32 | chunks) per peer: dispatch sent / taken, combine sent / taken
 *   queues        [R destinations][chunks][chunk rows] entries: int32 token, int32 local ids [k], float32 weights
 *                 [k] (padded to 16 bytes), the row (bf16, or e4m3 codes + float32 scales; 16-byte aligned)
 *   back queues   [R sources][chunks][chunk rows] entries: int32 token (padded to 16 bytes), bf16 partial row
 * private
 *   descriptor (32 int64), state, alive/kept/recv_from/recv_begin/dest_count/dest_start/back_to/back_got int32[R(+1)],
 *   destination bitmaps uint32[Tp][ceil(R / 32)], destination lists int32[Tp S], list positions int32[Tp][S],
 *   routed ids int32[Tp][k], host-batch input area (x up to float32 [Tp][H], topk_idx int64[Tp k], weights
 *   float32[Tp k]), combine output bf16 [Tp][H] + lost weight float32[Tp], the summary int32 (header, kept[R],
 *   recv_from[R], dest_count[R], expert_count[L], expert_begin[L + 1])
 * </pre>
 *
 * Tp = prefillMaxTokensPerRank, S = min(k, R). What grows with the traffic (receive batch, handle, expert outputs, the
 * partial rows a source gathers) is rank-private memory outside this layout ({@link CudaPrefillBuffers}).
 */
final class CudaPrefillLayout {
    static final int DESCRIPTOR_WORDS = 32;
    /** {@code TR_PF_PROGRESS_KINDS}: dispatch sent, dispatch taken, combine sent, combine taken. */
    static final int PROGRESS_KINDS = 4;
    /** {@code TR_PF_BACK_ROW}: the partial row's offset in a combine queue entry. */
    static final int BACK_ROW = 16;

    static final int STATE_BYTES = 64;
    // The summary: TR_PF_SUM_*.
    static final int SUM_FLAGS = 0;
    static final int SUM_ROWS = 1;
    static final int SUM_ENTRIES = 2;
    static final int SUM_SENT = 3;
    static final int SUMMARY_HEADER = 8;
    static final int FLAG_COMPACT = 1;
    static final int FLAG_BAD_COUNT = 2;

    final int ranks;
    final int localExperts;
    final int hidden;
    final int maxTopK;
    final int maxTokens;
    final int chunkRows;
    final int chunks;
    final int rankWords;
    final int slots;
    final long entryBytes;
    final long entryRow;
    final long backEntryBytes;
    final int summaryInts;

    final long offNotify;
    final long offCounts;
    final long offProgress;
    final long offQueues;
    final long offBackQueues;
    final long offDescriptor;
    final long offState;
    final long offAlive;
    final long offKept;
    final long offRecvFrom;
    final long offRecvBegin;
    final long offDestCount;
    final long offDestStart;
    final long offBackTo;
    final long offBackGot;
    final long offInRank;
    final long offDestTokens;
    final long offTokPos;
    final long offRouted;
    final long offInputX;
    final long offInputIdx;
    final long offInputW;
    final long offOut;
    final long offLost;
    final long offSummary;
    /** End of the prefill sections (the rank's allocation size). */
    final long end;

    /**
     * @param c a configuration with {@code prefillMaxTokensPerRank > 0}
     * @param start where the prefill sections begin (the end of the low-latency ones)
     */
    CudaPrefillLayout(BufferConfig c, long start) {
        this.ranks = c.ranks();
        this.localExperts = c.localExperts();
        this.hidden = c.hidden();
        this.maxTopK = c.maxTopK();
        this.maxTokens = c.prefillMaxTokensPerRank();
        this.chunkRows = c.prefillChunkRows();
        this.chunks = c.prefillChunks();
        this.rankWords = (ranks + 31) / 32;
        this.slots = Math.min(maxTopK, ranks);
        long bf16Row = 2L * hidden;
        long fp8Row = hidden % 128 == 0 ? hidden + 4L * (hidden / 128) : 0;
        this.entryRow = align16(4L + 8L * maxTopK);
        this.entryBytes = entryRow + align16(Math.max(bf16Row, fp8Row));
        this.backEntryBytes = align16(BACK_ROW + bf16Row);
        this.summaryInts = SUMMARY_HEADER + 3 * ranks + 2 * localExperts + 1;
        long tokens = maxTokens;
        long cursor = CudaRankLayout.align(start);
        offNotify = cursor;
        cursor = CudaRankLayout.align(cursor + 8);
        offCounts = cursor;
        cursor = CudaRankLayout.align(cursor + 8L * ranks);
        offProgress = cursor;
        cursor = CudaRankLayout.align(cursor + 8L * PROGRESS_KINDS * ranks);
        offQueues = cursor;
        cursor = CudaRankLayout.align(cursor + (long) ranks * chunks * chunkRows * entryBytes);
        offBackQueues = cursor;
        cursor = CudaRankLayout.align(cursor + (long) ranks * chunks * chunkRows * backEntryBytes);
        offDescriptor = cursor;
        cursor = CudaRankLayout.align(cursor + 8L * DESCRIPTOR_WORDS);
        offState = cursor;
        cursor = CudaRankLayout.align(cursor + STATE_BYTES);
        offAlive = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offKept = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offRecvFrom = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offRecvBegin = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * (ranks + 1));
        offDestCount = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offDestStart = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * (ranks + 1));
        offBackTo = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offBackGot = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * ranks);
        offInRank = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * rankWords);
        offDestTokens = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * slots);
        offTokPos = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * slots);
        offRouted = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * maxTopK);
        offInputX = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * hidden);
        offInputIdx = cursor;
        cursor = CudaRankLayout.align(cursor + 8L * tokens * maxTopK);
        offInputW = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens * maxTopK);
        offOut = cursor;
        cursor = CudaRankLayout.align(cursor + bf16Row * tokens);
        offLost = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * tokens);
        offSummary = cursor;
        cursor = CudaRankLayout.align(cursor + 4L * summaryInts);
        end = cursor;
    }

    private static long align16(long v) {
        return (v + 15) & ~15L;
    }

    /** Bytes of the queues of one rank (dispatch and combine): the prefill mode's share of the symmetric memory. */
    long queueBytes() {
        return (long) ranks * chunks * chunkRows * (entryBytes + backEntryBytes);
    }

    /** Byte offset of progress word {@code kind} about {@code peer}. */
    long progress(int kind, int peer) {
        return offProgress + 8L * ((long) kind * ranks + peer);
    }

    // ---- summary (int32 indices) ----

    int summaryKept(int p) {
        return SUMMARY_HEADER + p;
    }

    int summaryRecvFrom(int p) {
        return SUMMARY_HEADER + ranks + p;
    }

    int summaryDestCount(int r) {
        return SUMMARY_HEADER + 2 * ranks + r;
    }

    int summaryExpertCount(int l) {
        return SUMMARY_HEADER + 3 * ranks + l;
    }

    int summaryExpertBegin(int l) {
        return SUMMARY_HEADER + 3 * ranks + localExperts + l;
    }

    /** The words of the prefill descriptor ({@code struct TrPf}); the C name is the constant's name in lower case. */
    enum Field {
        MAX_TOKENS,
        CHUNK_ROWS,
        CHUNKS,
        ENTRY_BYTES,
        ENTRY_ROW,
        BACK_ENTRY_BYTES,
        RANK_WORDS,
        SLOTS,
        OFF_NOTIFY,
        OFF_COUNTS,
        OFF_PROGRESS,
        OFF_QUEUES,
        OFF_BACK_QUEUES,
        OFF_STATE,
        OFF_ALIVE,
        OFF_KEPT,
        OFF_RECV_FROM,
        OFF_RECV_BEGIN,
        OFF_DEST_COUNT,
        OFF_DEST_START,
        OFF_BACK_TO,
        OFF_BACK_GOT,
        OFF_IN_RANK,
        OFF_DEST_TOKENS,
        OFF_TOK_POS,
        OFF_ROUTED,
        OFF_INPUT_X,
        OFF_INPUT_IDX,
        OFF_INPUT_W,
        OFF_OUT,
        OFF_LOST,
        OFF_SUMMARY;

        /** The field's word: its position in {@code struct TrPf}. */
        int word() {
            return ordinal();
        }

        String cName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The prefill descriptor: one long per {@link Field}, at its word. */
    long[] descriptor() {
        long[] d = new long[DESCRIPTOR_WORDS];
        for (Field f : Field.values()) {
            d[f.word()] = switch (f) {
                case MAX_TOKENS -> maxTokens;
                case CHUNK_ROWS -> chunkRows;
                case CHUNKS -> chunks;
                case ENTRY_BYTES -> entryBytes;
                case ENTRY_ROW -> entryRow;
                case BACK_ENTRY_BYTES -> backEntryBytes;
                case RANK_WORDS -> rankWords;
                case SLOTS -> slots;
                case OFF_NOTIFY -> offNotify;
                case OFF_COUNTS -> offCounts;
                case OFF_PROGRESS -> offProgress;
                case OFF_QUEUES -> offQueues;
                case OFF_BACK_QUEUES -> offBackQueues;
                case OFF_STATE -> offState;
                case OFF_ALIVE -> offAlive;
                case OFF_KEPT -> offKept;
                case OFF_RECV_FROM -> offRecvFrom;
                case OFF_RECV_BEGIN -> offRecvBegin;
                case OFF_DEST_COUNT -> offDestCount;
                case OFF_DEST_START -> offDestStart;
                case OFF_BACK_TO -> offBackTo;
                case OFF_BACK_GOT -> offBackGot;
                case OFF_IN_RANK -> offInRank;
                case OFF_DEST_TOKENS -> offDestTokens;
                case OFF_TOK_POS -> offTokPos;
                case OFF_ROUTED -> offRouted;
                case OFF_INPUT_X -> offInputX;
                case OFF_INPUT_IDX -> offInputIdx;
                case OFF_INPUT_W -> offInputW;
                case OFF_OUT -> offOut;
                case OFF_LOST -> offLost;
                case OFF_SUMMARY -> offSummary;
            };
        }
        return d;
    }

    /**
     * Compares the prefill descriptor, state, launch struct ({@link CudaPrefillLaunches}), progress kinds, wait kinds
     * and summary indices with the kernels' ABI.
     *
     * @throws IllegalStateException naming every entry that differs, with both values
     */
    static void checkKernelAbi(KernelAbi abi) {
        Map<String, Long> descriptor = new LinkedHashMap<>();
        descriptor.put("bytes", 8L * DESCRIPTOR_WORDS);
        descriptor.put("words", (long) DESCRIPTOR_WORDS);
        for (Field f : Field.values()) {
            descriptor.put(f.cName(), 8L * f.word());
        }
        Map<String, Long> args = new LinkedHashMap<>();
        for (CudaPrefillLaunches.Arg a : CudaPrefillLaunches.Arg.values()) {
            args.put(a.name().toLowerCase(Locale.ROOT), a.offset);
        }
        args.put("bytes", CudaPrefillLaunches.ARGS_BYTES);
        Map<String, Long> progress = new LinkedHashMap<>();
        progress.put("DISPATCH_SENT", 0L);
        progress.put("DISPATCH_TAKEN", 1L);
        progress.put("COMBINE_SENT", 2L);
        progress.put("COMBINE_TAKEN", 3L);
        Map<String, Long> waits = new LinkedHashMap<>();
        for (CudaPrefillLaunches.Wait w : CudaPrefillLaunches.Wait.values()) {
            waits.put(w.name(), (long) w.ordinal());
        }
        Map<String, Long> summary = new LinkedHashMap<>();
        summary.put("flags", (long) SUM_FLAGS);
        summary.put("rows", (long) SUM_ROWS);
        summary.put("entries", (long) SUM_ENTRIES);
        summary.put("sent", (long) SUM_SENT);
        summary.put("header", (long) SUMMARY_HEADER);
        summary.put("flag_compact", (long) FLAG_COMPACT);
        summary.put("flag_bad_count", (long) FLAG_BAD_COUNT);
        abi.compare("io.tokenroute.routing.cuda (CudaPrefillLayout, CudaPrefillLaunches)")
                .expect("descriptor.off_prefill", 8L * CudaRankLayout.Field.OFF_PREFILL.word, "Field.OFF_PREFILL")
                .expectFamily("prefill", descriptor, "CudaPrefillLayout.Field")
                .expectFamily("prefill_args", args, "CudaPrefillLaunches.Arg")
                .expectFamily("prefill_progress", progress, "CudaPrefillLayout progress kinds")
                .expectFamily("prefill_wait", waits, "CudaPrefillLaunches.Wait")
                .expectFamily("prefill_summary", summary, "CudaPrefillLayout.SUM_*")
                .expect("prefill_state.bytes", STATE_BYTES, "CudaPrefillLayout.STATE_BYTES")
                .expect("prefill_config.back_row", BACK_ROW, "CudaPrefillLayout.BACK_ROW")
                .verify();
    }
}
