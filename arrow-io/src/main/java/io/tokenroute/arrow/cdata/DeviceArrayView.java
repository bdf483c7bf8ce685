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

import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Reads the fields of a C Device Data Interface {@code struct ArrowDeviceArray} at a native address. Arrow Java has
 * no such type; the layout is that of Arrow's {@code CDeviceDataInterface.rst} and {@code abi.h}
 * ({@code ARROW_C_DEVICE_DATA_INTERFACE}), x86-64 / LP64, 128 bytes:
 *
 * <pre>
 *  offset  size  field
 *       0    80  struct ArrowArray array     (see {@link ArrowArrayView}; its buffers live on the device below)
 *      80     8  int64_t  device_id          (CUDA ordinal; -1 for plain CPU memory)
 *      88     4  int32_t  device_type        (ArrowDeviceType: CPU 1, CUDA 2, CUDA_HOST 3, CUDA_MANAGED 13)
 *      92     4  padding                     (so that the next pointer is 8-byte aligned)
 *      96     8  void*    sync_event         (CUDA: a pointer TO a cudaEvent_t, or NULL when nothing to wait for)
 *     104    24  int64_t  reserved[3]        (must be zero)
 * </pre>
 *
 * <p>Releasing an {@code ArrowDeviceArray} means calling {@code array.release(&array)}, the embedded
 * {@code ArrowArray}'s callback; a consumer that imports it must wait on {@code *sync_event} (when non-NULL) before
 * touching the buffers on its stream.
 *
 * <p>The companion stream type {@code struct ArrowDeviceArrayStream} is {@value #STREAM_SIZE} bytes:
 * {@code int32_t device_type} at 0 (then 4 bytes padding), {@code get_schema} at 8, {@code get_next} at 16,
 * {@code get_last_error} at 24, {@code release} at 32, {@code private_data} at 40. TokenRoute does not produce
 * device streams; the size is documented for bridges that allocate one.
 *
 * <p>A view reads only the struct, never the buffers it points to (they may be device memory). The struct must stay
 * allocated while the view is used.
 */
public final class DeviceArrayView {
    /** {@code sizeof(struct ArrowDeviceArray)}. */
    public static final int SIZE = 128;
    /** Offset of the embedded {@code struct ArrowArray}. */
    public static final int ARRAY_OFFSET = 0;
    /** Offset of {@code device_id}. */
    public static final int DEVICE_ID_OFFSET = 80;
    /** Offset of {@code device_type}. */
    public static final int DEVICE_TYPE_OFFSET = 88;
    /** Offset of {@code sync_event}. */
    public static final int SYNC_EVENT_OFFSET = 96;
    /** Offset of {@code reserved[0]}. */
    public static final int RESERVED_OFFSET = 104;
    /** Number of {@code int64_t reserved} slots. */
    public static final int RESERVED_COUNT = 3;
    /** {@code sizeof(struct ArrowDeviceArrayStream)}. */
    public static final int STREAM_SIZE = 48;

    private final long address;

    private DeviceArrayView(long address) {
        this.address = address;
    }

    /** A view of the struct at {@code address}. */
    public static DeviceArrayView at(long address) {
        if (address == 0) {
            throw new IllegalArgumentException("null ArrowDeviceArray address");
        }
        return new DeviceArrayView(address);
    }

    /** The struct's address (also the address of its embedded {@code ArrowArray}). */
    public long address() {
        return address;
    }

    /** The embedded {@code ArrowArray}. */
    public ArrowArrayView array() {
        return ArrowArrayView.at(address + ARRAY_OFFSET);
    }

    /** {@code device_id}. */
    public long deviceId() {
        return MemoryUtil.getLong(address + DEVICE_ID_OFFSET);
    }

    /** {@code device_type}, the raw {@code ArrowDeviceType} code. */
    public int deviceTypeCode() {
        return MemoryUtil.getInt(address + DEVICE_TYPE_OFFSET);
    }

    /** {@code device_type} as a {@link DeviceType}; throws for codes TokenRoute does not handle. */
    public DeviceType deviceType() {
        return DeviceType.fromCode(deviceTypeCode());
    }

    /** {@code device_type} and {@code device_id} as a {@link MemoryLocation}. */
    public MemoryLocation location() {
        return new MemoryLocation(deviceType(), Math.toIntExact(deviceId()));
    }

    /** {@code sync_event}: the address of a {@code cudaEvent_t} for CUDA, or 0. */
    public long syncEvent() {
        return MemoryUtil.getLong(address + SYNC_EVENT_OFFSET);
    }

    /** {@code reserved[i]}, which a valid struct holds as 0. */
    public long reserved(int i) {
        if (i < 0 || i >= RESERVED_COUNT) {
            throw new IndexOutOfBoundsException("reserved slot " + i + " outside [0, " + RESERVED_COUNT + ")");
        }
        return MemoryUtil.getLong(address + RESERVED_OFFSET + 8L * i);
    }

    /** Whether the embedded array's {@code release} is NULL (released, or moved to a consumer). */
    public boolean isReleased() {
        return array().isReleased();
    }
}
