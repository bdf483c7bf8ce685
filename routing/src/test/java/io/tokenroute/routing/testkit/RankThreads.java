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

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs one body per rank, each on its own thread, and fails loudly when one throws or hangs past a bound. */
public final class RankThreads {
    private RankThreads() {}

    /** Work of one rank. */
    @FunctionalInterface
    public interface RankBody {
        void run(int rank) throws Exception;
    }

    /**
     * Runs {@code body} for ranks {@code 0..ranks-1} concurrently. Waits for the {@code checked} ranks (null = all) and
     * reports their failures; then runs {@code releaseOthers} (e.g. lets a parked victim go) and waits for the other
     * ranks too, ignoring how they end, so that nothing still runs when the caller frees the group's memory.
     *
     * @param bound how long the ranks may take in total before the test fails as a hang
     */
    public static void run(int ranks, boolean[] checked, Runnable releaseOthers, Duration bound, RankBody body) {
        ExecutorService pool = Executors.newFixedThreadPool(ranks, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        List<Future<?>> futures = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            futures.add(pool.submit(() -> {
                Thread.currentThread().setName("rank-" + rank);
                body.run(rank);
                return null;
            }));
        }
        pool.shutdown();
        long deadline = System.nanoTime() + bound.toNanos();
        try {
            try {
                awaitRanks(futures, checked, true, deadline, bound);
            } finally {
                releaseOthers.run();
            }
            if (checked != null) {
                boolean[] others = new boolean[ranks];
                for (int r = 0; r < ranks; r++) {
                    others[r] = !checked[r];
                }
                awaitRanks(futures, others, false, deadline + bound.toNanos(), bound);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void awaitRanks(
            List<Future<?>> futures, boolean[] which, boolean report, long deadline, Duration bound)
            throws InterruptedException {
        for (int r = 0; r < futures.size(); r++) {
            if (which != null && !which[r]) {
                continue;
            }
            try {
                futures.get(r).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                throw hang(futures, r, bound);
            } catch (ExecutionException e) {
                if (!report) {
                    continue;
                }
                Throwable cause = e.getCause();
                AssertionError failure = cause instanceof AssertionError a
                        ? a
                        : new AssertionError("rank " + r + " failed: " + cause, cause);
                attachOtherFailures(futures, r, failure);
                throw failure;
            }
        }
    }

    /** Adds, as suppressed, how the other ranks that already ended with an exception failed (often the cause). */
    private static void attachOtherFailures(List<Future<?>> futures, int r, Throwable failure) {
        for (int other = 0; other < futures.size(); other++) {
            Future<?> f = futures.get(other);
            if (other != r && f.isDone()) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    failure.addSuppressed(
                            new AssertionError("rank " + other + " failed too: " + e.getCause(), e.getCause()));
                } catch (InterruptedException | java.util.concurrent.CancellationException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** A hang of rank {@code r}, with the failure of another rank that ended meanwhile (often its cause) attached. */
    private static AssertionError hang(List<Future<?>> futures, int r, Duration bound) {
        for (int other = 0; other < futures.size(); other++) {
            Future<?> f = futures.get(other);
            if (other != r && f.isDone()) {
                try {
                    f.get();
                } catch (ExecutionException | InterruptedException | java.util.concurrent.CancellationException e) {
                    Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                    return new AssertionError(
                            "rank " + r + " did not finish within " + bound + " (hang); rank " + other + " had failed: "
                                    + cause,
                            cause);
                }
            }
        }
        return new AssertionError("rank " + r + " did not finish within " + bound + " (hang)");
    }

    /** {@link #run(int, boolean[], Runnable, Duration, RankBody)} checking every rank. */
    public static void run(int ranks, Duration bound, RankBody body) {
        run(ranks, null, () -> {}, bound, body);
    }
}
