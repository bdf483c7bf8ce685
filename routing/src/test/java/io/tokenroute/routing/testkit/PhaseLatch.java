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
package io.tokenroute.routing.testkit;

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseListener;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Opens once every one of the given ranks has reached {@code phase} for the {@code occurrence}-th time (1-based):
 * "all survivors are inside this wait now", without sleeping. Never blocks the ranks.
 */
public final class PhaseLatch implements PhaseListener {
    private final Phase phase;
    private final int occurrence;
    private final boolean[] watched;
    private final AtomicIntegerArray seen;
    private final CountDownLatch latch;

    /**
     * @param ranks R, the group size
     * @param watchedRanks the ranks to wait for
     */
    public PhaseLatch(int ranks, Phase phase, int occurrence, int... watchedRanks) {
        this.phase = phase;
        this.occurrence = occurrence;
        this.watched = new boolean[ranks];
        for (int r : watchedRanks) {
            watched[r] = true;
        }
        this.seen = new AtomicIntegerArray(ranks);
        this.latch = new CountDownLatch(watchedRanks.length);
    }

    @Override
    public void onPhase(int rank, Phase reached, long step) {
        if (reached == phase && watched[rank] && seen.incrementAndGet(rank) == occurrence) {
            latch.countDown();
        }
    }

    /** Waits until every watched rank got there; false if not within {@code bound}. */
    public boolean await(Duration bound) throws InterruptedException {
        return latch.await(bound.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Both listeners, in order. */
    public static PhaseListener both(PhaseListener first, PhaseListener second) {
        return (rank, reached, step) -> {
            first.onPhase(rank, reached, step);
            second.onPhase(rank, reached, step);
        };
    }
}
