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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Ue8m0Test {

    @Test
    void packUnpackRoundTripsEveryNormalExponent() {
        for (int e = 1; e <= 254; e++) {
            float value = Math.scalb(1f, e - 127);
            byte code = Ue8m0.pack(value);
            assertEquals((byte) e, code, "2^" + (e - 127));
            assertEquals(value, Ue8m0.unpack(code), "2^" + (e - 127));
        }
        assertEquals((byte) 127, Ue8m0.pack(1f));
        assertEquals((byte) 0x7B, Ue8m0.pack(0.0625f));
    }

    @Test
    void unpackSpecialCodesAsOcpMxDefines() {
        assertTrue(Float.isNaN(Ue8m0.unpack((byte) 0xFF)));
        assertEquals(Math.scalb(1f, -127), Ue8m0.unpack((byte) 0));
        assertEquals(0x1p127f, Ue8m0.unpack((byte) 254));
    }

    @Test
    void packRejectsAnythingButPositiveNormalPowersOfTwo() {
        float[] bad = {
            0f,
            -0f,
            -1f,
            -2f,
            -0.5f,
            3f,
            1.5f,
            0.75f,
            Math.nextUp(1f),
            Math.nextDown(2f),
            Float.MAX_VALUE,
            Float.NaN,
            Float.intBitsToFloat(0xFFC0_0000),
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.MIN_VALUE,
            Math.scalb(1f, -127),
            1e-4f / 448f,
        };
        for (float f : bad) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Ue8m0.pack(f), "pack(" + f + ")");
            assertTrue(e.getMessage().contains(String.valueOf(f)), e.getMessage());
        }
    }
}
