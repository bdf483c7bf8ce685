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
package io.tokenroute.device;

/**
 * Fills device memory with a repeating 1-, 2-, 4- or 8-byte pattern (kernel {@code tr_fill} in {@code fill.cuh}).
 * Tests poison every output with a recognisable pattern before a kernel runs, so a skipped element shows up as the
 * pattern rather than as a plausible zero.
 */
public final class FillKernel {

    private final KernelModule module;
    private final KernelFunction fill;

    /** Binds to {@code tr_fill} of {@code module}; the module must outlive this object. */
    public FillKernel(KernelModule module) {
        this.module = module;
        this.fill = module.function("tr_fill");
    }

    /**
     * Queues a fill of {@code count} elements of {@code elementBytes} bytes each, starting at device address
     * {@code dst}, with the low {@code elementBytes} bytes of {@code pattern} (little-endian, as the element would be
     * stored). 16-byte stores are used between the first and last 16-byte boundary.
     *
     * @param dst device address, a multiple of {@code elementBytes}
     * @param count number of elements, {@code >= 0}
     * @param elementBytes 1, 2, 4 or 8
     * @param pattern the element's bits, e.g. {@code 0x7FC1} for a bf16 NaN or {@code Float.floatToRawIntBits(x)}
     * @param stream the stream to queue on
     */
    public void fill(long dst, long count, int elementBytes, long pattern, CudaStream stream) {
        if (elementBytes != 1 && elementBytes != 2 && elementBytes != 4 && elementBytes != 8) {
            throw new IllegalArgumentException("element size must be 1, 2, 4 or 8 bytes, got " + elementBytes);
        }
        if (count < 0) {
            throw new IllegalArgumentException("negative count " + count);
        }
        if (dst % elementBytes != 0) {
            throw new IllegalArgumentException(
                    "address 0x" + Long.toHexString(dst) + " is not aligned to " + elementBytes + " bytes");
        }
        if (count == 0) {
            return;
        }
        int block = fill.maxThreadsPerBlock();
        long vectors = KernelFunction.ceilDiv(count * elementBytes, 16);
        module.launch(
                fill,
                fill.gridFor(KernelFunction.ceilDiv(vectors, block)),
                block,
                0,
                stream,
                dst,
                count,
                pattern,
                elementBytes);
    }
}
