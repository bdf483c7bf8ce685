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
 * Where a buffer's bytes live, with the codes of the Arrow C Device Data Interface ({@code ArrowDeviceType}).
 */
public enum DeviceType {
    /** Ordinary host memory (off-heap). */
    CPU(1, true),
    /** CUDA device memory: never dereferenced by the CPU. */
    CUDA(2, false),
    /** Pinned host memory registered with CUDA: readable by the CPU. */
    CUDA_HOST(3, true),
    /** CUDA managed (unified) memory: readable by the CPU after synchronisation. */
    CUDA_MANAGED(13, true);

    private final int code;
    private final boolean cpuAccessible;

    DeviceType(int code, boolean cpuAccessible) {
        this.code = code;
        this.cpuAccessible = cpuAccessible;
    }

    /** The {@code ArrowDeviceType} value written into an {@code ArrowDeviceArray}. */
    public int code() {
        return code;
    }

    /** Whether the CPU may load and store these bytes without crashing the JVM. */
    public boolean cpuAccessible() {
        return cpuAccessible;
    }

    /** The type for an {@code ArrowDeviceType} code; throws for codes TokenRoute does not handle. */
    public static DeviceType fromCode(int code) {
        for (DeviceType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        throw new IllegalArgumentException("unsupported ArrowDeviceType code " + code);
    }
}
