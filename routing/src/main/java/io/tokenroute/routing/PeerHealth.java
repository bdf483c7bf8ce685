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

/**
 * The failure detector's view of one peer, from the waits of this rank (a straggler report: a slow peer shows here long
 * before anyone masks it). Times are wall-clock nanoseconds this rank spent waiting for the peer's data or flag.
 *
 * @param rank the peer
 * @param masked whether this rank masks it now
 * @param suspected whether the last wait on it ended, or is, in suspicion (silent past the effective timeout, not yet
 *     masked)
 * @param suspicions how often it was suspected since the buffer opened (each ended in a sign of life or a mask)
 * @param waits completed waits on it
 * @param lastWaitNanos the latest completed wait
 * @param maxWaitNanos the longest completed wait
 * @param totalWaitNanos all completed waits together
 */
public record PeerHealth(
        int rank,
        boolean masked,
        boolean suspected,
        long suspicions,
        long waits,
        long lastWaitNanos,
        long maxWaitNanos,
        long totalWaitNanos) {

    /** Mean wait, 0 before the first. */
    public double meanWaitNanos() {
        return waits == 0 ? 0 : (double) totalWaitNanos / waits;
    }
}
