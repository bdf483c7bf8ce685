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

/**
 * Ranks called different collectives at the same point of their sequence (say, one {@code agreeMask} while a peer ran
 * an
 * {@code allGather}): the engine's control flow diverged. No payload of the other collective was used. The buffer
 * refuses further work until {@link ElasticBuffer#cleanBuffer()} succeeds on every rank.
 */
public final class CollectiveMismatchException extends TokenRouteException {
    private static final long serialVersionUID = 1L;
    private final int rank;
    private final int peer;

    /**
     * @param rank the rank that found the mismatch
     * @param mine the collective it was in
     * @param peer the peer in another collective
     * @param theirs that peer's collective
     * @param sequence the collective sequence number both were at
     */
    public CollectiveMismatchException(int rank, String mine, int peer, String theirs, long sequence) {
        super("rank " + rank + " called " + mine + " while peer rank " + peer + " called " + theirs
                + " at the same point (collective #" + (sequence & 0xffff_ffffL) + " of generation " + (sequence >>> 32)
                + "): every rank must call the collectives in the same order; call cleanBuffer() on every rank");
        this.rank = rank;
        this.peer = peer;
    }

    /** The rank that found the mismatch. */
    public int rank() {
        return rank;
    }

    /** The peer that called another collective. */
    public int peer() {
        return peer;
    }
}
