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

import io.tokenroute.arrow.numeric.Fp8Quantizer;

/**
 * Per-token FP8 quantisation of bfloat16 rows on the GPU ({@code tr_fp8_quantize_bf16} in {@code fp8.cuh}), bit-exact
 * with {@code io.tokenroute.arrow.numeric.Fp8Quantizer}: for each group of 128 channels of a row,
 * {@code amax = max(max|x|, 1e-4)} (NaN ignored), {@code scaleInv = amax / 448} (rounded up to a power of two with
 * {@link Fp8ScaleMode#roundScale()}), and {@code q = e4m3fn(x * scale)} with round to nearest even and saturation;
 * a NaN product gives code {@code 0x7F}.
 *
 * <p>Memory, all on the device, dense and row-major:
 * <ul>
 *   <li>input {@code x}: bfloat16 {@code [rows][hidden]}, 16-byte aligned;</li>
 *   <li>output {@code q}: uint8 e4m3fn codes {@code [rows][hidden]}, 8-byte aligned;</li>
 *   <li>output {@code scales}: {@code [rows][hidden / 128]} float32 (4-byte aligned) or, for {@link
 * Fp8ScaleMode#UE8M0},
 *       uint8 biased exponents.</li>
 * </ul>
 */
public final class Fp8QuantizeKernel {

    /** Channels per scale: the quantiser's group, which the kernel build is checked against ({@link KernelAbi}). */
    public static final int GROUP = Fp8Quantizer.GROUP;

    private static final int WARP = 32;
    /** Each warp quantises two groups at a time, one per half-warp. */
    private static final int GROUPS_PER_WARP = 2;

    private final KernelModule module;
    private final KernelFunction quantize;

    /** Binds to {@code tr_fp8_quantize_bf16} of {@code module}; the module must outlive this object. */
    public Fp8QuantizeKernel(KernelModule module) {
        this.module = module;
        this.quantize = module.function("tr_fp8_quantize_bf16");
    }

    /**
     * Queues the quantisation of {@code rows} rows of {@code hidden} channels.
     *
     * @param dstQ device address of the codes, uint8 {@code [rows][hidden]}
     * @param dstScales device address of the scales, {@code [rows][hidden / 128]} of {@code mode.scaleBytes()} each
     * @param srcBf16 device address of the input, bfloat16 {@code [rows][hidden]}
     * @param rows number of rows, {@code >= 0}
     * @param hidden channels per row, a positive multiple of 128
     * @param mode how scales are rounded and stored
     * @param stream the stream to queue on
     * @throws IllegalArgumentException for bad shapes or misaligned addresses
     */
    public void quantize(
            long dstQ, long dstScales, long srcBf16, long rows, int hidden, Fp8ScaleMode mode, CudaStream stream) {
        if (hidden <= 0 || hidden % GROUP != 0) {
            throw new IllegalArgumentException(
                    "hidden size must be a positive multiple of " + GROUP + ", got " + hidden);
        }
        if (rows < 0) {
            throw new IllegalArgumentException("negative row count " + rows);
        }
        if (srcBf16 % 16 != 0 || dstQ % 8 != 0 || dstScales % mode.scaleBytes() != 0) {
            throw new IllegalArgumentException("misaligned arrays: x 0x" + Long.toHexString(srcBf16)
                    + " needs 16-byte, q 0x" + Long.toHexString(dstQ) + " 8-byte, scales 0x"
                    + Long.toHexString(dstScales) + " " + mode.scaleBytes() + "-byte alignment");
        }
        if (rows == 0) {
            return;
        }
        // Whole warps only: the kernel's shuffles assume full warps (its launch bound is a multiple of 32).
        int block = quantize.maxThreadsPerBlock() / WARP * WARP;
        long groups = rows * (hidden / GROUP);
        long groupsPerBlock = (long) block / WARP * GROUPS_PER_WARP;
        module.launch(
                quantize,
                quantize.gridFor(KernelFunction.ceilDiv(groups, groupsPerBlock)),
                block,
                0,
                stream,
                dstQ,
                dstScales,
                srcBf16,
                rows,
                hidden,
                mode.code());
    }
}
