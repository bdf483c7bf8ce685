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

import io.tokenroute.arrow.memory.MemoryLocation;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.ArrowBuf;

/**
 * A record batch exported through the Arrow C Device Data Interface: a 128-byte {@code struct ArrowDeviceArray}
 * (layout on {@link DeviceArrayView}) and an {@code ArrowSchema}, in host memory owned by this object. The array's
 * data buffers are the batch's own device buffers; validity pointers are NULL for non-CPU devices (null_count 0).
 *
 * <p><b>Who closes what.</b>
 * <ul>
 *   <li>A consumer that imports the device array takes ownership by moving the struct (shallow copy, then setting
 *       {@code release} to NULL here) and later calls its {@code release}; a consumer that only reads it in place calls
 *       {@code release} on this struct when done. Either way the release callback runs once and calls back into this
 *       JVM, which must still be running.</li>
 *   <li>The producer closes this object when the consumer is done with the structs: {@link #close()} releases the
 *       array and schema only if nobody did, then frees both structs. {@link #releaseArray()} releases the array
 *       early without freeing the struct.</li>
 *   <li>The source batch may be closed at any time after export: the exported array holds its own references to the
 *       buffers, so device memory is freed (e.g. {@code cudaFree} in a {@code ForeignAllocation}) only after both the
 *       source is closed and the array is released.</li>
 *   <li>The sync event stays the caller's: release does not destroy it; keep it alive until the consumer has waited
 *       on it.</li>
 * </ul>
 * Not thread-safe.
 */
public final class ExportedDeviceBatch implements AutoCloseable {
    private final ArrowBuf deviceArray;
    private final ArrowSchema schema;
    private final MemoryLocation location;
    private boolean closed;

    ExportedDeviceBatch(ArrowBuf deviceArray, ArrowSchema schema, MemoryLocation location) {
        this.deviceArray = deviceArray;
        this.schema = schema;
        this.location = location;
    }

    /** Address of the {@code struct ArrowDeviceArray} (128 bytes). */
    public long deviceArrayAddress() {
        ensureOpen();
        return deviceArray.memoryAddress();
    }

    /** Address of the {@code struct ArrowSchema}: a struct type with one child field per column. */
    public long schemaAddress() {
        ensureOpen();
        return schema.memoryAddress();
    }

    /** Where the exported data buffers live ({@code device_type}, {@code device_id}). */
    public MemoryLocation location() {
        return location;
    }

    /** A reader of the device array's fields. */
    public DeviceArrayView view() {
        return DeviceArrayView.at(deviceArrayAddress());
    }

    /**
     * Calls the array's release callback now, unless a consumer moved or released it; idempotent. Afterwards
     * {@code release} is NULL and the exported buffer references are dropped; the struct itself stays allocated until
     * {@link #close()}.
     */
    public void releaseArray() {
        CRelease.releaseArray(deviceArrayAddress());
    }

    /** Releases whatever no consumer took, then frees the structs. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            CRelease.releaseArray(deviceArray.memoryAddress());
            CRelease.releaseSchema(schema.memoryAddress());
        } finally {
            deviceArray.close();
            schema.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("ExportedDeviceBatch is closed");
        }
    }
}
