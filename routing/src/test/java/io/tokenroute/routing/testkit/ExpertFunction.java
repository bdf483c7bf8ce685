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
package io.tokenroute.routing.testkit;

/**
 * The test "expert": a cheap, expert-dependent map of one bf16 value to another, so a row combined from the wrong
 * expert or the wrong position changes the result.
 */
public final class ExpertFunction {
    private ExpertFunction() {}

    /** {@code bf16(x × (1 + (e mod 7) / 4) + (e mod 5) / 8)}, with x widened from bf16. */
    public static short apply(int expert, short xBits) {
        float x = Float.intBitsToFloat((xBits & 0xFFFF) << 16);
        float y = x * (1f + (expert % 7) * 0.25f) + (expert % 5) * 0.125f;
        return roundToBf16(y);
    }

    /** Round to nearest even, written independently of the library. */
    public static short roundToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int lower = bits & 0xFFFF;
        int upper = bits >>> 16;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) != 0)) {
            upper++;
        }
        return (short) upper;
    }

    /** bf16 bits to float. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }
}
