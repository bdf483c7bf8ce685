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
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fault injection: rank {@code rank}'s thread parks the {@code occurrence}-th time (1-based) it reaches {@code phase},
 * until {@link #release()} — a rank that stops (never released during the test) or stalls (released later). Tests can
 * also wait until it parked, to act exactly while a rank is inside a call, with latches instead of sleeps.
 */
public final class ParkAt implements PhaseListener {
    private final int rank;
    private final Phase phase;
    private final int occurrence;
    private final AtomicInteger seen = new AtomicInteger();
    private final CountDownLatch parked = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    public ParkAt(int rank, Phase phase, int occurrence) {
        this.rank = rank;
        this.phase = phase;
        this.occurrence = occurrence;
    }

    @Override
    public void onPhase(int reachedRank, Phase reached, long step) {
        if (reachedRank == rank && reached == phase && seen.incrementAndGet() == occurrence) {
            parked.countDown();
            boolean interrupted = false;
            while (true) {
                try {
                    release.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits until the rank has parked; false if it did not within {@code bound}. */
    public boolean awaitParked(Duration bound) throws InterruptedException {
        return parked.await(bound.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Whether the rank has parked (it may have been released since). */
    public boolean hasParked() {
        return parked.getCount() == 0;
    }

    /** Lets the rank go on (idempotent; also lets it pass without parking if it has not arrived yet). */
    public void release() {
        release.countDown();
    }
}
