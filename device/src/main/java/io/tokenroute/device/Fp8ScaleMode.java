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
 * How {@link Fp8QuantizeKernel} computes and stores the per-128-channel dequantisation scales, i.e. the dispatch
 * options {@code roundScale} and {@code ue8m0}.
 */
public enum Fp8ScaleMode {
    /** float32 {@code scaleInv = amax / 448}; {@code roundScale = false}. */
    FLOAT32(0, 4),
    /** float32 {@code scaleInv} rounded up to a power of two; {@code roundScale = true, ue8m0 = false}. */
    FLOAT32_POW2(1, 4),
    /** The power-of-two {@code scaleInv} packed as its uint8 biased exponent; {@code roundScale = ue8m0 = true}. */
    UE8M0(2, 1);

    private final int code;
    private final int scaleBytes;

    Fp8ScaleMode(int code, int scaleBytes) {
        this.code = code;
        this.scaleBytes = scaleBytes;
    }

    /**
     * The mode for the spec's two dispatch flags.
     *
     * @throws IllegalArgumentException for {@code ue8m0} without {@code roundScale}: only powers of two pack into UE8M0
     */
    public static Fp8ScaleMode of(boolean roundScale, boolean ue8m0) {
        if (ue8m0 && !roundScale) {
            throw new IllegalArgumentException("ue8m0 scales require roundScale (only powers of two pack into 8 bits)");
        }
        return ue8m0 ? UE8M0 : roundScale ? FLOAT32_POW2 : FLOAT32;
    }

    /** Whether scales are rounded up to powers of two. */
    public boolean roundScale() {
        return this != FLOAT32;
    }

    /** Bytes per stored scale: 4 (float32) or 1 (UE8M0). */
    public int scaleBytes() {
        return scaleBytes;
    }

    /**
     * The {@code scale_mode} argument of {@code tr_fp8_quantize_bf16} ({@code TR_FP8_SCALE_*} of
     * {@code tokenroute_abi.cuh}; {@link KernelAbi} checks that they agree).
     */
    int code() {
        return code;
    }
}
