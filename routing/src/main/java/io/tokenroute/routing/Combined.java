package io.tokenroute.routing;

import io.tokenroute.routing.protocol.RankProtocol;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The result of {@link ElasticBuffer#combine}: one row per dispatched token, aligned with the input batch:
 * {@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H] = Σ over unmasked experts of weight × expert output
 * (fp32 accumulation in top-k order, rounded to bf16 once), and {@code lost_weight} float32 = the summed weights of the
 * experts skipped because their rank was masked (0 for undamaged tokens). An expert also counts as skipped when its rank
 * had masked <em>this</em> rank and so did not receive the token (its layout does not match what was sent): the weight is
 * lost either way, and an engine that sees its own rank in {@link ElasticBuffer#agreeMask()} must readmit it.
 *
 * <p>Owned by the buffer and reused: valid until the next {@code combine}. Do not close the batch.
 */
public final class Combined extends StepReport {
    private final RankProtocol protocol;
    private final VectorSchemaRoot batch;
    private final int hidden;

    Combined(RankProtocol protocol, VectorSchemaRoot batch, int ranks, int hidden) {
        super(ranks);
        this.protocol = protocol;
        this.batch = batch;
        this.hidden = hidden;
    }

    void publish(int tokens) {
        batch.setRowCount(tokens);
        captureNewlyMasked(protocol.mask());
    }

    /** The output record batch ({@code hidden}, {@code lost_weight}). */
    public VectorSchemaRoot batch() {
        ensureReadable();
        return batch;
    }

    /** Number of tokens. */
    public int numTokens() {
        return batch.getRowCount();
    }

    /** {@code lost_weight[t]}. */
    public float lostWeight(int t) {
        checkToken(t);
        return Float.intBitsToFloat(MemoryUtil.getInt(protocol.lostWeight().memoryAddress() + 4L * t));
    }

    /** Whether token {@code t} lost any expert to a masked rank. */
    public boolean isDamaged(int t) {
        return lostWeight(t) != 0f;
    }

    /** The bf16 bits of {@code hidden[t][h]}. */
    public short hiddenBits(int t, int h) {
        checkToken(t);
        if (h < 0 || h >= hidden) {
            throw new IndexOutOfBoundsException("channel " + h + " outside [0, " + hidden + ")");
        }
        return MemoryUtil.getShort(protocol.combineOut().memoryAddress() + 2L * ((long) t * hidden + h));
    }

    /** Address of {@code hidden[0][0]} (host memory, {@code n × H} bf16 row-major). */
    public long hiddenAddress() {
        ensureReadable();
        return protocol.combineOut().memoryAddress();
    }

    /** The batch views the buffer's memory: once it is closed, reading it would touch freed memory. */
    private void ensureReadable() {
        if (protocol.isClosed()) {
            throw new IllegalStateException("this combine result belongs to a closed buffer");
        }
    }

    private void checkToken(int t) {
        ensureReadable();
        if (t < 0 || t >= batch.getRowCount()) {
            throw new IndexOutOfBoundsException("token " + t + " outside [0, " + batch.getRowCount() + ")");
        }
    }
}
