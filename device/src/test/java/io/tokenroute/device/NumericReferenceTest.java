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

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenroute.arrow.numeric.BFloat16;
import io.tokenroute.arrow.numeric.Float8E4M3;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import java.util.Random;
import org.apache.arrow.memory.util.Float16;
import org.junit.jupiter.api.Test;

/**
 * Runs everywhere: the GPU tests' references agree with arrow-io's conversions, so a kernel that matches one matches
 * the other (the project's contract is "bit-exact with arrow-io").
 */
class NumericReferenceTest {

    private final Random random = new Random(2024);

    @Test
    void bf16NarrowingAgreesWithArrowIo() {
        for (int bits : TestData.floatBits(random, 1_000_000)) {
            assertEquals(
                    BFloat16.fromFloat(Float.intBitsToFloat(bits)),
                    NumericReference.bf16(bits),
                    () -> "float bits 0x" + Integer.toHexString(bits));
        }
    }

    @Test
    void fp16ToBf16AgreesWithArrowFloat16ThenArrowIoForEveryHalf() {
        for (int h = 0; h < 1 << 16; h++) {
            short half = (short) h;
            assertEquals(
                    BFloat16.fromFloat(Float16.toFloat(half)),
                    NumericReference.fp16ToBf16(half),
                    "half 0x" + Integer.toHexString(h));
        }
    }

    @Test
    void e4m3AgreesWithArrowIo() {
        for (int bits : TestData.floatBits(random, 200_000)) {
            float y = Float.intBitsToFloat(bits);
            assertEquals(Float8E4M3.fromFloat(y), NumericReference.e4m3(y), () -> "float " + y);
        }
        for (int i = 0; i < 200_000; i++) {
            // Magnitudes inside the e4m3 range, where rounding (not saturation) decides.
            float y = (float) (random.nextGaussian() * Math.scalb(1.0, random.nextInt(20) - 11));
            assertEquals(Float8E4M3.fromFloat(y), NumericReference.e4m3(y), () -> "float " + y);
        }
    }

    @Test
    void quantisationAgreesWithArrowIoFp8Quantizer() {
        int rows = 37;
        int hidden = 384;
        short[] x = TestData.activations(random, rows, hidden);
        for (boolean roundScale : new boolean[] {false, true}) {
            byte[] q = new byte[rows * hidden];
            float[] scales = new float[rows * hidden / 128];
            NumericReference.quantize(x, rows, hidden, roundScale, q, scales);
            byte[] arrowQ = new byte[q.length];
            float[] arrowScales = new float[scales.length];
            for (int r = 0; r < rows; r++) {
                Fp8Quantizer.quantizeRowBf16(
                        x, r * hidden, hidden, roundScale, arrowQ, r * hidden, arrowScales, r * hidden / 128);
            }
            for (int i = 0; i < q.length; i++) {
                assertEquals(arrowQ[i], q[i], "roundScale " + roundScale + ", channel " + i);
            }
            for (int g = 0; g < scales.length; g++) {
                assertEquals(
                        Float.floatToRawIntBits(arrowScales[g]),
                        Float.floatToRawIntBits(scales[g]),
                        "roundScale " + roundScale + ", group " + g);
            }
        }
    }
}
