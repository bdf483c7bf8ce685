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

import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.device.KernelAbi;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Phase;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Byte offsets inside one rank's device allocation for the elastic EP kernels ({@code device/src/main/cuda/sync.cuh},
 * {@code dispatch.cuh}, {@code combine.cuh}), and the rank descriptor and host report those kernels use. Every rank
 * of a group computes the same layout, so a peer's word is the peer's base plus the same offset.
 *
 * <p>Everything here that the kernels also know (the descriptor's fields, struct sizes, report indices, codes and the
 * tunables this package copies) is defined for the kernels in {@code tokenroute_abi.cuh} and checked against it
 * ({@link #checkKernelAbi}) the first time a layout is made in a build that compiled the kernels: a mismatch fails
 * there, naming the entry and both values, instead of letting a kernel read garbage.
 *
 * <pre>
 * symmetric (peers read it; only the owner writes it)
 *   control       5 words of 8 bytes, one per 128-byte line: DISP, COMB, SYNC, RDV, BEAT (see sync.cuh)
 *   staging       2 slots alternating by step parity; each: format int32, CSR int32[E + 1], token lists int32[T k],
 *                 bf16 rows [T][H], fp8 rows [T][H] (H % 128 == 0), scales [T][H / 128] (float32 or ue8m0 bytes)
 *   layout        int32[L][R][2] (begin, count) of the last dispatch: where each source's rows start
 *   combine rows  bf16 [L][R T][H]: expert outputs aligned with the received rows (zero-copy combine target)
 *   payload       2 slots of (int64 length, collectiveBytes bytes) for allGather
 * private (only the owner's kernels touch it)
 *   state, mask int32[R], met/cmet int32[R], sent int32[E], valid int32[E], row base int32[L + 1], recv count
 *   int32[L], stats int64 (cumulative recv [L], dispatch wait [R], combine wait [R]), source list starts int32[L][R],
 *   the phase trace uint64[8][2], routed/position int32[T k],
 *   token bitmaps uint32[E][ceil(T / 32)], receive rows [L][R T][H] bf16 (fp8 uses the first bytes) + scales
 *   [L][R T][H / 128] + src_rank/src_token int32[L][R T], combine output bf16 [T][H] + lost weight float32[T],
 *   allGather in/out, host-batch input area (x as up to float32 [T][H], topk_idx int64[T k], weights float32[T k]),
 *   the descriptor (64 int64) and the peer base table (int64[R])
 * prefill (with prefillMaxTokensPerRank &gt; 0): the sections of {@link CudaPrefillLayout}
 * </pre>
 * Every section starts on a 256-byte boundary, so rows are 16-byte aligned whenever their size is.
 */
final class CudaRankLayout {
    static final int DESCRIPTOR_WORDS = 64;
    /** Descriptor words in use ({@code TR_EP_DESCRIPTOR_FIELDS}). */
    static final int FIELDS = Field.values().length;
    /** Control words: DISP, COMB, SYNC, RDV, BEAT, one 128-byte line each. */
    static final int CTRL_WORDS = 5;

    static final int CTRL_STRIDE = 128;
    static final int CTRL_BYTES = CTRL_WORDS * CTRL_STRIDE;
    /** Room for the kernels' step state ({@code TrEpState}, at most this size). */
    static final int STATE_BYTES = 256;
    /** Most ranks one group's kernels serve ({@code TR_EP_MAX_RANKS}). */
    static final int MAX_RANKS = 256;
    /** Report header ints before the per-rank arrays ({@code TR_EP_REP_HEADER}). */
    static final int REPORT_HEADER = 8;

    static final int REPORT_FAULT = 0;
    static final int REPORT_PHASE = 1;
    static final int REPORT_BAD = 2;
    static final int REPORT_MISMATCH = 3;
    static final int FAULT_TIMEOUT = 1;
    static final int FAULT_FORMAT = 2;
    static final int FAULT_BAD_INPUT = 4;
    /** Kernel phases stamped in the trace ({@code TR_EP_TRACE_PHASES}). */
    static final int TRACE_PHASES = 8;

    final int ranks;
    final int experts;
    final int localExperts;
    final int maxTokens;
    final int hidden;
    final int maxTopK;
    final int collectiveBytes;
    final int bitmapWords;
    final int scaleGroups;
    final int recvCapacity;

    // symmetric
    final long offCtrl;
    final long offStage;
    final long stageStride;
    final long stFormat;
    final long stCsr;
    final long stTokens;
    final long stBf16;
    final long stFp8;
    final long stScales;
    final long offLayout;
    final long offCombRows;
    final long offPayload;
    final long payloadStride;
    // private
    final long offState;
    final long offMask;
    final long offMet;
    final long offCmet;
    final long offSent;
    final long offValid;
    final long offRowBase;
    final long offRecvCount;
    final long offCumRecv;
    final long offDwait;
    final long offCwait;
    final long offSrcBegin;
    final long offTrace;
    final long zeroEnd;
    final long offRouted;
    final long offPosition;
    final long offBitmap;
    final long offRecvX;
    final long offRecvScales;
    final long offSrcRank;
    final long offSrcToken;
    final long offOut;
    final long offLost;
    final long offGatherIn;
    final long offGatherOut;
    final long offInputX;
    final long offInputIdx;
    final long offInputW;
    final long offDesc;
    final long offPeers;
    /** The prefill sections after the others, or null without the prefill mode. */
    final CudaPrefillLayout prefill;

    final long bytes;

    CudaRankLayout(BufferConfig c) {
        requireKernelAbi();
        this.ranks = c.ranks();
        this.experts = c.experts();
        this.localExperts = c.localExperts();
        this.maxTokens = c.maxTokensPerRank();
        this.hidden = c.hidden();
        this.maxTopK = c.maxTopK();
        this.collectiveBytes = c.collectiveBytes();
        this.bitmapWords = (maxTokens + 31) / 32;
        this.scaleGroups = hidden % Fp8Quantizer.GROUP == 0 ? hidden / Fp8Quantizer.GROUP : 0;
        this.recvCapacity = ranks * maxTokens;
        long entries = (long) maxTokens * maxTopK;
        long cursor = 0;

        offCtrl = cursor;
        cursor = align(cursor + CTRL_BYTES);
        // one staging slot, offsets relative to the slot
        long slot = 0;
        stFormat = slot;
        slot = align(slot + 4);
        stCsr = slot;
        slot = align(slot + 4L * (experts + 1));
        stTokens = slot;
        slot = align(slot + 4 * entries);
        stBf16 = slot;
        slot = align(slot + 2L * maxTokens * hidden);
        stFp8 = slot;
        slot = align(slot + (scaleGroups > 0 ? (long) maxTokens * hidden : 0));
        stScales = slot;
        slot = align(slot + 4L * maxTokens * scaleGroups);
        stageStride = slot;
        offStage = cursor;
        cursor = align(cursor + 2 * stageStride);
        offLayout = cursor;
        cursor = align(cursor + 8L * localExperts * ranks);
        long recvRows = (long) localExperts * recvCapacity;
        offCombRows = cursor;
        cursor = align(cursor + 2L * hidden * recvRows);
        payloadStride = align(8L + collectiveBytes);
        offPayload = cursor;
        cursor = align(cursor + 2 * payloadStride);

        // private: the words zeroed at open first, contiguous
        offState = cursor;
        cursor = align(cursor + STATE_BYTES);
        offMask = cursor;
        cursor = align(cursor + 4L * ranks);
        offMet = cursor;
        cursor = align(cursor + 4L * ranks);
        offCmet = cursor;
        cursor = align(cursor + 4L * ranks);
        offSent = cursor;
        cursor = align(cursor + 4L * experts);
        offValid = cursor;
        cursor = align(cursor + 4L * experts);
        offRowBase = cursor;
        cursor = align(cursor + 4L * (localExperts + 1));
        offRecvCount = cursor;
        cursor = align(cursor + 4L * localExperts);
        offCumRecv = cursor;
        cursor = align(cursor + 8L * localExperts);
        offDwait = cursor;
        cursor = align(cursor + 8L * ranks);
        offCwait = cursor;
        cursor = align(cursor + 8L * ranks);
        offSrcBegin = cursor;
        cursor = align(cursor + 4L * localExperts * ranks);
        offTrace = cursor;
        cursor = align(cursor + 16L * TRACE_PHASES);
        zeroEnd = cursor;
        offRouted = cursor;
        cursor = align(cursor + 4 * entries);
        offPosition = cursor;
        cursor = align(cursor + 4 * entries);
        offBitmap = cursor;
        cursor = align(cursor + 4L * experts * bitmapWords);
        offRecvX = cursor;
        cursor = align(cursor + 2L * hidden * recvRows);
        offRecvScales = cursor;
        cursor = align(cursor + 4L * scaleGroups * recvRows);
        offSrcRank = cursor;
        cursor = align(cursor + 4 * recvRows);
        offSrcToken = cursor;
        cursor = align(cursor + 4 * recvRows);
        offOut = cursor;
        cursor = align(cursor + 2L * hidden * maxTokens);
        offLost = cursor;
        cursor = align(cursor + 4L * maxTokens);
        offGatherIn = cursor;
        cursor = align(cursor + 8L + collectiveBytes);
        offGatherOut = cursor;
        cursor = align(cursor + gatherStride() * ranks);
        offInputX = cursor;
        cursor = align(cursor + 4L * hidden * maxTokens);
        offInputIdx = cursor;
        cursor = align(cursor + 8 * entries);
        offInputW = cursor;
        cursor = align(cursor + 4 * entries);
        offDesc = cursor;
        cursor = align(cursor + 8L * DESCRIPTOR_WORDS);
        offPeers = cursor;
        cursor = align(cursor + 8L * ranks);
        prefill = c.prefillMaxTokensPerRank() > 0 ? new CudaPrefillLayout(c, cursor) : null;
        bytes = prefill == null ? cursor : prefill.end;
    }

    /**
     * Bytes per rank in the allGather output: an int64 length, then the payload rounded up to 8 bytes so that every
     * slot's length stays 8-byte aligned (sync.cuh tr_ep_sync_wait uses the same stride).
     */
    long gatherStride() {
        return 8L + ((collectiveBytes + 7L) & ~7L);
    }

    static long align(long v) {
        return (v + 255) & ~255L;
    }

    /** Offset of staging slot {@code slot}'s start. */
    long stage(int slot) {
        return offStage + slot * stageStride;
    }

    /** Offset of control word {@code word} (0 DISP, 1 COMB, 2 SYNC, 3 RDV, 4 BEAT). */
    long ctrl(int word) {
        return offCtrl + (long) CTRL_STRIDE * word;
    }

    /** Bytes of one local expert's receive rows (bf16). */
    long expertRowBytes() {
        return 2L * hidden * recvCapacity;
    }

    // ---- host report (pinned int32 words per rank) ----

    /** Call kinds of the per-kind newly-masked flags ({@code TR_EP_CALL_*}). */
    static final int CALL_DISPATCH = 0;

    static final int CALL_COMBINE = 1;
    static final int CALL_SYNC = 2;

    /** Ints of one rank's report: header, newly[3][R], fault peers[R], met[R], recv count[L], layout[L][R][2]. */
    int reportInts() {
        return REPORT_HEADER + 5 * ranks + localExperts + 2 * localExperts * ranks;
    }

    int reportNewly(int kind, int p) {
        return REPORT_HEADER + kind * ranks + p;
    }

    int reportFaultPeer(int p) {
        return REPORT_HEADER + 3 * ranks + p;
    }

    int reportMet(int p) {
        return REPORT_HEADER + 4 * ranks + p;
    }

    int reportRecvCount(int l) {
        return REPORT_HEADER + 5 * ranks + l;
    }

    int reportLayoutBegin(int l, int p) {
        return REPORT_HEADER + 5 * ranks + localExperts + 2 * (l * ranks + p);
    }

    /**
     * The words of the rank descriptor ({@code struct TrEp} of {@code tokenroute_abi.cuh}): each field's word index,
     * and its C name, the constant's name in lower case.
     */
    enum Field {
        RANK(0),
        RANKS(1),
        EXPERTS(2),
        LOCAL_EXPERTS(3),
        MAX_TOKENS(4),
        HIDDEN(5),
        MAX_TOPK(6),
        ELASTIC(7),
        COLLECTIVE_BYTES(8),
        BITMAP_WORDS(9),
        BASE(10),
        PEERS(11),
        REPORT(12),
        OFF_CTRL(13),
        OFF_STAGE(14),
        STAGE_STRIDE(15),
        ST_FORMAT(16),
        ST_CSR(17),
        ST_TOKENS(18),
        ST_BF16(19),
        ST_FP8(20),
        ST_SCALES(21),
        OFF_LAYOUT(22),
        OFF_COMB_ROWS(23),
        OFF_PAYLOAD(24),
        PAYLOAD_STRIDE(25),
        OFF_STATE(26),
        OFF_MASK(27),
        OFF_MET(28),
        OFF_CMET(29),
        OFF_ROUTED(30),
        OFF_POSITION(31),
        OFF_BITMAP(32),
        OFF_SENT(33),
        OFF_VALID(34),
        OFF_ROW_BASE(35),
        OFF_CUM_RECV(36),
        OFF_DWAIT(37),
        OFF_CWAIT(38),
        OFF_RECV_X(39),
        OFF_RECV_SCALES(40),
        OFF_SRC_RANK(41),
        OFF_SRC_TOKEN(42),
        OFF_RECV_COUNT(43),
        OFF_OUT(44),
        OFF_LOST(45),
        OFF_GATHER_IN(46),
        OFF_GATHER_OUT(47),
        OFF_INPUT_X(48),
        OFF_INPUT_IDX(49),
        OFF_INPUT_W(50),
        RECV_CAPACITY(51),
        SCALE_GROUPS(52),
        OFF_SRC_BEGIN(53),
        OFF_TRACE(54),
        OFF_PREFILL(55);

        /** Word index in the descriptor; the field's byte offset is 8 times it. */
        final int word;

        Field(int word) {
            this.word = word;
        }

        /** The field's name in {@code struct TrEp}. */
        String cName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The rank descriptor: one long per {@link Field}, at the field's word; the spare words are 0.
     *
     * @param rank this rank
     * @param elastic elastic mode
     * @param base device address of this rank's allocation
     * @param report pinned host address of this rank's report
     */
    long[] descriptor(int rank, boolean elastic, long base, long report) {
        long[] d = new long[DESCRIPTOR_WORDS];
        for (Field f : Field.values()) {
            d[f.word] = switch (f) {
                case RANK -> rank;
                case RANKS -> ranks;
                case EXPERTS -> experts;
                case LOCAL_EXPERTS -> localExperts;
                case MAX_TOKENS -> maxTokens;
                case HIDDEN -> hidden;
                case MAX_TOPK -> maxTopK;
                case ELASTIC -> elastic ? 1 : 0;
                case COLLECTIVE_BYTES -> collectiveBytes;
                case BITMAP_WORDS -> bitmapWords;
                case BASE -> base;
                case PEERS -> base + offPeers;
                case REPORT -> report;
                case OFF_CTRL -> offCtrl;
                case OFF_STAGE -> offStage;
                case STAGE_STRIDE -> stageStride;
                case ST_FORMAT -> stFormat;
                case ST_CSR -> stCsr;
                case ST_TOKENS -> stTokens;
                case ST_BF16 -> stBf16;
                case ST_FP8 -> stFp8;
                case ST_SCALES -> stScales;
                case OFF_LAYOUT -> offLayout;
                case OFF_COMB_ROWS -> offCombRows;
                case OFF_PAYLOAD -> offPayload;
                case PAYLOAD_STRIDE -> payloadStride;
                case OFF_STATE -> offState;
                case OFF_MASK -> offMask;
                case OFF_MET -> offMet;
                case OFF_CMET -> offCmet;
                case OFF_ROUTED -> offRouted;
                case OFF_POSITION -> offPosition;
                case OFF_BITMAP -> offBitmap;
                case OFF_SENT -> offSent;
                case OFF_VALID -> offValid;
                case OFF_ROW_BASE -> offRowBase;
                case OFF_CUM_RECV -> offCumRecv;
                case OFF_DWAIT -> offDwait;
                case OFF_CWAIT -> offCwait;
                case OFF_RECV_X -> offRecvX;
                case OFF_RECV_SCALES -> offRecvScales;
                case OFF_SRC_RANK -> offSrcRank;
                case OFF_SRC_TOKEN -> offSrcToken;
                case OFF_RECV_COUNT -> offRecvCount;
                case OFF_OUT -> offOut;
                case OFF_LOST -> offLost;
                case OFF_GATHER_IN -> offGatherIn;
                case OFF_GATHER_OUT -> offGatherOut;
                case OFF_INPUT_X -> offInputX;
                case OFF_INPUT_IDX -> offInputIdx;
                case OFF_INPUT_W -> offInputW;
                case RECV_CAPACITY -> recvCapacity;
                case SCALE_GROUPS -> scaleGroups;
                case OFF_SRC_BEGIN -> offSrcBegin;
                case OFF_TRACE -> offTrace;
                case OFF_PREFILL -> prefill == null ? 0 : prefill.offDescriptor;
            };
        }
        return d;
    }

    /**
     * Bytes of dynamic shared memory the dispatch-send kernel plans in (token bitmaps, CSR, routed and position
     * entries; the kernel applies the same condition), or 0 to plan in global memory.
     */
    int planSharedBytes() {
        long bytes = 4L * ((long) experts * bitmapWords + experts + 1) + 8L * maxTokens * maxTopK;
        return bytes <= PLAN_SMEM_BYTES ? (int) bytes : 0;
    }

    /** {@code TR_EP_PLAN_SMEM_BYTES}. */
    static final int PLAN_SMEM_BYTES = 40960;

    // ---- the check against the kernels' ABI ----

    private static volatile boolean abiChecked;

    /**
     * Checks this package's copies of the kernels' contract against the ABI the bundled kernels were built with, once
     * per process; does nothing in a build without kernels (there is nothing to launch, and loading the kernels fails
     * with its own message).
     *
     * @throws IllegalStateException on any mismatch
     */
    static void requireKernelAbi() {
        if (abiChecked || !KernelAbi.isBundled()) {
            return;
        }
        checkKernelAbi(KernelAbi.bundled());
        CudaPrefillLayout.checkKernelAbi(KernelAbi.bundled());
        abiChecked = true;
    }

    /**
     * Compares the descriptor's fields, the layouts of the state and launch structs, the control words, the report,
     * the {@link Phase} codes, the {@link DispatchOptions} format codes, the trace and the tunables this package copies
     * with {@code abi}.
     *
     * @throws IllegalStateException naming every entry that differs, with both values
     */
    static void checkKernelAbi(KernelAbi abi) {
        Map<String, Long> descriptor = new LinkedHashMap<>();
        descriptor.put("bytes", 8L * DESCRIPTOR_WORDS);
        descriptor.put("words", (long) DESCRIPTOR_WORDS);
        descriptor.put("fields", (long) FIELDS);
        for (Field f : Field.values()) {
            descriptor.put(f.cName(), 8L * f.word);
        }
        Map<String, Long> phases = new LinkedHashMap<>();
        for (Phase phase : Phase.values()) {
            phases.put(phase.name(), (long) phase.code());
        }
        Map<String, Long> formats = new LinkedHashMap<>();
        formats.put("BF16", (long) DispatchOptions.BF16.formatCode());
        formats.put("FP8", (long) DispatchOptions.FP8.formatCode());
        formats.put("FP8_ROUND_SCALE", (long) DispatchOptions.FP8_ROUND_SCALE.formatCode());
        formats.put("FP8_UE8M0", (long) DispatchOptions.FP8_UE8M0.formatCode());
        abi.compare("io.tokenroute.routing.cuda (CudaRankLayout, CudaLaunches)")
                .expectFamily("descriptor", descriptor, "CudaRankLayout.Field")
                .expectAtLeast("state.bytes", STATE_BYTES, "CudaRankLayout.STATE_BYTES")
                .expect("batch.bytes", CudaLaunches.BATCH_BYTES, "CudaLaunches.BATCH_BYTES")
                .expect("batch.send.x", CudaLaunches.SEND_X, "CudaLaunches.SEND_X")
                .expect("batch.send.idx", CudaLaunches.SEND_IDX, "CudaLaunches.SEND_IDX")
                .expect("batch.send.n", CudaLaunches.SEND_N, "CudaLaunches.SEND_N")
                .expect("batch.send.k", CudaLaunches.SEND_K, "CudaLaunches.SEND_K")
                .expect("batch.send.dtype", CudaLaunches.SEND_DTYPE, "CudaLaunches.SEND_DTYPE")
                .expect("batch.send.bytes", CudaLaunches.SEND_BYTES, "CudaLaunches.SEND_BYTES")
                .expect("batch.reduce.weights", CudaLaunches.REDUCE_WEIGHTS, "CudaLaunches.REDUCE_WEIGHTS")
                .expect("batch.reduce.bytes", CudaLaunches.REDUCE_BYTES, "CudaLaunches.REDUCE_BYTES")
                .expect("ctrl.words", CTRL_WORDS, "CudaRankLayout.CTRL_WORDS")
                .expect("ctrl.stride", CTRL_STRIDE, "CudaRankLayout.CTRL_STRIDE")
                .expect("report.header", REPORT_HEADER, "CudaRankLayout.REPORT_HEADER")
                .expect("report.fault", REPORT_FAULT, "CudaRankLayout.REPORT_FAULT")
                .expect("report.phase", REPORT_PHASE, "CudaRankLayout.REPORT_PHASE")
                .expect("report.bad", REPORT_BAD, "CudaRankLayout.REPORT_BAD")
                .expect("report.mismatch", REPORT_MISMATCH, "CudaRankLayout.REPORT_MISMATCH")
                .expect("call.dispatch", CALL_DISPATCH, "CudaRankLayout.CALL_DISPATCH")
                .expect("call.combine", CALL_COMBINE, "CudaRankLayout.CALL_COMBINE")
                .expect("call.sync", CALL_SYNC, "CudaRankLayout.CALL_SYNC")
                .expect("fault.timeout", FAULT_TIMEOUT, "CudaRankLayout.FAULT_TIMEOUT")
                .expect("fault.format", FAULT_FORMAT, "CudaRankLayout.FAULT_FORMAT")
                .expect("fault.bad_input", FAULT_BAD_INPUT, "CudaRankLayout.FAULT_BAD_INPUT")
                .expectFamily("phase", phases, "Phase.code()")
                .expectFamily("format", formats, "DispatchOptions.formatCode()")
                .expect("trace.phases", TRACE_PHASES, "CudaRankLayout.TRACE_PHASES")
                .expect("config.TR_FP8_GROUP", Fp8Quantizer.GROUP, "Fp8Quantizer.GROUP (scale groups)")
                .expect("config.TR_EP_MAX_RANKS", MAX_RANKS, "CudaRankLayout.MAX_RANKS")
                .expect("config.TR_EP_BATCH_RANKS", CudaLaunches.BATCH, "CudaLaunches.BATCH")
                .expect("config.TR_EP_FP8_UNROLL", CudaLaunches.FP8_PAIRS_IN_FLIGHT, "CudaLaunches.FP8_PAIRS_IN_FLIGHT")
                .expect("config.TR_EP_PLAN_SMEM_BYTES", PLAN_SMEM_BYTES, "CudaRankLayout.PLAN_SMEM_BYTES")
                .verify();
    }
}
