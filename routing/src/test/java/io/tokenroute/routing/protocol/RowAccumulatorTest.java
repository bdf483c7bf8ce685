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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RowAccumulatorTest {

    @Test
    void testsRunWithTheVectorImplementation() {
        // surefire starts the JVM with --add-modules=jdk.incubator.vector, as the launcher and benchmarks do
        assertNotSame(
                RowAccumulator.SCALAR,
                RowAccumulator.best(),
                RowAccumulator.best().name());
    }

    @Test
    void vectorAndScalarGiveTheSameBitsOnRandomAndEdgeValues() {
        Random rng = new Random(5);
        short[] edges = {0, (short) 0x8000, 0x7F80, (short) 0xFF80, 0x7FC1, 0x0001, (short) 0x8001, 0x7F7F, 0x3F80};
        for (int hidden : new int[] {1, 7, 8, 15, 16, 33, 128, 7168}) {
            float[] scalar = new float[hidden];
            float[] vector = new float[hidden];
            for (int h = 0; h < hidden; h++) {
                scalar[h] = (float) rng.nextGaussian();
                vector[h] = scalar[h];
            }
            for (int row = 0; row < 9; row++) {
                short[] bits = new short[hidden];
                for (int h = 0; h < hidden; h++) {
                    bits[h] = rng.nextInt(10) == 0 ? edges[rng.nextInt(edges.length)] : (short) rng.nextInt(1 << 16);
                }
                float w = rng.nextFloat() * 2 - 0.5f;
                RowAccumulator.SCALAR.accumulate(bits, w, scalar, hidden);
                RowAccumulator.best().accumulate(bits, w, vector, hidden);
            }
            for (int h = 0; h < hidden; h++) {
                assertEquals(
                        Float.floatToRawIntBits(scalar[h]) | (Float.isNaN(scalar[h]) ? -1 : 0),
                        Float.floatToRawIntBits(vector[h]) | (Float.isNaN(vector[h]) ? -1 : 0),
                        "H = " + hidden + ", channel " + h);
            }
        }
    }

    @Test
    void scalarMatchesTheDefinition() {
        float[] acc = {1f, 2f, -3f};
        short[] bits = {0x3F80, 0x4000, (short) 0xBF80};
        RowAccumulator.SCALAR.accumulate(bits, 0.5f, acc, 3);
        assertEquals(1.5f, acc[0]);
        assertEquals(3f, acc[1]);
        assertEquals(-3.5f, acc[2]);
    }
}
