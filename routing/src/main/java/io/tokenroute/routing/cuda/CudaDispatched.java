package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.cdata.DeviceExport;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.arrow.cdata.NullCounts;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.routing.protocol.MaskState;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank's result of {@link CudaLocalGroup#dispatch}: what the rank received, in <b>CUDA device memory</b>, as the
 * {@code local} transport's {@link io.tokenroute.routing.Dispatched} describes it (rows per local expert grouped by
 * source rank ascending, then source token ascending; bf16 {@code hidden}, or {@code fp8} + {@code scales};
 * {@code src_rank}, {@code src_token}). Counts and layout were copied to the host after the receive phase, so reading
 * them costs nothing; the rows themselves must never be read by the CPU: use {@link io.tokenroute.device.Memcpy} on the
 * addresses, the Arrow views with device-aware consumers only (buffer addresses, row counts), or
 * {@link #exportExpert}.
 *
 * <p>Owned by the group and reused: valid until the rank's next dispatch. Do not close it or its batches.
 */
public final class CudaDispatched {
    private final CudaLocalGroup.Rank rank;
    private final CudaRankLayout layout;
    private final boolean[] newlyMasked;
    private CudaReport report;
    private int newlyMaskedCount;
    private long step;
    private int tokens;
    private boolean fp8;
    private boolean ue8m0;

    CudaDispatched(CudaLocalGroup.Rank rank, CudaRankLayout layout) {
        this.rank = rank;
        this.layout = layout;
        this.newlyMasked = new boolean[layout.ranks];
    }

    /**
     * Takes the rank's report after its receive phase completed. Counts and layout are read from the report when
     * asked for (nothing else writes them before the rank's next dispatch), so publishing costs R reads.
     */
    void publish(long newStep, int n, boolean isFp8, boolean isUe8m0, CudaReport newReport) {
        step = newStep;
        tokens = n;
        fp8 = isFp8;
        ue8m0 = isUe8m0;
        report = newReport;
        newlyMaskedCount = newReport.copyNewly(CudaRankLayout.CALL_DISPATCH, newlyMasked);
    }

    /** This result's rank. */
    public int rank() {
        return rank.id;
    }

    /** The dispatch's step number in the rank's current generation (1, 2, ... after each cleanBuffer). */
    public long step() {
        return step;
    }

    /** Whether rows are fp8 with scales. */
    public boolean isFp8() {
        return fp8;
    }

    /** Whether fp8 scales are UE8M0 bytes rather than float32. */
    public boolean isUe8m0() {
        return ue8m0;
    }

    /** L. */
    public int numLocalExperts() {
        return layout.localExperts;
    }

    /** Tokens this rank dispatched (the row count of its combine output). */
    public int numTokens() {
        return tokens;
    }

    /** Rows received by local expert {@code l}. */
    public int recvCount(int l) {
        return report.recvCount(checkExpert(l));
    }

    /** First row of local expert {@code l} that came from {@code srcRank}. */
    public int layoutBegin(int l, int srcRank) {
        return report.layoutBegin(checkExpert(l), checkRank(srcRank));
    }

    /** Rows of local expert {@code l} that came from {@code srcRank} (0 if that rank was masked). */
    public int layoutCount(int l, int srcRank) {
        return report.layoutCount(checkExpert(l), checkRank(srcRank));
    }

    /** Number of peers this dispatch masked (0 on a healthy step). */
    public int newlyMaskedCount() {
        return newlyMaskedCount;
    }

    /** Whether this dispatch masked {@code peer}. */
    public boolean isNewlyMasked(int peer) {
        return newlyMasked[checkRank(peer)];
    }

    /** The peers this dispatch masked, ascending (allocates; for reporting). */
    public int[] newlyMasked() {
        return MaskState.ranksOf(newlyMasked, newlyMaskedCount);
    }

    /**
     * Local expert {@code l}'s received rows as an Arrow record batch over device memory (columns as
     * {@link io.tokenroute.routing.Dispatched#expert}). Only addresses, schema and row count may be used on the CPU.
     */
    public VectorSchemaRoot expert(int l) {
        return rank.views.expert(checkExpert(l), fp8, ue8m0, recvCount(l));
    }

    /** The layout batch in host memory: {@code L × R} rows of {@code local_expert, src_rank, begin, count}. */
    public VectorSchemaRoot layout() {
        return rank.views.layout(report);
    }

    /**
     * Zero-copy combine target: local expert {@code l}'s combine-send rows ({@code hidden} bf16, one row per received
     * row) over device memory. Write expert outputs there on {@link CudaLocalGroup#stream(int)} (or synchronise
     * first), then call {@link CudaLocalGroup#combine(java.util.List)}.
     */
    public VectorSchemaRoot expertOutput(int l) {
        return rank.views.output(checkExpert(l), recvCount(l));
    }

    /** Device address of local expert {@code l}'s first combine-send row ({@code recvCount(l) × H} bf16). */
    public long expertOutputAddress(int l) {
        return rank.base + layout.offCombRows + checkExpert(l) * layout.expertRowBytes();
    }

    /** Device address of local expert {@code l}'s first received row (bf16 {@code [rows][H]} or fp8 {@code [rows][H]}). */
    public long rowsAddress(int l) {
        return rank.base + layout.offRecvX + checkExpert(l) * layout.expertRowBytes();
    }

    /** Device address of local expert {@code l}'s scales ({@code [rows][H / 128]} float32, or bytes for UE8M0). */
    public long scalesAddress(int l) {
        return rank.base + layout.offRecvScales
                + (long) checkExpert(l) * layout.recvCapacity * layout.scaleGroups * (ue8m0 ? 1 : 4);
    }

    /** Device address of local expert {@code l}'s {@code src_rank} int32 column. */
    public long srcRankAddress(int l) {
        return rank.base + layout.offSrcRank + 4L * checkExpert(l) * layout.recvCapacity;
    }

    /** Device address of local expert {@code l}'s {@code src_token} int32 column. */
    public long srcTokenAddress(int l) {
        return rank.base + layout.offSrcToken + 4L * checkExpert(l) * layout.recvCapacity;
    }

    /**
     * The event recorded on the rank's stream after its receive phase: the C Device Data sync event of
     * {@link #exportExpert}. Owned by the group; re-recorded by the rank's next dispatch.
     */
    public CudaEvent readyEvent() {
        return rank.lastDispatchEvent;
    }

    /**
     * Exports local expert {@code l}'s rows through the Arrow C Device Data Interface ({@code ArrowDeviceArray} with
     * {@code device_type} CUDA, this device's id and {@link #readyEvent()} as sync event). Zero-copy: the exported
     * buffer addresses are the receive buffer's. Valid until the rank's next dispatch.
     *
     * @param allocator allocates the host-side C structs
     * @return the export; the caller closes it
     */
    public ExportedDeviceBatch exportExpert(int l, BufferAllocator allocator) {
        return DeviceExport.export(allocator, expert(l), rank.group.device().location(), NullCounts.KNOWN_ZERO,
                rank.lastDispatchEvent.syncEventSlotAddress());
    }

    private int checkExpert(int l) {
        if (l < 0 || l >= layout.localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + layout.localExperts + ")");
        }
        return l;
    }

    private int checkRank(int r) {
        if (r < 0 || r >= layout.ranks) {
            throw new IndexOutOfBoundsException("rank " + r + " outside [0, " + layout.ranks + ")");
        }
        return r;
    }
}
