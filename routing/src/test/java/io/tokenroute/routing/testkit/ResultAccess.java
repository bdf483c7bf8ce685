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
package io.tokenroute.routing.testkit;

import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaPrefillDispatched;
import java.util.Arrays;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Reads, writes and poisons a result's memory wherever it lives, so the shared checks run on every transport: host
 * results in place, CUDA results through copies on the stream the result's kernels ran on (ordered after them, and
 * before the next call the rank makes on that stream). The CPU never touches device memory.
 */
public final class ResultAccess {
    /** The result's stream, or null for host memory. */
    private final CudaStream stream;

    private ResultAccess(CudaStream stream) {
        this.stream = stream;
    }

    /** Access to host memory. */
    public static ResultAccess host() {
        return new ResultAccess(null);
    }

    /** Access to a dispatch result's rows and combine-send rows. */
    public static ResultAccess of(Dispatched d) {
        if (d.location().isCpuAccessible()) {
            return new ResultAccess(null);
        }
        return new ResultAccess(((CudaDispatched) d).stream());
    }

    /** Access to a prefill dispatch result's receive batch and expert outputs. */
    public static ResultAccess of(PrefillDispatched d) {
        if (d.location().isCpuAccessible()) {
            return new ResultAccess(null);
        }
        return new ResultAccess(((CudaPrefillDispatched) d).stream());
    }

    /** Access to a combine result's output. */
    public static ResultAccess of(Combined c) {
        if (c.location().isCpuAccessible()) {
            return new ResultAccess(null);
        }
        return new ResultAccess(((CudaCombined) c).stream());
    }

    /** {@code count} int16 values at {@code address}. */
    public short[] shorts(long address, int count) {
        short[] out = new short[count];
        if (stream != null && count > 0) {
            Memcpy.toHost(out, address, stream);
        } else {
            for (int i = 0; i < count; i++) {
                out[i] = MemoryUtil.getShort(address + 2L * i);
            }
        }
        return out;
    }

    /** {@code count} int32 values at {@code address}. */
    public int[] ints(long address, int count) {
        int[] out = new int[count];
        if (stream != null && count > 0) {
            Memcpy.toHost(out, address, stream);
        } else {
            for (int i = 0; i < count; i++) {
                out[i] = MemoryUtil.getInt(address + 4L * i);
            }
        }
        return out;
    }

    /** {@code count} bytes at {@code address}. */
    public byte[] bytes(long address, int count) {
        byte[] out = new byte[count];
        if (stream != null && count > 0) {
            Memcpy.toHost(out, address, stream);
        } else {
            for (int i = 0; i < count; i++) {
                out[i] = MemoryUtil.getByte(address + i);
            }
        }
        return out;
    }

    /** Writes {@code values} (int16) at {@code address}. */
    public void write(long address, short[] values) {
        if (values.length == 0) {
            return;
        }
        if (stream != null) {
            Memcpy.toDevice(address, values, stream);
        } else {
            for (int i = 0; i < values.length; i++) {
                MemoryUtil.putShort(address + 2L * i, values[i]);
            }
        }
    }

    /** Sets {@code bytes} bytes at {@code address} to {@code value}. */
    public void fill(long address, long bytes, byte value) {
        if (bytes == 0) {
            return;
        }
        if (stream != null) {
            byte[] pattern = new byte[Math.toIntExact(bytes)];
            Arrays.fill(pattern, value);
            Memcpy.toDevice(address, pattern, stream);
        } else {
            MemoryUtil.setMemory(address, bytes, value);
        }
    }
}
