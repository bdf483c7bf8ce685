package io.tokenroute.routing;

import io.tokenroute.routing.protocol.RankProtocol;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The result of {@link ElasticBuffer#dispatch}: per local expert, the rows this rank received, as Arrow record batches
 * that are views into the buffer's receive memory (no copy), plus the layout and the handle combine needs.
 *
 * <p>Per local expert {@code l} ({@code 0 <= l < L}), {@link #expert(int)} has {@link #recvCount(int)} rows:
 * <ul>
 *   <li>bf16 dispatch: {@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H];</li>
 *   <li>fp8 dispatch: {@code fp8} FixedSizeList&lt;tokenroute.float8_e4m3&gt;[H] and {@code scales}
 *       FixedSizeList&lt;float32&gt;[H/128] (dequantisation scales) or FixedSizeList&lt;tokenroute.ue8m0&gt;[H/128];</li>
 *   <li>{@code src_rank} int32 and {@code src_token} int32: where each row came from.</li>
 * </ul>
 * Rows are grouped by source rank (ascending), and within a group by source token (ascending).
 *
 * <p>Owned by the buffer and reused: valid until the next {@code dispatch} on the same buffer. Do not close the
 * batches. Memory location: host (off-heap) for the {@code local} and {@code shm} transports.
 */
public final class Dispatched extends StepReport {
    private final RankProtocol protocol;
    private final ResultViews views;
    private final int localExperts;
    private final int ranks;
    private long step;
    private boolean fp8;
    private boolean ue8m0;
    private boolean combined;

    Dispatched(RankProtocol protocol, ResultViews views, int localExperts, int ranks) {
        super(ranks);
        this.protocol = protocol;
        this.views = views;
        this.localExperts = localExperts;
        this.ranks = ranks;
        this.combined = true;
    }

    void publish(long newStep, DispatchOptions options) {
        step = newStep;
        fp8 = options.fp8();
        ue8m0 = options.ue8m0();
        combined = false;
        for (int l = 0; l < localExperts; l++) {
            int count = protocol.recvCount(l);
            expertRoot(l).setRowCount(count);
            views.expertOutputs[l].setRowCount(count);
        }
        views.fillLayout(protocol, localExperts, ranks);
        views.layout.setRowCount(localExperts * ranks);
        captureNewlyMasked(protocol.mask());
    }

    private VectorSchemaRoot expertRoot(int l) {
        return !fp8 ? views.bf16Experts[l] : ue8m0 ? views.ue8m0Experts[l] : views.fp8Experts[l];
    }

    /** The step's sequence number (dispatch and its combine share it). */
    public long step() {
        return step;
    }

    /** Whether rows are fp8 (with scales) rather than bf16. */
    public boolean isFp8() {
        return fp8;
    }

    /** L, local experts on this rank. */
    public int numLocalExperts() {
        return localExperts;
    }

    /** n, the number of tokens this rank dispatched (the row count of its combine output). */
    public int numTokens() {
        return protocol.tokens();
    }

    /** Rows received for local expert {@code l}. */
    public int recvCount(int l) {
        return protocol.recvCount(checkExpert(l));
    }

    /** The received rows of local expert {@code l} (see the class comment for columns). */
    public VectorSchemaRoot expert(int l) {
        return expertRoot(checkExpert(l));
    }

    /**
     * The layout batch: {@code L × R} rows of {@code local_expert}, {@code src_rank}, {@code begin}, {@code count}
     * (int32): the rows of {@code expert(local_expert)} that came from {@code src_rank}.
     */
    public VectorSchemaRoot layout() {
        ensureReadable();
        return views.layout;
    }

    /** First row of local expert {@code l} that came from {@code srcRank}. */
    public int layoutBegin(int l, int srcRank) {
        return protocol.layoutBegin(checkExpert(l), srcRank);
    }

    /** Rows of local expert {@code l} that came from {@code srcRank} (0 if that rank was masked). */
    public int layoutCount(int l, int srcRank) {
        return protocol.layoutCount(checkExpert(l), srcRank);
    }

    /**
     * Zero-copy combine: a writable view ({@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H], one row per
     * received row of expert {@code l}) over this rank's combine-send memory. Write the expert's outputs here, then
     * call {@link ElasticBuffer#combine(Dispatched, io.tokenroute.arrow.batch.TokenBatch)}.
     */
    public VectorSchemaRoot expertOutput(int l) {
        return views.expertOutputs[checkExpert(l)];
    }

    /** Address of the first combine-send row of expert {@code l} ({@code recvCount(l) × H} bf16, row-major). */
    public long expertOutputAddress(int l) {
        return protocol.combineSendAddress(checkExpert(l));
    }

    /** The views point into the buffer's memory: once it is closed, reading them would touch freed memory. */
    private void ensureReadable() {
        if (protocol.isClosed()) {
            throw new IllegalStateException("this dispatch result belongs to a closed buffer");
        }
    }

    boolean isCurrent(RankProtocol p) {
        return p == protocol && !combined && step == p.seq() && p.stepOpen();
    }

    void markCombined() {
        combined = true;
    }

    private int checkExpert(int l) {
        ensureReadable();
        if (l < 0 || l >= localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + localExperts + ")");
        }
        return l;
    }
}
