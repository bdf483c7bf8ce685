package io.tokenroute.routing.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class MaskStateTest {
    @Test
    void ranksOfListsTheSetFlagsInAscendingOrder() {
        assertArrayEquals(new int[] {1, 4, 5}, MaskState.ranksOf(new boolean[] {false, true, false, false, true, true},
                3));
        assertArrayEquals(new int[] {0}, MaskState.ranksOf(new boolean[] {true, false}, 1));
        assertArrayEquals(new int[0], MaskState.ranksOf(new boolean[] {false, false, false}, 0));
    }
}
