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
package io.tokenroute.routing.protocol;

import io.tokenroute.arrow.numeric.BFloat16;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.arrow.numeric.Ue8m0;
import io.tokenroute.arrow.types.HiddenDtype;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.Float16;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * How a token's row goes on the wire and comes off it, for every mode: the input (bf16, fp16 or fp32) as bf16, or as
 * fp8 e4m3 codes followed by one float32 scale per 128 channels; and back into a receiver's rows and scales (float32,
 * or UE8M0 bytes). Owns one scratch row for the conversions; one per rank, not thread-safe.
 */
final class RowCodec implements AutoCloseable {
    /** Format bit: fp8 rows ({@code DispatchOptions.formatCode()}). */
    static final int FP8 = 1;
    /** Format bit: scales rounded up to powers of two. */
    static final int ROUND_SCALE = 2;
    /** Format bit: scales delivered as UE8M0 bytes. */
    static final int UE8M0 = 4;

    private final int hidden;
    private final ArrowBuf scratch;

    RowCodec(int hidden, BufferAllocator allocator) {
        this.hidden = hidden;
        this.scratch = allocator.buffer(2L * hidden);
    }

    /** float32 scales per row of an fp8 step (0 for bf16). */
    int scalesPerRow(int format) {
        return (format & FP8) != 0 ? hidden / Fp8Quantizer.GROUP : 0;
    }

    /** Writes token {@code t} of the input at {@code hiddenAddress} to {@code dst} in the step's wire format. */
    void stage(long hiddenAddress, HiddenDtype dtype, int t, int format, long dst) {
        long src = bf16Row(hiddenAddress, dtype, t);
        if ((format & FP8) == 0) {
            MemoryUtil.copyMemory(src, dst, 2L * hidden);
        } else {
            Fp8Quantizer.quantizeRowBf16(src, hidden, (format & ROUND_SCALE) != 0, dst, dst + hidden);
        }
    }

    /**
     * Copies one staged row at {@code src} into a receiver's row {@code row}: bf16 rows of {@code 2H} bytes, or fp8
     * rows of {@code H} bytes plus the scales (float32, or UE8M0 bytes).
     */
    void unstage(long src, int format, long rows, long scales, long row) {
        if ((format & FP8) == 0) {
            MemoryUtil.copyMemory(src, rows + 2L * hidden * row, 2L * hidden);
            return;
        }
        int groups = scalesPerRow(format);
        MemoryUtil.copyMemory(src, rows + (long) hidden * row, hidden);
        if ((format & UE8M0) != 0) {
            long dst = scales + row * groups;
            for (int g = 0; g < groups; g++) {
                MemoryUtil.putByte(dst + g, Ue8m0.pack(Float.intBitsToFloat(MemoryUtil.getInt(src + hidden + 4L * g))));
            }
        } else {
            MemoryUtil.copyMemory(src + hidden, scales + row * 4L * groups, 4L * groups);
        }
    }

    /** Address of token t's row as bf16: the input itself, or the scratch row after conversion. */
    long bf16Row(long hiddenAddress, HiddenDtype dtype, int t) {
        switch (dtype) {
            case BF16:
                return hiddenAddress + 2L * hidden * t;
            case FP16: {
                long src = hiddenAddress + 2L * hidden * t;
                long dst = scratch.memoryAddress();
                for (int h = 0; h < hidden; h++) {
                    MemoryUtil.putShort(
                            dst + 2L * h, BFloat16.fromFloat(Float16.toFloat(MemoryUtil.getShort(src + 2L * h))));
                }
                return dst;
            }
            case FP32: {
                long src = hiddenAddress + 4L * hidden * t;
                long dst = scratch.memoryAddress();
                for (int h = 0; h < hidden; h++) {
                    MemoryUtil.putShort(
                            dst + 2L * h, BFloat16.fromFloat(Float.intBitsToFloat(MemoryUtil.getInt(src + 4L * h))));
                }
                return dst;
            }
            default:
                throw new IllegalArgumentException("dispatch input dtype " + dtype + " is not supported");
        }
    }

    @Override
    public void close() {
        scratch.close();
    }
}
