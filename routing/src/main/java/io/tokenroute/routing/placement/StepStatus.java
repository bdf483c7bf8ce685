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

import java.util.Arrays;
import java.util.function.IntToDoubleFunction;
import java.util.stream.IntStream;

/**
 * What an engine checks after each decode step (docs/contract.md §4, seed "Check Status After Each Decode Step"): which
 * ranks became masked (to replan the {@link ExpertPlacement} and report them) and which tokens lost expert weight (to
 * roll back or recompute exactly those).
 *
 * <p>A token is damaged when its lost weight is non-zero, the same test as {@code Combined.isDamaged}; with the usual
 * non-negative router weights that means {@code lost_weight > 0}. Pass combine's {@code lost_weight} to see the damage
 * the step's failures caused; weights of experts a degraded placement already leaves unhosted
 * ({@link ExpertPlacement#unhostedWeight}) are known before dispatch and belong here only if the engine wants to treat
 * those tokens as damaged too.
 *
 * <p>Immutable; accessors return copies.
 */
public final class StepStatus {
    private final int[] newlyMasked;
    private final int[] damaged;
    private final int numTokens;

    private StepStatus(int[] newlyMasked, int[] damaged, int numTokens) {
        this.newlyMasked = newlyMasked;
        this.damaged = damaged;
        this.numTokens = numTokens;
    }

    /**
     * The status of a step from an array of lost weights.
     *
     * @param newlyMasked ranks masked during this step (e.g. from {@link #newlyMasked(int[], int[])} over the agreed
     *     masks); any order, duplicates ignored; copied
     * @param lostWeight per-token lost weight; only the first {@code numTokens} entries are read (buffers may be reused
     *     at a larger capacity)
     * @param numTokens the step's token count, {@code [0, lostWeight.length]}
     * @throws IllegalArgumentException on a negative rank or a token count outside that range
     */
    public static StepStatus of(int[] newlyMasked, float[] lostWeight, int numTokens) {
        if (numTokens < 0 || numTokens > lostWeight.length) {
            throw new IllegalArgumentException("numTokens " + numTokens + " outside [0, " + lostWeight.length + "]");
        }
        return of(newlyMasked, t -> lostWeight[t], numTokens);
    }

    /**
     * The status of a step from a lost-weight accessor, e.g. {@code StepStatus.of(newly, combined::lostWeight,
     * combined.numTokens())}, which reads the combine result without copying it first.
     *
     * @param lostWeight called once for each token in {@code [0, numTokens)}, ascending
     * @see #of(int[], float[], int)
     */
    public static StepStatus of(int[] newlyMasked, IntToDoubleFunction lostWeight, int numTokens) {
        if (numTokens < 0) {
            throw new IllegalArgumentException("numTokens " + numTokens + " is negative");
        }
        int[] ranks = IntStream.of(newlyMasked).sorted().distinct().toArray();
        if (ranks.length > 0 && ranks[0] < 0) {
            throw new IllegalArgumentException("rank ids must be >= 0, got " + ranks[0]);
        }
        int[] damaged = IntStream.range(0, numTokens)
                .filter(t -> lostWeight.applyAsDouble(t) != 0)
                .toArray();
        return new StepStatus(ranks, damaged, numTokens);
    }

    /**
     * The ranks masked in {@code current} but not in {@code previous}, ascending: turns two snapshots of
     * {@code queryMask()} / {@code agreeMask()} (1 = masked, DeepEP polarity) into this step's new failures.
     *
     * @throws IllegalArgumentException if the masks differ in length
     */
    public static int[] newlyMasked(int[] previous, int[] current) {
        if (previous.length != current.length) {
            throw new IllegalArgumentException("masks differ in length: " + previous.length + " vs " + current.length);
        }
        return IntStream.range(0, current.length)
                .filter(r -> current[r] != 0 && previous[r] == 0)
                .toArray();
    }

    /** The ranks that became masked during the step, ascending and distinct. */
    public int[] newlyMaskedRanks() {
        return newlyMasked.clone();
    }

    /** The indices of tokens with non-zero lost weight, ascending. */
    public int[] damagedTokens() {
        return damaged.clone();
    }

    /** The step's token count. */
    public int numTokens() {
        return numTokens;
    }

    /** True when no rank became masked and no token lost weight: the step's output can be used as is. */
    public boolean isHealthy() {
        return newlyMasked.length == 0 && damaged.length == 0;
    }

    @Override
    public String toString() {
        return "StepStatus[tokens=" + numTokens + ", newlyMasked=" + Arrays.toString(newlyMasked) + ", damaged="
                + damaged.length + "]";
    }
}
