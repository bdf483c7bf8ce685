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
package io.tokenroute.examples.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BenchInputsTest {
    private static final int T = 16;
    private static final int H = 256;
    private static final int K = 8;
    private static final int E = 12;

    @Test
    void eachTokenRoutesToKDistinctExpertsWithBoundedWeightsAndBf16ValuesInRange() {
        BenchInputs.Draw d = BenchInputs.draw(new Random(3), T, H, K, E);
        assertEquals(T * H, d.x().length);
        assertEquals(T * K, d.idx().length);
        assertEquals(T * K, d.w().length);
        for (short bits : d.x()) {
            float v = Float.intBitsToFloat((bits & 0xFFFF) << 16);
            assertTrue(v >= -2f && v < 2f, "hidden value " + v);
        }
        Set<Long> seenOverall = new HashSet<>();
        for (int t = 0; t < T; t++) {
            Set<Long> experts = new HashSet<>();
            for (int j = 0; j < K; j++) {
                long e = d.idx()[t * K + j];
                assertTrue(e >= 0 && e < E, "expert " + e);
                assertTrue(experts.add(e), "token " + t + " routes to expert " + e + " twice");
                float w = d.w()[t * K + j];
                assertTrue(w >= 0.05f && w < 0.05f + 1f / K, "weight " + w);
            }
            seenOverall.addAll(experts);
        }
        assertEquals(E, seenOverall.size(), "over 16 tokens every one of 12 experts is drawn");
    }

    @Test
    void theSameSeedDrawsTheSameInputsAndAnotherSeedOthers() {
        BenchInputs.Draw a = BenchInputs.draw(new Random(11), T, H, K, E);
        BenchInputs.Draw b = BenchInputs.draw(new Random(11), T, H, K, E);
        BenchInputs.Draw c = BenchInputs.draw(new Random(12), T, H, K, E);
        assertArrayEquals(a.x(), b.x());
        assertArrayEquals(a.idx(), b.idx());
        assertArrayEquals(a.w(), b.w());
        assertFalse(Arrays.equals(a.idx(), c.idx()), "another seed routes otherwise");
    }
}
