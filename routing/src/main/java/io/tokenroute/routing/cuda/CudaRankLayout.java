package io.tokenroute.routing.cuda;

import io.tokenroute.routing.BufferConfig;

/**
 * Byte offsets inside one rank's device allocation for the elastic EP kernels ({@code device/src/main/cuda/sync.cu},
 * {@code dispatch.cu}, {@code combine.cu}), and the rank descriptor and host report those kernels use. Every rank of
 * a group computes the same layout, so a peer's word is the peer's base plus the same offset.
 *
 * <pre>
 * symmetric (peers read it; only the owner writes it)
 *   control       4 words of 8 bytes, one per 128-byte line: DISP, COMB, SYNC, RDV (see sync.cu)
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
 * </pre>
 * Every section starts on a 256-byte boundary, so rows are 16-byte aligned whenever their size is.
 */
final class CudaRankLayout {
    static final int DESCRIPTOR_WORDS = 64;
    /** Five control words of one 128-byte line each: DISP, COMB, SYNC, RDV, BEAT (sync.cu). */
    static final int CTRL_BYTES = 640;
    static final int STATE_BYTES = 256;
    /** Report header ints before the per-rank arrays (sync.cu TR_EP_REP_HEADER). */
    static final int REPORT_HEADER = 8;
    static final int REPORT_FAULT = 0;
    static final int REPORT_PHASE = 1;
    static final int REPORT_BAD = 2;
    static final int REPORT_MISMATCH = 3;
    static final int FAULT_TIMEOUT = 1;
    static final int FAULT_FORMAT = 2;
    static final int FAULT_BAD_INPUT = 4;
    /** Kernel phases stamped in the trace (sync.cu TR_EP_TRACE_PHASES). */
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
    final long bytes;

    CudaRankLayout(BufferConfig c) {
        this.ranks = c.ranks();
        this.experts = c.experts();
        this.localExperts = c.localExperts();
        this.maxTokens = c.maxTokensPerRank();
        this.hidden = c.hidden();
        this.maxTopK = c.maxTopK();
        this.collectiveBytes = c.collectiveBytes();
        this.bitmapWords = (maxTokens + 31) / 32;
        this.scaleGroups = hidden % 128 == 0 ? hidden / 128 : 0;
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
        bytes = cursor;
    }

    /**
     * Bytes per rank in the allGather output: an int64 length, then the payload rounded up to 8 bytes so that every
     * slot's length stays 8-byte aligned (sync.cu tr_ep_sync_wait uses the same stride).
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

    /** Offset of control word {@code word} (0 DISP, 1 COMB, 2 SYNC, 3 RDV). */
    long ctrl(int word) {
        return offCtrl + 128L * word;
    }

    /** Bytes of one local expert's receive rows (bf16). */
    long expertRowBytes() {
        return 2L * hidden * recvCapacity;
    }

    // ---- host report (pinned int32 words per rank) ----

    /** Call kinds of the per-kind newly-masked flags (sync.cu TR_EP_CALL_*). */
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
     * The rank descriptor (sync.cu {@code TrEpField} order, which this method must follow word for word).
     *
     * @param rank this rank
     * @param elastic elastic mode
     * @param base device address of this rank's allocation
     * @param report pinned host address of this rank's report
     */
    long[] descriptor(int rank, boolean elastic, long base, long report) {
        long[] d = new long[DESCRIPTOR_WORDS];
        int i = 0;
        d[i++] = rank;
        d[i++] = ranks;
        d[i++] = experts;
        d[i++] = localExperts;
        d[i++] = maxTokens;
        d[i++] = hidden;
        d[i++] = maxTopK;
        d[i++] = elastic ? 1 : 0;
        d[i++] = collectiveBytes;
        d[i++] = bitmapWords;
        d[i++] = base;
        d[i++] = base + offPeers;
        d[i++] = report;
        d[i++] = offCtrl;
        d[i++] = offStage;
        d[i++] = stageStride;
        d[i++] = stFormat;
        d[i++] = stCsr;
        d[i++] = stTokens;
        d[i++] = stBf16;
        d[i++] = stFp8;
        d[i++] = stScales;
        d[i++] = offLayout;
        d[i++] = offCombRows;
        d[i++] = offPayload;
        d[i++] = payloadStride;
        d[i++] = offState;
        d[i++] = offMask;
        d[i++] = offMet;
        d[i++] = offCmet;
        d[i++] = offRouted;
        d[i++] = offPosition;
        d[i++] = offBitmap;
        d[i++] = offSent;
        d[i++] = offValid;
        d[i++] = offRowBase;
        d[i++] = offCumRecv;
        d[i++] = offDwait;
        d[i++] = offCwait;
        d[i++] = offRecvX;
        d[i++] = offRecvScales;
        d[i++] = offSrcRank;
        d[i++] = offSrcToken;
        d[i++] = offRecvCount;
        d[i++] = offOut;
        d[i++] = offLost;
        d[i++] = offGatherIn;
        d[i++] = offGatherOut;
        d[i++] = offInputX;
        d[i++] = offInputIdx;
        d[i++] = offInputW;
        d[i++] = recvCapacity;
        d[i++] = scaleGroups;
        d[i++] = offSrcBegin;
        d[i++] = offTrace;
        assert i == FIELDS : i;
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

    /** tokenroute_config.cuh TR_EP_PLAN_SMEM_BYTES. */
    static final int PLAN_SMEM_BYTES = 40960;

    /** Number of descriptor words in use (sync.cu TR_EP_FIELDS). */
    static final int FIELDS = 55;
}
