package io.tokenroute.examples.demo;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import java.time.Duration;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * {@link DemoRouting} over an {@link ElasticBuffer} of a host transport ({@code local}, {@code shm}): the received rows
 * and the zero-copy expert-output rows are the buffer's own memory, so nothing is copied.
 */
final class ElasticRouting implements DemoRouting {
    private final ElasticBuffer buffer;
    private Dispatched dispatched;
    private Combined combined;

    ElasticRouting(ElasticBuffer buffer) {
        this.buffer = buffer;
    }

    @Override
    public void setTimeout(Duration timeout) {
        buffer.setTimeout(timeout);
    }

    @Override
    public void heartbeat() {
        buffer.heartbeat();
    }

    @Override
    public int[] dispatch(TokenBatch batch) {
        dispatched = buffer.dispatch(batch);
        return dispatched.newlyMaskedCount() == 0 ? NONE : dispatched.newlyMasked();
    }

    @Override
    public int recvCount(int slot) {
        return dispatched.recvCount(slot);
    }

    @Override
    public long rowsAddress(int slot) {
        FixedSizeListVector hidden = (FixedSizeListVector) dispatched.expert(slot).getVector(TokenBatchSchema.HIDDEN);
        return hidden.getDataVector().getDataBuffer().memoryAddress();
    }

    @Override
    public long outputAddress(int slot) {
        return dispatched.expertOutputAddress(slot);
    }

    @Override
    public int[] combine(TokenBatch batch) {
        combined = buffer.combine(dispatched, batch);
        return combined.newlyMaskedCount() == 0 ? NONE : combined.newlyMasked();
    }

    @Override
    public long combinedAddress() {
        return combined.hiddenAddress();
    }

    @Override
    public float lostWeight(int token) {
        return combined.lostWeight(token);
    }

    @Override
    public int[] queryMask() {
        return buffer.queryMask();
    }

    @Override
    public int[] agreeMask() {
        return buffer.agreeMask();
    }

    @Override
    public byte[][] allGather(byte[] payload) {
        return buffer.allGatherBytes(payload);
    }

    @Override
    public boolean readmit(int rank, Duration timeout) {
        return buffer.readmit(rank, timeout);
    }

    @Override
    public int readmitRequesting(Duration timeout) {
        return buffer.readmitRequesting(timeout);
    }
}
