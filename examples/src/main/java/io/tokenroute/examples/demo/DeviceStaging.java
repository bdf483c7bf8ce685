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
package io.tokenroute.examples.demo;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.util.AutoCloseables;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The host side of one rank whose routing results live in CUDA device memory ({@code cuda-local}, {@code nvshmem}), so
 * that the demo's host experts and reference check never read device memory: every byte crosses with a CUDA copy.
 * Per round, {@link #upload} puts the rank's host token batch into device memory of its own, {@link #fetchRows} copies
 * the rows each local expert received to the host, {@link #uploadOutputs} copies the host experts' outputs into the
 * buffer's device expert-output rows (the zero-copy combine), and {@link #fetchOutput} copies the combine output back.
 *
 * <p>The copies run on a stream of this object that first waits on the result's {@link Dispatched#readyEvent() ready
 * event}, and each step ends with a synchronisation of that stream, so a copy is ordered after the kernels that wrote
 * its source and complete before the next routing call reads its destination. All device memory is allocated up
 * front, for {@code T} tokens: a {@code cudaFree} in the middle of a run would synchronise the whole device, including
 * the peers' kernels that wait for this rank.
 *
 * <p>Owns its device buffers, stream and host copies (from the given allocator); built on any thread, then used by
 * the rank's own thread only (each call makes the device current on it).
 */
final class DeviceStaging implements AutoCloseable {
    private final BufferAllocator allocator;
    private final int hidden;
    private final CudaDevice device;
    private final CudaStream stream;
    /** The device copy of the round's token batch: {@code hidden} bf16 [T][H], {@code topk_idx} [T][k], weights. */
    private final DeviceBuffer batchHidden;

    private final DeviceBuffer batchIdx;
    private final DeviceBuffer batchWeights;
    /** Host copy of the combine output, bf16 {@code [T][H]}, and its {@code lost_weight}. */
    private final ArrowBuf output;

    private final float[] lostWeight;
    /** Host copies of the rows received per local expert and of the experts' outputs, grown on demand. */
    private ArrowBuf received;

    private ArrowBuf computed;
    /** Row offset of each local expert's rows in {@link #received} / {@link #computed}, and their count. */
    private final int[] expertRow;

    private final int[] expertRows;

    /**
     * @param location the device the rank's results live on
     * @param allocator pays for the host copies; close this first
     * @param localExperts L
     * @param tokens T, the most tokens one round dispatches
     * @param hidden H
     * @param topK k
     */
    DeviceStaging(
            MemoryLocation location, BufferAllocator allocator, int localExperts, int tokens, int hidden, int topK) {
        this.allocator = allocator;
        this.hidden = hidden;
        this.expertRow = new int[localExperts];
        this.expertRows = new int[localExperts];
        this.lostWeight = new float[tokens];
        List<AutoCloseable> made = new ArrayList<>();
        try {
            device = add(made, CudaDevice.open(location.deviceId()));
            stream = add(made, CudaStream.create());
            batchHidden = add(made, DeviceBuffer.allocate(2L * tokens * hidden));
            batchIdx = add(made, DeviceBuffer.allocate(8L * tokens * topK));
            batchWeights = add(made, DeviceBuffer.allocate(4L * tokens * topK));
            output = add(made, allocator.buffer(2L * tokens * hidden));
            received = add(made, allocator.buffer(0));
            computed = add(made, allocator.buffer(0));
        } catch (RuntimeException | Error e) {
            Collections.reverse(made);
            closeAll(made, e);
            throw e;
        }
    }

    /**
     * A device copy of {@code host} (at most T tokens), complete when this returns; the caller closes the returned
     * batch after the round (it is a view of this object's device buffers, valid until the next upload).
     */
    TokenBatch upload(TokenBatch host) {
        int n = host.numTokens();
        int k = host.topK();
        if (n * host.hiddenRowBytes() > batchHidden.size() || 8L * n * k > batchIdx.size()) {
            throw new IllegalArgumentException("a batch of " + n + " tokens, " + host.hiddenRowBytes()
                    + " bytes per row and k = " + k + " does not fit the staging for " + lostWeight.length
                    + " bf16 tokens");
        }
        device.makeCurrent();
        Memcpy.hostToDevice(batchHidden.address(), host.hiddenAddress(), n * host.hiddenRowBytes(), stream);
        Memcpy.hostToDevice(batchIdx.address(), host.topkIdxAddress(), 8L * n * k, stream);
        Memcpy.hostToDevice(batchWeights.address(), host.topkWeightsAddress(), 4L * n * k, stream);
        stream.synchronize();
        try (ArrowBuf h = batchHidden.toArrowBuf(allocator);
                ArrowBuf idx = batchIdx.toArrowBuf(allocator);
                ArrowBuf w = batchWeights.toArrowBuf(allocator)) {
            return TokenBatch.fromBuffers(
                    allocator, batchHidden.location(), host.dtype(), n, host.hiddenSize(), k, h, idx, w);
        }
    }

    /** Copies the rows each local expert received to the host; returns once they are there. */
    void fetchRows(Dispatched d) {
        device.makeCurrent();
        int total = 0;
        for (int l = 0; l < expertRow.length; l++) {
            expertRow[l] = total;
            expertRows[l] = d.recvCount(l);
            total += expertRows[l];
        }
        long bytes = 2L * hidden * total;
        if (received.capacity() < bytes) {
            received.close();
            computed.close();
            received = allocator.buffer(bytes);
            computed = allocator.buffer(bytes);
        }
        waitFor(d.readyEvent());
        for (int l = 0; l < expertRow.length; l++) {
            if (expertRows[l] > 0) {
                Memcpy.deviceToHost(receivedAddress(l), rowsAddress(d, l), 2L * hidden * expertRows[l], stream);
            }
        }
        stream.synchronize();
    }

    /** Rows local expert {@code l} received in the last {@link #fetchRows}. */
    int rows(int l) {
        return expertRows[l];
    }

    /** Host address of local expert {@code l}'s received rows, bf16 {@code [rows(l)][H]}. */
    long receivedAddress(int l) {
        return received.memoryAddress() + 2L * hidden * expertRow[l];
    }

    /** Host address where local expert {@code l}'s outputs go, bf16 {@code [rows(l)][H]}. */
    long computedAddress(int l) {
        return computed.memoryAddress() + 2L * hidden * expertRow[l];
    }

    /** Copies the experts' outputs into the device expert-output rows of {@code d}; returns once they are there. */
    void uploadOutputs(Dispatched d) {
        device.makeCurrent();
        for (int l = 0; l < expertRow.length; l++) {
            if (expertRows[l] > 0) {
                Memcpy.hostToDevice(d.expertOutputAddress(l), computedAddress(l), 2L * hidden * expertRows[l], stream);
            }
        }
        stream.synchronize();
    }

    /** Copies the combine output's rows and {@code lost_weight} to the host; returns once both are there. */
    void fetchOutput(Combined c) {
        device.makeCurrent();
        int n = c.numTokens();
        waitFor(c.readyEvent());
        if (n > 0) {
            Memcpy.deviceToHost(output.memoryAddress(), c.hiddenAddress(), 2L * hidden * n, stream);
        }
        stream.synchronize();
        c.copyLostWeightTo(lostWeight);
    }

    /** Host address of the last {@link #fetchOutput}'s rows, bf16 {@code [n][H]}. */
    long outputAddress() {
        return output.memoryAddress();
    }

    /** {@code lost_weight[t]} of the last {@link #fetchOutput}. */
    float lostWeight(int t) {
        return lostWeight[t];
    }

    /** Waits for the copies in flight, then frees the device buffers, the stream and the host copies. */
    @Override
    public void close() {
        device.makeCurrent();
        List<AutoCloseable> all = new ArrayList<>(List.of(
                stream::synchronize, batchHidden, batchIdx, batchWeights, stream, device, output, received, computed));
        closeAll(all, null);
    }

    /** The device address of local expert {@code l}'s received rows (an address only: nothing is read). */
    private static long rowsAddress(Dispatched d, int l) {
        FixedSizeListVector rows = (FixedSizeListVector) d.expert(l).getVector(TokenBatchSchema.HIDDEN);
        return rows.getDataVector().getDataBuffer().memoryAddress();
    }

    private void waitFor(CudaEvent ready) {
        if (ready != null) {
            stream.waitFor(ready);
        }
    }

    private static <T extends AutoCloseable> T add(List<AutoCloseable> made, T resource) {
        made.add(resource);
        return resource;
    }

    /** Closes {@code all} in order; with {@code pending}, adds any failure to it instead of throwing. */
    private static void closeAll(List<AutoCloseable> all, Throwable pending) {
        try {
            AutoCloseables.close(all);
        } catch (Exception e) {
            if (pending != null) {
                pending.addSuppressed(e);
                return;
            }
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("freeing the demo's device staging failed", e);
        }
    }
}
