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
package io.tokenroute.arrow.numeric;

/**
 * Test-only E4M3FN oracle written straight from the OCP bit-field definition, deliberately sharing no code or
 * technique with {@link Float8E4M3}: decoding uses {@code Math.pow}, encoding is a brute-force nearest search over
 * all finite codes in exact double arithmetic.
 */
final class E4M3Reference {

    private static final int LARGEST_FINITE_CODE = 0x7E;
    private static final double[] POSITIVE_VALUES = new double[LARGEST_FINITE_CODE + 1];

    static {
        for (int c = 0; c <= LARGEST_FINITE_CODE; c++) {
            POSITIVE_VALUES[c] = decode(c);
        }
    }

    private E4M3Reference() {}

    /** Value of a code: (-1)^s * 2^(e-7) * (1 + m/8), or 2^-6 * m/8 when e == 0; S.1111.111 is NaN. */
    static double decode(int code) {
        int s = (code >> 7) & 1;
        int e = (code >> 3) & 0xF;
        int m = code & 0x7;
        if (e == 0xF && m == 0x7) {
            return Double.NaN;
        }
        double magnitude = e == 0 ? (m / 8.0) * Math.pow(2, -6) : (1 + m / 8.0) * Math.pow(2, e - 7);
        return s == 1 ? -magnitude : magnitude;
    }

    /** Nearest finite code to f (ties to the code with even mantissa), saturating, NaN to 0x7F, sign kept. */
    static byte encode(float f) {
        if (Float.isNaN(f)) {
            return 0x7F;
        }
        int sign = (Float.floatToRawIntBits(f) >>> 31) << 7;
        double a = Math.abs((double) f);
        if (a > 448) {
            return (byte) (sign | LARGEST_FINITE_CODE);
        }
        int best = 0;
        double bestDistance = a;
        for (int c = 1; c <= LARGEST_FINITE_CODE; c++) {
            double d = Math.abs(a - POSITIVE_VALUES[c]);
            if (d < bestDistance || (d == bestDistance && (c & 1) == 0)) {
                best = c;
                bestDistance = d;
            }
        }
        return (byte) (sign | best);
    }
}
