package io.tokenroute.examples.demo;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.nvshmem.NvshmemBuffer;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;

/**
 * {@link DemoRouting} over this process's {@link NvshmemBuffer} (one NVSHMEM PE): results live in device memory, so a
 * dispatch copies the received rows to the host, a combine first uploads the host experts' outputs into the device
 * combine-send rows (zero-copy combine, ordered by the buffer's stream) and then copies the output and
 * {@code lost_weight} back ({@link DeviceStaging}, the copies {@link CudaLocalDemo} makes). The CPU never reads device
 * memory.
 *
 * <p>{@link #heartbeat()} does nothing: the waits run in the kernels, which beat while they wait; a rank's host work
 * between two calls is not covered, which is why the nvshmem demo's default timeout is long (see
 * {@link NvshmemDemo}). Closing frees the host copies, not the buffer.
 */
final class NvshmemRouting implements DemoRouting, AutoCloseable {
    private final NvshmemBuffer buffer;
    private final DeviceStaging staging;
    private CudaDispatched dispatched;
    private float[] lostWeight;

    /**
     * @param buffer this rank's buffer; the caller closes it after this
     * @param allocator pays for the host copies
     */
    NvshmemRouting(NvshmemBuffer buffer, BufferAllocator allocator) {
        this.buffer = buffer;
        this.staging = new DeviceStaging(allocator, buffer.config().localExperts(),
                buffer.config().maxTokensPerRank(), buffer.config().hidden());
    }

    @Override
    public void setTimeout(Duration timeout) {
        buffer.setTimeout(timeout);
    }

    @Override
    public void heartbeat() {
        // The kernels beat while they wait (see the class comment).
    }

    @Override
    public int[] dispatch(TokenBatch batch) {
        dispatched = buffer.dispatch(batch, DispatchOptions.BF16);
        staging.fetchRows(dispatched, buffer.stream());
        return dispatched.newlyMaskedCount() == 0 ? NONE : dispatched.newlyMasked();
    }

    @Override
    public int recvCount(int slot) {
        return staging.rows(slot);
    }

    @Override
    public long rowsAddress(int slot) {
        return staging.receivedAddress(slot);
    }

    @Override
    public long outputAddress(int slot) {
        return staging.computedAddress(slot);
    }

    @Override
    public int[] combine(TokenBatch batch) {
        staging.uploadOutputs(dispatched, buffer.stream());
        CudaCombined c = buffer.combine(batch);
        lostWeight = staging.fetchOutput(c, c.numTokens(), buffer.stream());
        return c.newlyMaskedCount() == 0 ? NONE : c.newlyMasked();
    }

    @Override
    public long combinedAddress() {
        return staging.outputAddress();
    }

    @Override
    public float lostWeight(int token) {
        return lostWeight[token];
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
        return buffer.allGather(payload);
    }

    @Override
    public boolean readmit(int rank, Duration timeout) {
        return buffer.readmit(rank, timeout);
    }

    @Override
    public void close() {
        staging.close();
    }

    /** The nvshmem buffer does not publish readmission requests: a masked live PE is not brought back on its own. */
    @Override
    public int readmitRequesting(Duration timeout) {
        return -1;
    }
}
