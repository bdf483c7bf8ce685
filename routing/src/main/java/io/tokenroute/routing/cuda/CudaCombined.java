package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.cdata.DeviceExport;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.arrow.cdata.NullCounts;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.protocol.MaskState;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank's result of {@link CudaLocalGroup#combine}: one row per dispatched token in <b>CUDA device memory</b>,
 * {@code hidden} bf16 = Σ over unmasked experts of weight × output (fp32 in top-k order, one rounding) and
 * {@code lost_weight} float32 = the weights of the experts skipped because their rank was masked. Read it on the host
 * only through {@link #copyHiddenTo} / {@link #copyLostWeightTo} (CUDA copies) or hand it to a device consumer
 * ({@link #export}).
 *
 * <p>Owned by the group and reused: valid until the rank's next combine. Do not close it or its batch.
 */
public final class CudaCombined {
    private final CudaLocalGroup.Rank rank;
    private final CudaRankLayout layout;
    private final boolean[] newlyMasked;
    private int newlyMaskedCount;
    private int tokens;

    CudaCombined(CudaLocalGroup.Rank rank, CudaRankLayout layout) {
        this.rank = rank;
        this.layout = layout;
        this.newlyMasked = new boolean[layout.ranks];
    }

    void publish(int n, CudaReport report) {
        tokens = n;
        newlyMaskedCount = report.copyNewly(CudaRankLayout.CALL_COMBINE, newlyMasked);
    }

    /** This result's rank. */
    public int rank() {
        return rank.id;
    }

    /** Number of tokens (rows). */
    public int numTokens() {
        return tokens;
    }

    /** The output batch over device memory ({@code hidden}, {@code lost_weight}); addresses and row count only. */
    public VectorSchemaRoot batch() {
        return rank.views.combined(tokens);
    }

    /** Device address of {@code hidden[0][0]} ({@code n × H} bf16, row-major). */
    public long hiddenAddress() {
        return rank.base + layout.offOut;
    }

    /** Device address of {@code lost_weight[0]} ({@code n} float32). */
    public long lostWeightAddress() {
        return rank.base + layout.offLost;
    }

    /** Copies {@code hidden} ({@code n × H} bf16 bits) to {@code dst}, which must hold exactly that many values. */
    public void copyHiddenTo(short[] dst) {
        if (dst.length != tokens * layout.hidden) {
            throw new IllegalArgumentException("need " + tokens * layout.hidden + " values, got " + dst.length);
        }
        Memcpy.toHost(dst, hiddenAddress(), rank.exec());
    }

    /** Copies {@code lost_weight} to {@code dst}, which must hold exactly {@code n} values. */
    public void copyLostWeightTo(float[] dst) {
        if (dst.length != tokens) {
            throw new IllegalArgumentException("need " + tokens + " values, got " + dst.length);
        }
        Memcpy.toHost(dst, lostWeightAddress(), rank.exec());
    }

    /** Number of peers this combine masked. */
    public int newlyMaskedCount() {
        return newlyMaskedCount;
    }

    /** Whether this combine masked {@code peer}. */
    public boolean isNewlyMasked(int peer) {
        return newlyMasked[peer];
    }

    /** The peers this combine masked, ascending (allocates; for reporting). */
    public int[] newlyMasked() {
        return MaskState.ranksOf(newlyMasked, newlyMaskedCount);
    }

    /** The event recorded on the rank's stream after the reduce: the export's sync event. Owned by the group. */
    public CudaEvent readyEvent() {
        return rank.lastCombineEvent;
    }

    /**
     * Exports the output through the Arrow C Device Data Interface (CUDA, sync event {@link #readyEvent()}), zero-copy.
     *
     * @return the export; the caller closes it
     */
    public ExportedDeviceBatch export(BufferAllocator allocator) {
        return DeviceExport.export(allocator, batch(), rank.group.device().location(), NullCounts.KNOWN_ZERO,
                rank.lastCombineEvent.syncEventSlotAddress());
    }
}
