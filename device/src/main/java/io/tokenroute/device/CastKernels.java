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
 * Elementwise dtype casts over dense device arrays ({@code cast.cuh}), bit-exact with the Java conversions in
 * {@code io.tokenroute.arrow.numeric}:
 * <ul>
 *   <li>bfloat16 to float32: exact;</li>
 *   <li>float32 to bfloat16: round to nearest even; NaN becomes {@code (bits >>> 16) | 0x0040} (sign and top payload
 *       bits kept, quiet bit set), like {@code BFloat16.fromFloat}, not CUDA's canonical {@code 0x7FFF};</li>
 *   <li>float16 to bfloat16: exact widening to float32 (NaN payload kept), then as above.</li>
 * </ul>
 * All arrays are device memory holding raw bits (bfloat16 and float16 as 2-byte values). With both pointers 16-byte
 * aligned the kernels move 8 elements per 16-byte access; any alignment of the element size works. Source and
 * destination must not overlap.
 */
public final class CastKernels {

    /** Elements per vectorised step of the kernels ({@code TR_CAST_VEC}, checked by {@link KernelAbi}); sizes grids. */
    static final int VECTOR = 8;

    private final KernelModule module;
    private final KernelFunction bf16ToFp32;
    private final KernelFunction fp32ToBf16;
    private final KernelFunction fp16ToBf16;

    /** Binds to the cast kernels of {@code module}; the module must outlive this object. */
    public CastKernels(KernelModule module) {
        this.module = module;
        this.bf16ToFp32 = module.function("tr_cast_bf16_to_fp32");
        this.fp32ToBf16 = module.function("tr_cast_fp32_to_bf16");
        this.fp16ToBf16 = module.function("tr_cast_fp16_to_bf16");
    }

    /**
     * Queues {@code dst[i] = (float) src[i]} for {@code count} elements.
     *
     * @param dstFp32 device address of float32[count], 4-byte aligned
     * @param srcBf16 device address of bfloat16[count], 2-byte aligned
     * @param count number of elements, {@code >= 0}
     * @param stream the stream to queue on
     */
    public void bf16ToFp32(long dstFp32, long srcBf16, long count, CudaStream stream) {
        launch(bf16ToFp32, dstFp32, 4, srcBf16, 2, count, stream);
    }

    /**
     * Queues {@code dst[i] = bf16(src[i])} for {@code count} elements.
     *
     * @param dstBf16 device address of bfloat16[count], 2-byte aligned
     * @param srcFp32 device address of float32[count], 4-byte aligned
     * @param count number of elements, {@code >= 0}
     * @param stream the stream to queue on
     */
    public void fp32ToBf16(long dstBf16, long srcFp32, long count, CudaStream stream) {
        launch(fp32ToBf16, dstBf16, 2, srcFp32, 4, count, stream);
    }

    /**
     * Queues {@code dst[i] = bf16(float(src[i]))} for {@code count} elements.
     *
     * @param dstBf16 device address of bfloat16[count], 2-byte aligned
     * @param srcFp16 device address of float16[count], 2-byte aligned
     * @param count number of elements, {@code >= 0}
     * @param stream the stream to queue on
     */
    public void fp16ToBf16(long dstBf16, long srcFp16, long count, CudaStream stream) {
        launch(fp16ToBf16, dstBf16, 2, srcFp16, 2, count, stream);
    }

    private void launch(
            KernelFunction kernel, long dst, int dstBytes, long src, int srcBytes, long count, CudaStream stream) {
        if (count < 0) {
            throw new IllegalArgumentException("negative count " + count);
        }
        if (dst % dstBytes != 0 || src % srcBytes != 0) {
            throw new IllegalArgumentException(kernel.name() + ": misaligned arrays (dst 0x" + Long.toHexString(dst)
                    + " needs " + dstBytes + "-byte, src 0x" + Long.toHexString(src) + " needs " + srcBytes
                    + "-byte alignment)");
        }
        if (count == 0) {
            return;
        }
        int block = kernel.maxThreadsPerBlock();
        module.launch(
                kernel,
                kernel.gridFor(KernelFunction.ceilDiv(KernelFunction.ceilDiv(count, VECTOR), block)),
                block,
                0,
                stream,
                dst,
                src,
                count);
    }
}
