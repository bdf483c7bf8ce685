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
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class ReplanTest {
    private static final int[] RANKS = {4, 8, 16};
    private static final int[] EXPERTS = {16, 64, 256};
    private static final int[] REDUNDANT = {0, 1, 2, 4};

    @Test
    void replanOnRandomFailuresEmptiesMaskedRanksKeepsSurvivorsAndMatchesTheReferenceGreedy() {
        Random rng = new Random(20250923);
        int incomplete = 0;
        for (int ranks : RANKS) {
            for (int experts : EXPERTS) {
                for (int redundant : REDUNDANT) {
                    for (int trial = 0; trial < 6; trial++) {
                        ExpertPlacement initial = ExpertPlacement.initial(experts, ranks, redundant);
                        boolean[] masked = randomMask(rng, ranks, 1 + rng.nextInt(ranks - 1));
                        long[] load = randomLoad(rng, experts);
                        boolean[] maskCopy = masked.clone();
                        long[] loadCopy = load.clone();
                        ExpertPlacement next = initial.replan(masked, load);
                        String where = "R=" + ranks + " E=" + experts + " red=" + redundant + " mask="
                                + Arrays.toString(masked);

                        assertArrayEquals(maskCopy, masked, "mask untouched");
                        assertArrayEquals(loadCopy, load, "load untouched");
                        assertEquals(initial.physicalExperts(), next.physicalExperts());
                        assertEquals(initial.slotsPerRank(), next.slotsPerRank());
                        for (int slot = 0; slot < next.physicalExperts(); slot++) {
                            if (masked[next.rankOf(slot)]) {
                                assertEquals(ExpertPlacement.EMPTY, next.logicalAt(slot), where + " slot " + slot);
                            } else if (initial.logicalAt(slot) != ExpertPlacement.EMPTY) {
                                assertEquals(initial.logicalAt(slot), next.logicalAt(slot), where + " survivor moved");
                            }
                        }

                        // independent capacity count from the initial layout e / base
                        int base = (experts + ranks - 1) / ranks;
                        int lost = 0;
                        int free = 0;
                        for (int e = 0; e < experts; e++) {
                            lost += masked[e / base] ? 1 : 0;
                        }
                        for (int r = 0; r < ranks; r++) {
                            if (!masked[r]) {
                                int r0 = r;
                                long onRank = IntStream.range(0, experts)
                                        .filter(e -> e / base == r0)
                                        .count();
                                free += initial.slotsPerRank() - (int) onRank;
                            }
                        }
                        int[] unhosted = next.unhostedExperts();
                        assertEquals(Math.max(0, lost - free), unhosted.length, where);
                        assertEquals(lost <= free, next.isComplete(), where);
                        incomplete += next.isComplete() ? 0 : 1;
                        for (int e = 0; e < experts; e++) {
                            boolean isUnhosted = Arrays.binarySearch(unhosted, e) >= 0;
                            assertEquals(isUnhosted ? 0 : 1, next.hostsOf(e).length, where + " expert " + e);
                            assertTrue(!isUnhosted || masked[e / base], where + " only lost experts go unhosted");
                        }

                        ExpertPlacement again = initial.replan(masked.clone(), load.clone());
                        assertEquals(next, again, where + " deterministic");
                        assertEquals(next.hashCode(), again.hashCode());
                        assertArrayEquals(referenceReplan(initial, masked, load), slotTable(next), where);
                    }
                }
            }
        }
        assertTrue(incomplete > 0, "the sweep must also exercise running out of free slots");
    }

    @Test
    void withoutRedundantSlotsEveryExpertOfTheFailedRankIsReportedUnhosted() {
        Random rng = new Random(5);
        for (int ranks : RANKS) {
            for (int experts : EXPERTS) {
                ExpertPlacement initial = ExpertPlacement.initial(experts, ranks, 0);
                int failed = rng.nextInt(ranks);
                boolean[] masked = new boolean[ranks];
                masked[failed] = true;
                ExpertPlacement next = initial.replan(masked, randomLoad(rng, experts));
                int base = experts / ranks;
                assertArrayEquals(
                        IntStream.range(failed * base, (failed + 1) * base).toArray(), next.unhostedExperts());
                assertEquals(false, next.isComplete());
                assertEquals(List.of(), next.movesFrom(initial));
                for (int slot = 0; slot < next.physicalExperts(); slot++) {
                    int expected = next.rankOf(slot) == failed ? ExpertPlacement.EMPTY : initial.logicalAt(slot);
                    assertEquals(expected, next.logicalAt(slot));
                }
            }
        }
    }

    @Test
    void secondFailureReplansFromTheFirstPlanKeepingItsSurvivors() {
        Random rng = new Random(77);
        for (int trial = 0; trial < 60; trial++) {
            int ranks = RANKS[rng.nextInt(RANKS.length)];
            int experts = EXPERTS[rng.nextInt(EXPERTS.length)];
            int redundant = REDUNDANT[rng.nextInt(REDUNDANT.length)];
            long[] load = randomLoad(rng, experts);
            boolean[] first = randomMask(rng, ranks, 1 + rng.nextInt(ranks / 2));
            boolean[] second = first.clone();
            int extra = pickUnmasked(rng, first);
            second[extra] = true;
            ExpertPlacement p0 = ExpertPlacement.initial(experts, ranks, redundant);
            ExpertPlacement p1 = p0.replan(first, load);
            ExpertPlacement p2 = p1.replan(second, load);
            String where = "trial " + trial + " R=" + ranks + " E=" + experts + " red=" + redundant;

            assertArrayEquals(referenceReplan(p1, second, load), slotTable(p2), where);
            int lost = p1.unhostedExperts().length;
            int free = 0;
            for (int slot = 0; slot < p1.physicalExperts(); slot++) {
                int e = p1.logicalAt(slot);
                if (p1.rankOf(slot) == extra && e != ExpertPlacement.EMPTY) {
                    lost++;
                } else if (!second[p1.rankOf(slot)] && e == ExpertPlacement.EMPTY) {
                    free++;
                }
                if (second[p2.rankOf(slot)]) {
                    assertEquals(ExpertPlacement.EMPTY, p2.logicalAt(slot), where);
                } else if (e != ExpertPlacement.EMPTY) {
                    assertEquals(e, p2.logicalAt(slot), where + " survivor of the first plan moved");
                }
            }
            assertEquals(Math.max(0, lost - free), p2.unhostedExperts().length, where);
        }
    }

    @Test
    void readmittedRankGetsNothingBackButItsEmptySlotsTakeTheNextFailure() {
        Random rng = new Random(31);
        long[] load = new long[16];
        for (int e = 0; e < 16; e++) {
            load[e] = 1 + rng.nextInt(1000); // every surviving rank weighs > 0, so idle rank 1 is strictly lightest
        }
        ExpertPlacement p0 = ExpertPlacement.initial(16, 4, 2);
        ExpertPlacement p1 = p0.replan(mask(4, 1), load);
        ExpertPlacement p2 = p1.replan(mask(4), load);
        assertEquals(p1, p2, "no expert moves back when rank 1 is readmitted");
        assertEquals(List.of(), p2.movesFrom(p1));
        for (int slot = 6; slot < 12; slot++) {
            assertEquals(ExpertPlacement.EMPTY, p2.logicalAt(slot), "rank 1's slots stay empty");
        }

        ExpertPlacement p3 = p2.replan(mask(4, 2), load);
        assertArrayEquals(referenceReplan(p2, mask(4, 2), load), slotTable(p3));
        assertTrue(p3.isComplete());
        int heaviestLost = IntStream.range(0, 16)
                .filter(e -> p2.rankOf(p2.hostsOf(e)[0]) == 2)
                .boxed()
                .sorted((a, b) -> load[a] != load[b] ? Long.compare(load[b], load[a]) : Integer.compare(a, b))
                .findFirst()
                .orElseThrow();
        assertEquals(1, p3.rankOf(p3.hostsOf(heaviestLost)[0]), "the idle readmitted rank is the lightest");
        for (int e = 4; e < 8; e++) {
            if (p1.rankOf(p1.hostsOf(e)[0]) != 2) {
                assertArrayEquals(p1.hostsOf(e), p3.hostsOf(e), "rank 1's old experts stay where they were re-hosted");
            }
        }
    }

    @Test
    void readmittedRankHostsTheExpertsThatWereLeftUnhosted() {
        long[] load = {50, 50, 50, 50, 3, 9, 9, 1, 50, 50, 50, 50, 50, 50, 50, 50};
        ExpertPlacement p0 = ExpertPlacement.initial(16, 4, 0);
        ExpertPlacement p1 = p0.replan(mask(4, 1), load);
        assertArrayEquals(new int[] {4, 5, 6, 7}, p1.unhostedExperts());
        ExpertPlacement p2 = p1.replan(mask(4), load);
        assertTrue(p2.isComplete());
        // heaviest first (5 and 6 tie at 9: lower id first), each into rank 1's lowest empty slot
        assertArrayEquals(new int[] {5, 6, 4, 7}, Arrays.copyOfRange(slotTable(p2), 4, 8));
        assertEquals(
                List.of(
                        new ExpertMove(5, 4, -1),
                        new ExpertMove(6, 5, -1),
                        new ExpertMove(4, 6, -1),
                        new ExpertMove(7, 7, -1)),
                p2.movesFrom(p1));
    }

    @Test
    void expertsWithASurvivingReplicaAreNotLostAndReplicaSlotsAreReclaimedOnlyWhileAnotherHostRemains() {
        ExpertPlacement p = ExpertPlacement.of(6, 3, 3, new int[] {0, 1, 4, 2, 3, 5, 4, 5, -1});
        long[] load = {10, 20, 1, 1, 5, 5};

        ExpertPlacement rank2Failed = p.replan(mask(3, 2), load);
        assertArrayEquals(new int[] {0, 1, 4, 2, 3, 5, -1, -1, -1}, slotTable(rank2Failed));
        assertEquals(List.of(), rank2Failed.movesFrom(p));

        // rank 0 fails: rank loads are 1 + 1 + 5/2 = 4.5 (rank 1) and 5 + 5/2 = 7.5 (rank 2). Expert 1 (20) goes to
        // rank 1, whose only free slot is 5's replica; then rank 1 weighs 22 and rank 2 10, so expert 0 takes rank 2's
        // empty slot.
        ExpertPlacement rank0Failed = p.replan(mask(3, 0), load);
        assertArrayEquals(new int[] {-1, -1, -1, 2, 3, 1, 4, 5, 0}, slotTable(rank0Failed));
        assertEquals(List.of(new ExpertMove(1, 5, 0), new ExpertMove(0, 8, 0)), rank0Failed.movesFrom(p));

        // expert 6 is replicated on ranks 1 and 3, so it weighs 20 / 2 on each: rank loads are 10 + 10 = 20 (rank 1),
        // 12 + 13 = 25 (rank 2), 30 + 10 = 40 (rank 3). Counting the replica's full load (30 on rank 1) would send
        // expert 1 to rank 2 instead.
        ExpertPlacement halves = ExpertPlacement.of(7, 4, 3, new int[] {0, 1, -1, 2, 6, -1, 3, 4, -1, 5, 6, -1});
        ExpertPlacement afterHalves = halves.replan(mask(4, 0), new long[] {50, 100, 10, 12, 13, 30, 20});
        assertArrayEquals(new int[] {-1, -1, -1, 2, 6, 1, 3, 4, 0, 5, 6, -1}, slotTable(afterHalves));

        // expert 1 has replicas on ranks 1 and 2: the first lost expert may take one of them, never both
        ExpertPlacement shared = ExpertPlacement.of(5, 3, 2, new int[] {0, 4, 2, 1, 3, 1});
        ExpertPlacement after = shared.replan(mask(3, 0), new long[] {4, 6, 1, 2, 3});
        assertArrayEquals(new int[] {-1, -1, 2, 0, 3, 1}, slotTable(after));
        assertArrayEquals(new int[] {4}, after.unhostedExperts());
        assertNotEquals(shared, after);
    }

    // ------------------------------------------------------------------------------------------------ reference

    /**
     * The greedy of {@link ExpertPlacement#replan} written out plainly for replica-free inputs: empty masked ranks;
     * experts without a host, heaviest first (ties by id), each to the first empty slot of the unmasked rank with the
     * smallest sum of hosted loads (ties by rank id) among ranks with an empty slot.
     */
    static int[] referenceReplan(ExpertPlacement p, boolean[] masked, long[] load) {
        int s = p.slotsPerRank();
        int[] slots = new int[p.physicalExperts()];
        boolean[] hosted = new boolean[p.logicalExperts()];
        for (int q = 0; q < slots.length; q++) {
            slots[q] = masked[q / s] ? -1 : p.logicalAt(q);
            if (slots[q] >= 0) {
                assertTrue(!hosted[slots[q]], "reference handles replica-free placements only");
                hosted[slots[q]] = true;
            }
        }
        List<Integer> lost = new ArrayList<>();
        for (int e = 0; e < hosted.length; e++) {
            if (!hosted[e]) {
                lost.add(e);
            }
        }
        lost.sort((a, b) -> load[a] != load[b] ? Long.compare(load[b], load[a]) : Integer.compare(a, b));
        for (int e : lost) {
            int bestSlot = -1;
            long bestLoad = Long.MAX_VALUE;
            for (int r = 0; r < p.ranks(); r++) {
                if (masked[r]) {
                    continue;
                }
                long rankLoad = 0;
                int firstEmpty = -1;
                for (int q = r * s; q < (r + 1) * s; q++) {
                    if (slots[q] < 0) {
                        firstEmpty = firstEmpty < 0 ? q : firstEmpty;
                    } else {
                        rankLoad += load[slots[q]];
                    }
                }
                if (firstEmpty >= 0 && rankLoad < bestLoad) {
                    bestLoad = rankLoad;
                    bestSlot = firstEmpty;
                }
            }
            if (bestSlot >= 0) {
                slots[bestSlot] = e;
            }
        }
        return slots;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static int[] slotTable(ExpertPlacement p) {
        return IntStream.range(0, p.physicalExperts()).map(p::logicalAt).toArray();
    }

    static boolean[] mask(int ranks, int... failed) {
        boolean[] m = new boolean[ranks];
        for (int r : failed) {
            m[r] = true;
        }
        return m;
    }

    /** Loads from a small range half the time, so ties (broken by id and rank id) actually happen. */
    static long[] randomLoad(Random rng, int experts) {
        int bound = rng.nextBoolean() ? 4 : 1_000_000;
        long[] load = new long[experts];
        for (int e = 0; e < experts; e++) {
            load[e] = rng.nextInt(bound);
        }
        return load;
    }

    static boolean[] randomMask(Random rng, int ranks, int failures) {
        boolean[] m = new boolean[ranks];
        for (int placed = 0; placed < failures; ) {
            int r = rng.nextInt(ranks);
            if (!m[r]) {
                m[r] = true;
                placed++;
            }
        }
        return m;
    }

    private static int pickUnmasked(Random rng, boolean[] mask) {
        int r;
        do {
            r = rng.nextInt(mask.length);
        } while (mask[r]);
        return r;
    }
}
