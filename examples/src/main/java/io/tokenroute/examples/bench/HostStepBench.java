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
package io.tokenroute.examples.bench;

import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * What the host-transport step benchmarks share: R ranks (rank 0 on the JMH thread, the others on worker threads
 * released per invocation), one collective step per invocation, and in the same run a memcpy of the bytes a step moves,
 * per rank, by the same threads, so the ratio of the two times is the fraction of memcpy bandwidth the step reaches.
 * Rank 0 times its dispatch and its combine; JMH reports the sums as the secondary results {@code dispatchNanos},
 * {@code combineNanos} and {@code steps} (divide by {@code steps}).
 */
@State(Scope.Benchmark)
public abstract class HostStepBench {
    private static final int STEP = 1;
    private static final int MEMCPY = 2;

    private RankWorkers workers;
    private ArrowBuf[] copySrc;
    private ArrowBuf[] copyDst;
    private long[] copyBytes;
    private long dispatchNanos;
    private long combineNanos;

    /** Rank 0's time in each phase, summed over an iteration (secondary results). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class PhaseTimes {
        public long dispatchNanos;
        public long combineNanos;
        public long steps;
    }

    /** Rank {@code rank}'s dispatch of one step. */
    protected abstract void dispatch(int rank);

    /** Rank {@code rank}'s combine of the step it dispatched last. */
    protected abstract void combine(int rank);

    /** Bytes rank {@code rank}'s step moves (read after one step ran on every rank). */
    protected abstract long bytesMoved(int rank);

    /**
     * Starts the rank threads, runs one step on every rank, and prepares the memcpy of each rank's bytes.
     *
     * @return the bytes one step moves over all ranks
     */
    protected final long startRanks(int ranks, BufferAllocator allocator) {
        workers = new RankWorkers(ranks, this::run);
        workers.runAll(STEP);
        copySrc = new ArrowBuf[ranks];
        copyDst = new ArrowBuf[ranks];
        copyBytes = new long[ranks];
        long total = 0;
        for (int r = 0; r < ranks; r++) {
            copyBytes[r] = bytesMoved(r);
            total += copyBytes[r];
            copySrc[r] = allocator.buffer(copyBytes[r]);
            copyDst[r] = allocator.buffer(copyBytes[r]);
            MemoryUtil.setMemory(copySrc[r].memoryAddress(), copyBytes[r], (byte) 0x3C);
        }
        return total;
    }

    /** Stops the rank threads and frees the memcpy buffers. */
    protected final void stopRanks() {
        workers.close();
        for (int r = 0; r < copySrc.length; r++) {
            copySrc[r].close();
            copyDst[r].close();
        }
    }

    private void run(int rank, int op) {
        if (op == STEP) {
            long t0 = System.nanoTime();
            dispatch(rank);
            long t1 = System.nanoTime();
            combine(rank);
            if (rank == 0) {
                dispatchNanos = t1 - t0;
                combineNanos = System.nanoTime() - t1;
            }
        } else {
            MemoryUtil.copyMemory(copySrc[rank].memoryAddress(), copyDst[rank].memoryAddress(), copyBytes[rank]);
        }
    }

    /** One step (dispatch, then zero-copy combine) on every rank. */
    @Benchmark
    public void step(PhaseTimes times) {
        workers.runAll(STEP);
        times.dispatchNanos += dispatchNanos;
        times.combineNanos += combineNanos;
        times.steps++;
    }

    /** A memcpy of the bytes one step moves, per rank, on the same threads. */
    @Benchmark
    public void memcpySameBytes() {
        workers.runAll(MEMCPY);
    }

    /** Ranks 1..R-1 on their own threads, released together with rank 0 (the caller) for one operation. */
    static final class RankWorkers implements AutoCloseable {
        interface Op {
            void run(int rank, int op);
        }

        private final Thread[] threads;
        private final Op body;
        private volatile int generation;
        private volatile int op;
        private final AtomicInteger done = new AtomicInteger();
        private volatile boolean closed;

        RankWorkers(int ranks, Op body) {
            this.body = body;
            this.threads = new Thread[ranks - 1];
            for (int r = 1; r < ranks; r++) {
                int rank = r;
                threads[r - 1] = new Thread(() -> loop(rank), "bench-rank-" + r);
                threads[r - 1].setDaemon(true);
                threads[r - 1].start();
            }
        }

        private void loop(int rank) {
            int seen = 0;
            while (!closed) {
                int g = generation;
                if (g == seen) {
                    Thread.onSpinWait();
                    Thread.yield();
                    continue;
                }
                seen = g;
                body.run(rank, op);
                done.incrementAndGet();
            }
        }

        void runAll(int operation) {
            done.set(0);
            op = operation;
            generation++;
            body.run(0, operation);
            while (done.get() < threads.length) {
                Thread.onSpinWait();
                Thread.yield();
            }
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
