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
package io.tokenroute.routing.placement;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ExpertPlacementTest {

    @Test
    void initialHostsEveryLogicalExpertOnceInContiguousBlocksAndLeavesRedundantSlotsEmpty() {
        int[][] shapes = {{16, 4, 0}, {64, 8, 2}, {256, 16, 4}, {10, 4, 1}, {5, 4, 3}, {1, 3, 1}};
        for (int[] s : shapes) {
            int experts = s[0], ranks = s[1], redundant = s[2];
            ExpertPlacement p = ExpertPlacement.initial(experts, ranks, redundant);
            int base = (experts + ranks - 1) / ranks;
            assertEquals(base + redundant, p.slotsPerRank());
            assertEquals(ranks * (base + redundant), p.physicalExperts());
            assertEquals(ranks, p.ranks());
            assertEquals(experts, p.logicalExperts());
            assertTrue(p.isComplete());
            assertArrayEquals(new int[0], p.unhostedExperts());
            int[] seen = new int[experts];
            for (int slot = 0; slot < p.physicalExperts(); slot++) {
                int local = slot % p.slotsPerRank();
                int e = p.logicalAt(slot);
                assertEquals(slot / p.slotsPerRank(), p.rankOf(slot));
                if (local >= base) {
                    assertEquals(ExpertPlacement.EMPTY, e, "redundant slot " + slot);
                } else if (e != ExpertPlacement.EMPTY) {
                    assertEquals(p.rankOf(slot), e / base, "expert " + e + " sits on rank e / base");
                    assertEquals(local, e % base);
                    seen[e]++;
                }
            }
            for (int e = 0; e < experts; e++) {
                assertEquals(1, seen[e], "expert " + e + " hosted exactly once");
                int[] hosts = p.hostsOf(e);
                assertEquals(1, hosts.length);
                assertEquals(e, p.logicalAt(hosts[0]));
            }
        }
    }

    @Test
    void rejectsBadShapesAndIds() {
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.initial(0, 4, 1));
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.initial(8, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.initial(8, 4, -1));
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.of(4, 2, 2, new int[] {0, 1, 2}));
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.of(4, 2, 2, new int[] {0, 1, 2, 4}));
        assertThrows(IllegalArgumentException.class, () -> ExpertPlacement.of(4, 2, 2, new int[] {0, 1, -2, 3}));
        ExpertPlacement p = ExpertPlacement.initial(8, 4, 1);
        assertThrows(IndexOutOfBoundsException.class, () -> p.logicalAt(12));
        assertThrows(IndexOutOfBoundsException.class, () -> p.rankOf(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> p.hostsOf(8));
        assertThrows(IllegalArgumentException.class, () -> p.replan(new boolean[3], new long[8]));
        assertThrows(IllegalArgumentException.class, () -> p.replan(new boolean[4], new long[7]));
        long[] negative = new long[8];
        negative[5] = -1;
        assertThrows(IllegalArgumentException.class, () -> p.replan(new boolean[4], negative));
    }

    @Test
    void ofCopiesItsTableAndListsReplicasAndUnhostedExperts() {
        int[] table = {0, 1, 3, 2, 3, -1};
        ExpertPlacement p = ExpertPlacement.of(5, 2, 3, table);
        table[0] = 4;
        assertEquals(0, p.logicalAt(0));
        assertArrayEquals(new int[] {2, 4}, p.hostsOf(3));
        assertArrayEquals(new int[0], p.hostsOf(4));
        assertArrayEquals(new int[] {4}, p.unhostedExperts());
        assertEquals(false, p.isComplete());
    }

    @Test
    void movesFromListsExactlyTheSlotsWhoseExpertChangedWithTheirPreviousRank() {
        ExpertPlacement before = ExpertPlacement.of(6, 3, 3, new int[] {0, 1, -1, 2, 3, -1, 4, 5, -1});
        // expert 4 moves from rank 2 to slot 2, 5 stays, 1 is dropped, 0 gains a replica in slot 5
        ExpertPlacement after = ExpertPlacement.of(6, 3, 3, new int[] {0, -1, 4, 2, 3, 0, -1, 5, -1});
        assertEquals(List.of(new ExpertMove(4, 2, 2), new ExpertMove(0, 5, 0)), after.movesFrom(before));
        assertEquals(List.of(), before.movesFrom(before));
        ExpertPlacement unhosted = ExpertPlacement.of(6, 3, 3, new int[] {0, 1, -1, 2, 3, -1, -1, -1, -1});
        assertEquals(List.of(new ExpertMove(4, 6, -1), new ExpertMove(5, 7, -1)), before.movesFrom(unhosted));
        assertThrows(IllegalArgumentException.class, () -> after.movesFrom(ExpertPlacement.initial(6, 3, 2)));
    }

    @Test
    void movesFromReplanAreExactlyTheSlotDifferences() {
        Random rng = new Random(11);
        ExpertPlacement p = ExpertPlacement.initial(64, 8, 3);
        boolean[] masked = new boolean[8];
        masked[3] = true;
        masked[6] = true;
        long[] load = new long[64];
        for (int e = 0; e < 64; e++) {
            load[e] = 1 + rng.nextInt(1000);
        }
        ExpertPlacement q = p.replan(masked, load);
        List<ExpertMove> moves = q.movesFrom(p);
        int changed = 0;
        for (int slot = 0; slot < q.physicalExperts(); slot++) {
            if (q.logicalAt(slot) != ExpertPlacement.EMPTY && q.logicalAt(slot) != p.logicalAt(slot)) {
                changed++;
            }
        }
        assertEquals(changed, moves.size());
        assertEquals(16, moves.size(), "ranks 3 and 6 hosted 8 experts each, 6 survivors × 3 free slots hold them");
        for (ExpertMove m : moves) {
            assertEquals(m.logical(), q.logicalAt(m.physicalSlot()));
            assertEquals(p.rankOf(p.hostsOf(m.logical())[0]), m.fromRank());
            assertTrue(m.fromRank() == 3 || m.fromRank() == 6);
        }
    }

    @Test
    void logicalLoadSumsSlotCountsPerHostedExpert() {
        ExpertPlacement p = ExpertPlacement.of(4, 2, 3, new int[] {0, 1, 3, 2, 3, -1});
        long[] counts = {5, 7, 11, 13, 17, 1000};
        assertArrayEquals(new long[] {5, 7, 13, 28}, p.logicalLoad(counts));
        assertThrows(IllegalArgumentException.class, () -> p.logicalLoad(new long[5]));
    }

    @Test
    void describeShowsOneLinePerRankWithLogicalIdsAndDashesForEmptySlots() {
        ExpertPlacement p = ExpertPlacement.of(12, 2, 3, new int[] {0, 11, -1, -1, 5, -1});
        String expected = "ExpertPlacement: 12 logical experts on 2 ranks × 3 slots (6 physical), unhosted: "
                + "[1, 2, 3, 4, 6, 7, 8, 9, 10]\n"
                + "rank 0: [ 0 11  -]\n"
                + "rank 1: [ -  5  -]\n";
        assertEquals(expected, p.describe());
        assertEquals(expected, p.toString());
        assertTrue(ExpertPlacement.initial(4, 2, 1).describe().contains("unhosted: none\nrank 0: [0 1 -]\n"));
    }
}
