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
package io.tokenroute.arrow.memory;

/**
 * The memory a batch's data buffers live in: a {@link DeviceType} and a device id ({@code -1} for plain host memory).
 *
 * @param type where the bytes are
 * @param deviceId the CUDA device ordinal for device types other than {@link DeviceType#CPU}; {@code -1} for CPU
 */
public record MemoryLocation(DeviceType type, int deviceId) {

    /** Off-heap host memory, the default for batches built from Java arrays. */
    public static final MemoryLocation HOST = new MemoryLocation(DeviceType.CPU, -1);

    public MemoryLocation {
        if (type == null) {
            throw new IllegalArgumentException("memory location type must not be null");
        }
        if (type == DeviceType.CPU && deviceId != -1) {
            throw new IllegalArgumentException("host memory has device id -1, got " + deviceId);
        }
        if (type != DeviceType.CPU && deviceId < 0) {
            throw new IllegalArgumentException(type + " memory needs a device id >= 0, got " + deviceId);
        }
    }

    /** CUDA device memory on the given device. */
    public static MemoryLocation cuda(int deviceId) {
        return new MemoryLocation(DeviceType.CUDA, deviceId);
    }

    /** Whether the CPU may read these bytes (host, pinned host or managed memory). */
    public boolean isCpuAccessible() {
        return type.cpuAccessible();
    }

    /**
     * Throws a clear exception instead of letting the CPU touch device memory (which would crash the JVM).
     *
     * @param what what the caller was about to do, for the message
     */
    public void requireCpuAccessible(String what) {
        if (!isCpuAccessible()) {
            throw new DeviceMemoryAccessException(what + ": the data lives in " + this
                    + " memory, which the CPU must not read; copy it to the host first");
        }
    }

    @Override
    public String toString() {
        return type == DeviceType.CPU ? "host" : type.name().toLowerCase() + ":" + deviceId;
    }
}
