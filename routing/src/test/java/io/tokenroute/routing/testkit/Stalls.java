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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/** Random stalls for the soak suites: a rank parks at a phase it armed for itself until the survivors are ready. */
public final class Stalls {
    private Stalls() {}

    /**
     * One injected stall: {@code victim} parks at the {@code skip + 1}-th report of {@code phase} in {@code step}
     * (streaming phases report once per chunk) and is readmitted at {@code back}; it is released when the
     * {@code survivorsReady} latch opens.
     */
    public record Stall(int step, int victim, Phase phase, int skip, int back, CountDownLatch survivorsReady) {}

    /** The phase listener that parks a rank at the stall it armed for itself. */
    public static final class Injector implements PhaseListener {
        private final AtomicReferenceArray<Stall> armed;
        private final int[] seen;
        private final AtomicInteger parkings = new AtomicInteger();

        public Injector(int ranks) {
            this.armed = new AtomicReferenceArray<>(ranks);
            this.seen = new int[ranks];
        }

        /** Called by {@code rank} itself before the step of {@code stall}. */
        public void arm(int rank, Stall stall) {
            seen[rank] = 0;
            armed.set(rank, stall);
        }

        /** How many times a rank parked. */
        public int parkings() {
            return parkings.get();
        }

        @Override
        public void onPhase(int rank, Phase phase, long step) {
            Stall stall = armed.get(rank);
            if (stall == null || stall.phase() != phase || seen[rank]++ < stall.skip()) {
                return;
            }
            armed.set(rank, null);
            parkings.incrementAndGet();
            try {
                stall.survivorsReady().await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
