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

import java.time.Duration;
import java.util.List;

/**
 * The failure detector's state on one rank ({@link ElasticBuffer#healthReport()}).
 *
 * <p>The <em>local health multiplier</em> (after SWIM's Lifeguard) counts recent evidence that this rank's own waits
 * were descheduled (the CPU is oversubscribed): while it is above 0 the rank stretches its timeout to
 * {@code timeout × (1 + multiplier)} instead of blaming peers that starve just like itself. It decays by one after a
 * run of waits that were never descheduled.
 *
 * @param rank this rank
 * @param timeout the configured per-peer timeout
 * @param localHealthMultiplier 0 on a healthy host, up to {@link #MAX_LOCAL_HEALTH_MULTIPLIER}
 * @param peers one entry per rank (this rank's own entry is all zeros)
 */
public record HealthReport(int rank, Duration timeout, int localHealthMultiplier, List<PeerHealth> peers) {
    /** The largest multiplier: a starving host waits at most five timeouts before it suspects a peer. */
    public static final int MAX_LOCAL_HEALTH_MULTIPLIER = 4;

    public HealthReport {
        peers = List.copyOf(peers);
    }

    /**
     * The longest a dead peer can stay unmasked, in waiting time this rank observed after the peer's last sign of life:
     * suspicion after {@code timeout × (1 + MAX_LOCAL_HEALTH_MULTIPLIER)}, then a second look of a quarter of that.
     * On a host whose waits are not descheduled (multiplier 0) it is {@code 1.25 × timeout}.
     */
    public static Duration worstCaseDetection(Duration timeout) {
        long suspect = timeout.toNanos() * (1L + MAX_LOCAL_HEALTH_MULTIPLIER);
        return Duration.ofNanos(suspect + (suspect >> 2));
    }

    /** The timeout after which a silent peer is suspected now: {@code timeout × (1 + multiplier)}. */
    public Duration effectiveTimeout() {
        return timeout.multipliedBy(1L + localHealthMultiplier);
    }
}
