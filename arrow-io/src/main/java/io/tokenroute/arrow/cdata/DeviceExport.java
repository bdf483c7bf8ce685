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
package io.tokenroute.arrow.cdata;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.Objects;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Zero-copy export through the Arrow C Device Data Interface ({@code struct ArrowDeviceArray}, Arrow's
 * {@code CDeviceDataInterface.rst} / {@code abi.h}), which Arrow Java lacks. Layout: {@link DeviceArrayView}.
 *
 * <p>How: Arrow's C Data exporter fills a staging {@code ArrowArray}; the struct is then <em>moved</em> into the
 * device struct's first 80 bytes (the C Data Interface allows moving by shallow copy, after which the source is
 * marked released by setting its {@code release} to NULL), and {@code device_id}, {@code device_type},
 * {@code sync_event} and zeroed {@code reserved} words are written after it. The release callback is Arrow's; it works
 * on the moved struct because it only uses the struct it is given and that struct's {@code private_data}.
 *
 * <p>No buffer content is read by the CPU: for device locations the data pointers are the device addresses, validity
 * pointers are NULL (TokenRoute's validity bitmaps live on the host, and all buffers of an {@code ArrowDeviceArray}
 * must be on its device; a NULL bitmap is valid when null_count is 0), and null counts come from the host bitmaps or
 * the caller's guarantee.
 */
public final class DeviceExport {
    private DeviceExport() {}

    /**
     * Exports a token batch in whatever memory it lives ({@link TokenBatch#location()}), with null counts 0 (token
     * batches hold no nulls).
     *
     * @param allocator allocates the host-side C structs and the exporter's bookkeeping
     * @param batch an open batch; it may be closed right after this call
     * @param syncEvent for CUDA: the address of a {@code cudaEvent_t} recorded after the batch was written, or 0 when
     *     the data is ready; must be 0 for CPU memory. The event stays the caller's.
     */
    public static ExportedDeviceBatch export(BufferAllocator allocator, TokenBatch batch, long syncEvent) {
        return export(allocator, batch.deviceRoot(), batch.location(), NullCounts.KNOWN_ZERO, syncEvent);
    }

    /**
     * Exports any record batch whose data buffers live in {@code location}, counting nulls from its host validity
     * bitmaps ({@link NullCounts#SCAN}).
     *
     * @see #export(BufferAllocator, VectorSchemaRoot, MemoryLocation, NullCounts, long)
     */
    public static ExportedDeviceBatch export(
            BufferAllocator allocator, VectorSchemaRoot root, MemoryLocation location, long syncEvent) {
        return export(allocator, root, location, NullCounts.SCAN, syncEvent);
    }

    /**
     * Exports a record batch whose data buffers live in {@code location}.
     *
     * @param allocator allocates the host-side C structs and the exporter's bookkeeping
     * @param root columns of fixed-width types, fixed-size lists or structs of them, with validity bitmaps in host
     *     memory (as {@link io.tokenroute.arrow.batch.ColumnViews} builds them) and no nulls unless {@code location}
     *     is plain CPU memory; it may be closed right after this call
     * @param location where the data buffers live: written as {@code device_type} and {@code device_id}
     * @param nullCounts how null counts are obtained
     * @param syncEvent the address of a {@code cudaEvent_t}, or 0; must be 0 for CPU memory
     * @throws IllegalArgumentException for nulls in a device batch, unsupported column types, or a sync event for CPU
     *     memory
     */
    public static ExportedDeviceBatch export(
            BufferAllocator allocator,
            VectorSchemaRoot root,
            MemoryLocation location,
            NullCounts nullCounts,
            long syncEvent) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(location, "location");
        boolean cpu = location.type() == DeviceType.CPU;
        if (cpu && syncEvent != 0) {
            throw new IllegalArgumentException("CPU memory has no sync event, got 0x" + Long.toHexString(syncEvent));
        }
        ArrowBuf deviceArray = allocator.buffer(DeviceArrayView.SIZE);
        ArrowSchema schema = ArrowSchema.allocateNew(allocator);
        try (ArrowArray staging = ArrowArray.allocateNew(allocator)) {
            RootExporter.export(allocator, root, nullCounts, cpu, staging, schema);
            long address = deviceArray.memoryAddress();
            deviceArray.setZero(0, DeviceArrayView.SIZE);
            MemoryUtil.copyMemory(staging.memoryAddress(), address + DeviceArrayView.ARRAY_OFFSET, ArrowArrayView.SIZE);
            staging.markReleased();
            MemoryUtil.putLong(address + DeviceArrayView.DEVICE_ID_OFFSET, location.deviceId());
            MemoryUtil.putInt(
                    address + DeviceArrayView.DEVICE_TYPE_OFFSET,
                    location.type().code());
            MemoryUtil.putLong(address + DeviceArrayView.SYNC_EVENT_OFFSET, syncEvent);
        } catch (RuntimeException e) {
            deviceArray.close();
            schema.close();
            throw e;
        }
        return new ExportedDeviceBatch(deviceArray, schema, location);
    }
}
