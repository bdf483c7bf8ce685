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

import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * The re-hosting algorithm behind {@link ExpertPlacement#replan}: clear the masked ranks' slots, then place every
 * expert left without a host greedily, heaviest first, on the least loaded surviving rank that has a free slot.
 *
 * <p>Kept apart from {@link ExpertPlacement} so the placement class stays a plain immutable value. Works on a mutable
 * copy of the slot table; not thread-safe, used once per replan.
 */
final class GreedyReplan {
    private final int ranks;
    private final int slotsPerRank;
    private final boolean[] masked;
    private final long[] load;
    private final int[] slots;
    /** hosts[e] = number of slots in {@link #slots} hosting e, kept current as slots change hands. */
    private final int[] hosts;

    private GreedyReplan(
            int[] previous, int ranks, int slotsPerRank, int logicalExperts, boolean[] masked, long[] load) {
        this.ranks = ranks;
        this.slotsPerRank = slotsPerRank;
        this.masked = masked;
        this.load = load;
        this.slots = previous.clone();
        this.hosts = new int[logicalExperts];
        for (int p = 0; p < slots.length; p++) {
            if (masked[p / slotsPerRank]) {
                slots[p] = ExpertPlacement.EMPTY;
            } else if (slots[p] != ExpertPlacement.EMPTY) {
                hosts[slots[p]]++;
            }
        }
    }

    /**
     * The new slot table (arguments already validated by the caller).
     *
     * @return {@code slot → logical id} ({@link ExpertPlacement#EMPTY} = empty); experts that found no free slot have
     *     no host in it
     */
    static int[] run(int[] previous, int ranks, int slotsPerRank, int logicalExperts, boolean[] masked, long[] load) {
        GreedyReplan plan = new GreedyReplan(previous, ranks, slotsPerRank, logicalExperts, masked, load);
        for (int expert : plan.lostHeaviestFirst()) {
            int rank = plan.lightestRankWithFreeSlot();
            if (rank < 0) {
                break; // free slots only ever shrink: every remaining lost expert stays unhosted
            }
            plan.host(expert, plan.freeSlot(rank));
        }
        return plan.slots;
    }

    /** Experts with no surviving host (including ones a previous replan left unhosted), heaviest first, then by id. */
    private int[] lostHeaviestFirst() {
        return IntStream.range(0, hosts.length)
                .filter(e -> hosts[e] == 0)
                .boxed()
                .sorted(Comparator.<Integer>comparingLong(e -> -load[e]).thenComparingInt(e -> e))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    /** The unmasked rank with the smallest load among those with a free slot, lowest id on ties; -1 if none. */
    private int lightestRankWithFreeSlot() {
        int best = -1;
        double bestLoad = Double.POSITIVE_INFINITY;
        for (int r = 0; r < ranks; r++) {
            if (!masked[r] && freeSlot(r) >= 0) {
                double l = rankLoad(r);
                if (l < bestLoad) {
                    best = r;
                    bestLoad = l;
                }
            }
        }
        return best;
    }

    /**
     * A rank's expected load: each hosted expert's load divided by its number of hosts, since
     * {@link ExpertPlacement#toPhysical(long, int)} spreads an expert's tokens evenly over its replicas. Without
     * replicas this is simply the sum of the hosted experts' loads.
     */
    private double rankLoad(int rank) {
        double sum = 0;
        for (int p = rank * slotsPerRank; p < (rank + 1) * slotsPerRank; p++) {
            if (slots[p] != ExpertPlacement.EMPTY) {
                sum += (double) load[slots[p]] / hosts[slots[p]];
            }
        }
        return sum;
    }

    /**
     * The rank's lowest empty slot, else its lowest slot hosting a replica of an expert hosted elsewhere too (so
     * reclaiming it leaves that expert hosted); -1 if neither. Empty slots come first because reclaiming a replica
     * costs load balance that the replica was bought for.
     */
    private int freeSlot(int rank) {
        int from = rank * slotsPerRank;
        int to = from + slotsPerRank;
        for (int p = from; p < to; p++) {
            if (slots[p] == ExpertPlacement.EMPTY) {
                return p;
            }
        }
        for (int p = from; p < to; p++) {
            if (hosts[slots[p]] > 1) {
                return p;
            }
        }
        return -1;
    }

    private void host(int expert, int slot) {
        if (slots[slot] != ExpertPlacement.EMPTY) {
            hosts[slots[slot]]--;
        }
        slots[slot] = expert;
        hosts[expert]++;
    }
}
