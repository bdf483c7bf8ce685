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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class MaskStateTest {
    @Test
    void ranksOfListsTheSetFlagsInAscendingOrder() {
        assertArrayEquals(
                new int[] {1, 4, 5}, MaskState.ranksOf(new boolean[] {false, true, false, false, true, true}, 3));
        assertArrayEquals(new int[] {0}, MaskState.ranksOf(new boolean[] {true, false}, 1));
        assertArrayEquals(new int[0], MaskState.ranksOf(new boolean[] {false, false, false}, 0));
    }
}
