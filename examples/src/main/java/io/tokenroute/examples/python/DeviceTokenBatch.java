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
package io.tokenroute.examples.python;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.DeviceExport;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.Memcpy;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * A token batch in CUDA device memory, uploaded from a host batch, for C Device Data consumers (torch, cupy): the
 * Python bridge's {@code gpu_check.py} and the cuda notebook use it to exercise the device export without a CUDA
 * transport.
 *
 * <p>The three data buffers are {@link DeviceBuffer}s handed to Arrow ({@code cudaFree} on the last release), filled
 * by asynchronous copies on a stream of this object, after which {@link #readyEvent()} is recorded: the export's
 * {@code sync_event}, which a consumer must wait on before reading. Nothing here synchronises the host with the copies.
 *
 * <p>Ownership: the caller closes this object after every consumer waited on the event and released its export (the
 * device memory itself lives until the last exported array is released). Not thread-safe.
 */
public final class DeviceTokenBatch implements AutoCloseable {
    private final TokenBatch batch;
    private final CudaStream stream;
    private final CudaEvent ready;
    private boolean closed;

    private DeviceTokenBatch(TokenBatch batch, CudaStream stream, CudaEvent ready) {
        this.batch = batch;
        this.stream = stream;
        this.ready = ready;
    }

    /**
     * Copies a host batch to {@code device} (asynchronously) and records the ready event after the copies.
     *
     * @param allocator accounts the device buffers and the batch's vectors; must outlive this object and its exports
     * @param device the GPU; its context is made current on the calling thread
     * @param host an open host batch; it may be closed as soon as this returns (copies from pageable memory are
     *     staged before the call returns)
     */
    public static DeviceTokenBatch upload(BufferAllocator allocator, CudaDevice device, TokenBatch host) {
        device.makeCurrent();
        long[] bytes = {
            (long) host.numTokens() * host.hiddenRowBytes(),
            8L * host.numTokens() * host.topK(),
            4L * host.numTokens() * host.topK()
        };
        long[] sources = {host.hiddenAddress(), host.topkIdxAddress(), host.topkWeightsAddress()};
        CudaStream stream = CudaStream.create();
        CudaEvent ready = null;
        List<ArrowBuf> buffers = new ArrayList<>();
        try {
            ready = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            for (int i = 0; i < 3; i++) {
                DeviceBuffer memory = DeviceBuffer.allocate(bytes[i]);
                ArrowBuf owner;
                try {
                    Memcpy.hostToDevice(memory.address(), sources[i], bytes[i], stream);
                    owner = memory.asArrowBufTransferringOwnership(allocator);
                } catch (RuntimeException e) {
                    memory.close();
                    throw e;
                }
                buffers.add(owner);
            }
            ready.record(stream);
            TokenBatch batch = TokenBatch.fromBuffers(
                    allocator,
                    device.location(),
                    host.dtype(),
                    host.numTokens(),
                    host.hiddenSize(),
                    host.topK(),
                    buffers.get(0),
                    buffers.get(1),
                    buffers.get(2));
            return new DeviceTokenBatch(batch, stream, ready);
        } catch (RuntimeException e) {
            // The copies may still be queued: let them finish before the memory goes.
            stream.synchronize();
            if (ready != null) {
                ready.close();
            }
            stream.close();
            throw e;
        } finally {
            buffers.forEach(ArrowBuf::close);
        }
    }

    /** The device batch (addresses, shape and dtype only: the CPU must not read its values). */
    public TokenBatch batch() {
        ensureOpen();
        return batch;
    }

    /** Recorded after the upload: the data is ready once this event completes. */
    public CudaEvent readyEvent() {
        ensureOpen();
        return ready;
    }

    /**
     * Exports the batch through the Arrow C Device Data Interface ({@code device_type} CUDA, this device's id,
     * {@code sync_event} = {@link #readyEvent()}), zero-copy.
     *
     * @param allocator allocates the host-side C structs
     * @return the export; the caller closes it (see {@link ExportedDeviceBatch})
     */
    public ExportedDeviceBatch export(BufferAllocator allocator) {
        ensureOpen();
        return DeviceExport.export(allocator, batch, ready.syncEventSlotAddress());
    }

    /** Closes the batch (its memory lives on in unreleased exports), the event and the stream. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            stream.synchronize();
            batch.close();
        } finally {
            ready.close();
            stream.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("DeviceTokenBatch is closed");
        }
    }
}
