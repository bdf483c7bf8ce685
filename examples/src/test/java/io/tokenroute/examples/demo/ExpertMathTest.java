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
package io.tokenroute.examples.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.numeric.BFloat16;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The experts' two implementations give the same bits, and both equal a direct evaluation of the block-diagonal
 * product, for hidden sizes with and without a partial last block and a vector tail.
 */
class ExpertMathTest {

    @ParameterizedTest(name = "H = {0}")
    @ValueSource(ints = {4, 6, 64, 1024, 1030})
    void simdAndScalarAgreeWithTheDefinition(int hidden) {
        Random rng = new Random(hidden);
        int experts = 3;
        float[] weights = new float[experts * ExpertMath.BLOCK * hidden];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = rng.nextFloat() - 0.3f;
        }
        short[] bits = new short[hidden];
        for (int h = 0; h < hidden; h++) {
            bits[h] = BFloat16.fromFloat((float) rng.nextGaussian());
        }
        ExpertMath best = ExpertMath.best();
        assertTrue(best.name().startsWith("vector") || !moduleLoaded(), "SIMD is used when the module is present");
        for (int e = 0; e < experts; e++) {
            int base = e * ExpertMath.BLOCK * hidden;
            float[] x = new float[hidden];
            float[] xs = new float[hidden];
            best.widen(bits, 0, x, hidden);
            ExpertMath.SCALAR.widen(bits, 0, xs, hidden);
            assertArrayEquals(xs, x);
            float[] y = new float[hidden];
            float[] ys = new float[hidden];
            best.apply(weights, base, x, y, hidden);
            ExpertMath.SCALAR.apply(weights, base, xs, ys, hidden);
            for (int h = 0; h < hidden; h++) {
                assertEquals(Float.floatToRawIntBits(ys[h]), Float.floatToRawIntBits(y[h]), best.name() + " at " + h);
                assertEquals(
                        BFloat16.fromFloat(definition(weights, base, x, hidden, h)),
                        (short) (Float.floatToRawIntBits(y[h]) >>> 16),
                        "definition at " + h);
            }
            short[] narrowed = new short[hidden];
            short[] narrowedScalar = new short[hidden];
            best.narrow(y, narrowed, hidden);
            ExpertMath.SCALAR.narrow(ys, narrowedScalar, hidden);
            assertArrayEquals(narrowedScalar, narrowed);
        }
    }

    /** Output h of the block-diagonal product, written out from the layout's definition. */
    private static float definition(float[] w, int base, float[] x, int hidden, int h) {
        int block = h / ExpertMath.BLOCK * ExpertMath.BLOCK;
        float sum = 0f;
        for (int j = 0; block + j < hidden && j < ExpertMath.BLOCK; j++) {
            float term = w[base + j * hidden + h] * x[block + j];
            sum = j == 0 ? term : sum + term;
        }
        return sum;
    }

    private static boolean moduleLoaded() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }
}
