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
package io.tokenroute.routing;

import io.tokenroute.TokenRouteException;
import java.util.Arrays;

/**
 * This rank was masked by peers it still considered active: they stopped serving it and moved on without it (a false
 * mask of a live but slow rank, or an engine's {@code updateMask}). The call that found out published nothing further
 * into the step it was cut from; every later call except {@code readmit(rank(), timeout)}, {@code cleanBuffer()} (when
 * the peers unmasked it), {@code close()} and the mask queries fails the same way until the rank is readmitted
 * (docs/contract.md §3, "one agreed view").
 */
public final class RankMaskedException extends TokenRouteException {
    private static final long serialVersionUID = 1L;
    private final int rank;
    private final int[] maskedBy;
    private final Phase phase;

    /**
     * @param rank the rank that was masked
     * @param maskedBy the peers whose published mask holds it, ascending (may be empty when they moved past a
     *     rendezvous without it)
     * @param phase where this rank found out
     */
    public RankMaskedException(int rank, int[] maskedBy, Phase phase) {
        super("rank " + rank + " was masked by "
                + (maskedBy.length == 0
                        ? "its peers (they held a rendezvous without it)"
                        : "rank" + (maskedBy.length > 1 ? "s " : " ")
                                + Arrays.toString(maskedBy).replaceAll("[\\[\\]]", ""))
                + "; found out in " + phase + ". It takes no part in the group until it is readmitted: call readmit("
                + rank + ", timeout) on it while its peers call readmit(" + rank + ", timeout)");
        this.rank = rank;
        this.maskedBy = maskedBy.clone();
        this.phase = phase;
    }

    /** The rank that was masked. */
    public int rank() {
        return rank;
    }

    /** The peers whose published mask holds this rank, ascending. */
    public int[] maskedBy() {
        return maskedBy.clone();
    }

    /** Where this rank found out. */
    public Phase phase() {
        return phase;
    }
}
