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
package io.tokenroute.routing;

/**
 * Per-call dispatch options ({@code docs/contract.md} §2). Every rank must pass the same options in the same step.
 *
 * @param fp8 cast rows to float8 e4m3 with one float32 dequantisation scale per 128 channels (H % 128 == 0)
 * @param roundScale round each scale up to a power of two (only with {@code fp8})
 * @param ue8m0 emit scales as 8-bit exponents ({@code tokenroute.ue8m0}); requires {@code roundScale}
 * @param stats add the received token counts to the cumulative per-expert receive stats
 */
public record DispatchOptions(boolean fp8, boolean roundScale, boolean ue8m0, boolean stats) {
    /** Format code bits ({@code TR_EP_FORMAT_*} of the kernels' {@code tokenroute_abi.cuh}). */
    private static final int FORMAT_FP8 = 1;

    private static final int FORMAT_ROUND_SCALE = 2;
    private static final int FORMAT_UE8M0 = 4;

    /** bf16 rows, stats on. */
    public static final DispatchOptions BF16 = new DispatchOptions(false, false, false, true);
    /** fp8 rows with float32 scales, stats on. */
    public static final DispatchOptions FP8 = new DispatchOptions(true, false, false, true);
    /** fp8 rows with power-of-two float32 scales, stats on. */
    public static final DispatchOptions FP8_ROUND_SCALE = new DispatchOptions(true, true, false, true);
    /** fp8 rows with UE8M0 scales, stats on. */
    public static final DispatchOptions FP8_UE8M0 = new DispatchOptions(true, true, true, true);

    public DispatchOptions {
        if (roundScale && !fp8) {
            throw new IllegalArgumentException("roundScale needs fp8");
        }
        if (ue8m0 && !roundScale) {
            throw new IllegalArgumentException("ue8m0 scales need roundScale (power-of-two scales)");
        }
    }

    /**
     * The wire format code: bit 0 fp8, bit 1 roundScale, bit 2 ue8m0 ({@link #BF16} 0, {@link #FP8} 1,
     * {@link #FP8_ROUND_SCALE} 3, {@link #FP8_UE8M0} 7). Ranks publish it with their rows and compare it, so a step
     * where ranks disagree fails clearly; the GPU kernels read the same bits ({@code TR_EP_FORMAT_*}, checked against
     * these codes when the kernels are loaded). The stats flag is not part of it.
     */
    public int formatCode() {
        return (fp8 ? FORMAT_FP8 : 0) | (roundScale ? FORMAT_ROUND_SCALE : 0) | (ue8m0 ? FORMAT_UE8M0 : 0);
    }
}
