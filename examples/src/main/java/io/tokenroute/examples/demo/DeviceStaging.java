package io.tokenroute.examples.demo;

import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Host copies of one rank's device-memory results, so that the demo's host experts and reference check never read
 * device memory: the rows each local slot received, the experts' outputs for them, and the combine output. Every copy
 * runs on the rank's stream, so it is ordered after the kernels that wrote its source and before those that read its
 * destination. Used by the GPU transports' demos ({@link CudaLocalDemo}, {@link NvshmemRouting}).
 *
 * <p>Owns its host buffers (from the given allocator); one thread at a time.
 */
final class DeviceStaging implements AutoCloseable {
    private final BufferAllocator allocator;
    private final int hidden;
    /** Host copy of the combine output, bf16 {@code [T][H]}. */
    private final ArrowBuf output;
    /** Host copies of the rows received per slot and of the experts' outputs, grown on demand. */
    private ArrowBuf received;
    private ArrowBuf computed;
    /** Row offset of each local slot's rows in {@link #received} / {@link #computed}, and their count. */
    private final int[] slotRow;
    private final int[] slotRows;

    /**
     * @param allocator pays for the host copies; close this first
     * @param slots local expert slots of the rank
     * @param tokens T, the most tokens one combine returns
     * @param hidden H
     */
    DeviceStaging(BufferAllocator allocator, int slots, int tokens, int hidden) {
        this.allocator = allocator;
        this.hidden = hidden;
        this.output = allocator.buffer(2L * tokens * hidden);
        this.received = allocator.buffer(0);
        this.computed = allocator.buffer(0);
        this.slotRow = new int[slots];
        this.slotRows = new int[slots];
    }

    /**
     * Copies the rows each slot received to the host; returns once they are there. On {@code stream}, the rank's, so
     * ordered after the dispatch kernels that wrote them.
     */
    void fetchRows(CudaDispatched d, CudaStream stream) {
        int total = 0;
        for (int l = 0; l < slotRow.length; l++) {
            slotRow[l] = total;
            slotRows[l] = d.recvCount(l);
            total += slotRows[l];
        }
        long bytes = 2L * hidden * total;
        if (received.capacity() < bytes) {
            received.close();
            computed.close();
            received = allocator.buffer(bytes);
            computed = allocator.buffer(bytes);
        }
        for (int l = 0; l < slotRow.length; l++) {
            Memcpy.deviceToHost(receivedAddress(l), d.rowsAddress(l), 2L * hidden * slotRows[l], stream);
        }
        stream.synchronize();
    }

    /** Rows slot {@code l} received in the last {@link #fetchRows}. */
    int rows(int l) {
        return slotRows[l];
    }

    /** Host address of slot {@code l}'s received rows, bf16 {@code [rows(l)][H]}. */
    long receivedAddress(int l) {
        return received.memoryAddress() + 2L * hidden * slotRow[l];
    }

    /** Host address where slot {@code l}'s expert outputs go, bf16 {@code [rows(l)][H]}. */
    long computedAddress(int l) {
        return computed.memoryAddress() + 2L * hidden * slotRow[l];
    }

    /**
     * Queues the copy of the experts' outputs into the device combine-send rows on the rank's stream, so the combine's
     * kernels (same stream) read them after it. From pageable memory {@code cudaMemcpyAsync} returns once the bytes are
     * staged, so the host outputs may be rewritten afterwards.
     */
    void uploadOutputs(CudaDispatched d, CudaStream stream) {
        for (int l = 0; l < slotRow.length; l++) {
            Memcpy.hostToDevice(d.expertOutputAddress(l), computedAddress(l), 2L * hidden * slotRows[l], stream);
        }
    }

    /**
     * Copies the first {@code n} rows of the combine output to {@link #outputAddress()} and returns their
     * {@code lost_weight}; returns once both are on the host.
     */
    float[] fetchOutput(CudaCombined c, int n, CudaStream stream) {
        Memcpy.deviceToHost(output.memoryAddress(), c.hiddenAddress(), 2L * hidden * n, stream);
        float[] lost = new float[n];
        c.copyLostWeightTo(lost);
        stream.synchronize();
        return lost;
    }

    /** Host address of the last {@link #fetchOutput}'s rows, bf16 {@code [n][H]}. */
    long outputAddress() {
        return output.memoryAddress();
    }

    @Override
    public void close() {
        try (output) {
            received.close();
            computed.close();
        }
    }
}
