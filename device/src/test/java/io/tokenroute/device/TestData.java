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

import java.util.Random;

/** Inputs for the kernel tests: random bits plus the edge values conversions get wrong. */
final class TestData {

    /** float32 edge cases: zeros, infinities, NaNs with payloads, subnormals, bf16 rounding ties, overflow. */
    static final int[] FLOAT_EDGES = {
        0x0000_0000,
        0x8000_0000,
        0x7F80_0000,
        0xFF80_0000,
        0x7FC0_0000,
        0xFFC0_0000,
        0x7F80_0001,
        0xFF80_0001,
        0x7FBF_FFFF,
        0x7FFF_FFFF,
        0xFFFF_FFFF,
        0x7FC1_2345,
        0x0000_0001,
        0x8000_0001,
        0x007F_FFFF,
        0x0000_8000,
        0x0001_8000,
        0x0000_7FFF,
        0x0080_0000,
        0x3F80_8000,
        0x3F81_8000,
        0x3F80_8001,
        0x3F80_7FFF,
        0xBF80_8000,
        0xBF81_8000,
        0x7F7F_FFFF,
        0xFF7F_FFFF,
        0x7F7F_7FFF,
        0x7F7F_8000,
        0x7F7E_8000,
        0x3F80_0000,
        0x43E0_0000,
    };

    private TestData() {}

    /** {@code n} float32 bit patterns: the edge cases first, then 1 in 8 exact bf16 ties, the rest uniform bits. */
    static int[] floatBits(Random random, int n) {
        int[] bits = new int[n];
        for (int i = 0; i < n; i++) {
            if (i < FLOAT_EDGES.length) {
                bits[i] = FLOAT_EDGES[i];
            } else if (random.nextInt(8) == 0) {
                bits[i] = (random.nextInt() & 0xFFFF_0000) | 0x8000;
            } else {
                bits[i] = random.nextInt();
            }
        }
        return bits;
    }

    /** Every 16-bit pattern once, in a shuffled order (so neighbouring lanes see unrelated values). */
    static short[] all16BitPatterns(Random random) {
        short[] values = new short[1 << 16];
        for (int i = 0; i < values.length; i++) {
            values[i] = (short) i;
        }
        for (int i = values.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            short t = values[i];
            values[i] = values[j];
            values[j] = t;
        }
        return values;
    }

    /**
     * bfloat16 activations {@code [rows][hidden]} whose 128-channel groups cycle through the cases FP8 quantisation
     * must survive: zeros of both signs, all NaN, a lone NaN, a lone +Inf or -Inf, bf16 subnormals only, values so
     * tiny that the amax floor decides, huge values, and ordinary Gaussian groups of random magnitude.
     */
    static short[] activations(Random random, int rows, int hidden) {
        short[] x = new short[rows * hidden];
        int groups = rows * hidden / NumericReference.GROUP;
        for (int g = 0; g < groups; g++) {
            int base = g * NumericReference.GROUP;
            float magnitude = Math.scalb(1f, random.nextInt(40) - 24);
            for (int i = 0; i < NumericReference.GROUP; i++) {
                float gaussian = (float) random.nextGaussian() * magnitude;
                short value = switch (g % 10) {
                    case 0 -> (short) (random.nextBoolean() ? 0x8000 : 0x0000);
                    case 1 -> (short) (0x7F81 | random.nextInt(0x7F) | (random.nextBoolean() ? 0x8000 : 0));
                    case 2 -> i == 37 ? (short) 0xFFC1 : bf16(gaussian);
                    case 3 -> i == 90 ? (short) 0x7F80 : bf16(gaussian);
                    case 4 -> i == 0 ? (short) 0xFF80 : bf16(gaussian);
                    case 5 -> (short) ((1 + random.nextInt(0x7F)) | (random.nextBoolean() ? 0x8000 : 0));
                    case 6 -> bf16((float) random.nextGaussian() * 0x1p-20f);
                    case 7 -> bf16((float) random.nextGaussian() * 0x1p100f);
                    default -> bf16(gaussian);
                };
                x[base + i] = value;
            }
        }
        return x;
    }

    private static short bf16(float f) {
        return NumericReference.bf16(Float.floatToRawIntBits(f));
    }
}
