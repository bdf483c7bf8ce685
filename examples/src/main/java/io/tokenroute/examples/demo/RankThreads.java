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
package io.tokenroute.examples.demo;

import io.tokenroute.routing.ElasticGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.util.AutoCloseables;

/**
 * The one way the demo drives a group, whatever its transport: one {@link RankLoop} per rank this process hosts
 * ({@link ElasticGroup#localRanks()}), each on a thread of its own, as {@link io.tokenroute.routing.ElasticBuffer}
 * requires. That is every rank on {@code local} and {@code cuda-local}, and this process's one rank on {@code shm} and
 * {@code nvshmem} ({@link DemoRankProcess}).
 *
 * <p>Everything a rank needs (its batches, its host copies of device results) is made before any thread starts and
 * freed after every thread ended, so no rank allocates or frees while its peers wait for it.
 */
final class RankThreads {
    private RankThreads() {}

    /**
     * Runs every step on every rank {@code group} hosts and waits for them: first for the ranks still running at the
     * end, then, after releasing the stopped ones ({@link FaultInjector#releaseAll}), for those too.
     *
     * @param allocator pays for the ranks' batches and host copies (a child allocator per rank, closed here)
     * @return false if a rank thread was still running after {@code hangBound}: its loop and allocator are then left
     *     open, since the thread might still touch them
     */
    static boolean run(
            ElasticGroup group,
            DemoConfig config,
            SyntheticModel model,
            BlockExperts experts,
            FaultInjector faults,
            DemoRecorder recorder,
            BufferAllocator allocator,
            Duration hangBound) {
        int[] ranks = group.localRanks();
        List<AutoCloseable> owned = new ArrayList<>();
        RankLoop[] loops = new RankLoop[ranks.length];
        try {
            for (int i = 0; i < ranks.length; i++) {
                BufferAllocator mine = allocator.newChildAllocator("demo-rank-" + ranks[i], 0, Long.MAX_VALUE);
                owned.add(0, mine);
                loops[i] =
                        new RankLoop(ranks[i], config, group.buffer(ranks[i]), mine, model, experts, faults, recorder);
                owned.add(0, loops[i]);
            }
        } catch (RuntimeException | Error e) {
            closeAll(owned);
            throw e;
        }
        Thread[] threads = new Thread[ranks.length];
        for (int i = 0; i < ranks.length; i++) {
            threads[i] = new Thread(loops[i]::run, "rank-" + ranks[i]);
            threads[i].setDaemon(true);
        }
        for (Thread t : threads) {
            t.start();
        }
        if (!joinAll(ranks, threads, faults, config.stoppedAtEnd(), hangBound)) {
            return false;
        }
        closeAll(owned);
        return true;
    }

    /** Waits for the ranks running at the end, then releases the stopped ones and waits for them. */
    private static boolean joinAll(
            int[] ranks, Thread[] threads, FaultInjector faults, boolean[] stoppedAtEnd, Duration hangBound) {
        long deadline = System.nanoTime() + hangBound.toNanos();
        try {
            for (int i = 0; i < threads.length; i++) {
                if (!stoppedAtEnd[ranks[i]]) {
                    threads[i].join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                }
            }
            faults.releaseAll();
            for (Thread t : threads) {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            faults.releaseAll();
        }
        for (Thread t : threads) {
            if (t.isAlive()) {
                return false;
            }
        }
        return true;
    }

    /** Closes the loops and their allocators, each loop before its allocator. */
    private static void closeAll(List<AutoCloseable> owned) {
        try {
            AutoCloseables.close(owned);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("freeing the ranks' memory failed", e);
        }
    }
}
