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
 * A peer did not answer within the timeout in non-elastic mode. The buffer refuses further work until
 * {@link ElasticBuffer#cleanBuffer()} succeeds.
 */
public final class PeerTimeoutException extends TokenRouteException {
    private static final long serialVersionUID = 1L;
    private final int rank;
    private final int[] peers;
    private final Phase phase;

    /**
     * @param rank the rank that waited
     * @param peers the peers still silent at the timeout, ascending (at least one)
     * @param phase where
     * @param timeoutNanos the timeout that expired
     */
    public PeerTimeoutException(int rank, int[] peers, Phase phase, long timeoutNanos) {
        super("rank " + rank + ": peer rank" + (peers.length > 1 ? "s " : " ")
                + java.util.Arrays.toString(peers).replaceAll("[\\[\\]]", "") + " did not answer within "
                + (timeoutNanos / 1_000_000.0) + " ms in phase " + phase + " (elastic mode is off, so the operation"
                + " fails instead of masking; call cleanBuffer() on every rank before the next operation)");
        this.rank = rank;
        this.peers = peers.clone();
        this.phase = phase;
    }

    /** The rank that waited. */
    public int rank() {
        return rank;
    }

    /** The first (lowest) peer that did not answer. */
    public int peer() {
        return peers[0];
    }

    /** Every peer still silent at the timeout, ascending. */
    public int[] peers() {
        return peers.clone();
    }

    /** Where it happened. */
    public Phase phase() {
        return phase;
    }
}
