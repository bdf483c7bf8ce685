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
package io.tokenroute.examples.route;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.examples.python.DeviceTokenBatch;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.util.AutoCloseables;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * Dispatch → identity experts → combine for the ranks an {@link ElasticGroup} hosts, whatever its transport, one thread
 * per rank: batch {@code i} is rank {@code i mod R}'s input in round {@code i div R}, a rank without a batch in a round
 * takes part with zero tokens. The identity experts copy each received row into its expert-output row (zero-copy
 * combine): in place in host memory, or with a CUDA device-to-device copy ordered after the dispatch's ready event.
 * Where the buffers want device memory the rank's input batches are copied there before any rank starts, and freed
 * after every rank ended (a {@code cudaFree} synchronises the device, peers' kernels included). The results reach the
 * host through {@link Combined#copyHiddenTo} and {@link Combined#copyLostWeightTo}, which never let the CPU read device
 * memory.
 */
final class IdentityRoute {
    /**
     * What the ranks of this process returned.
     *
     * @param hidden per input batch, the combine output's bf16 bits {@code [n][H]}; null for batches of ranks elsewhere
     * @param lostWeight per input batch, {@code lost_weight [n]}; null likewise
     * @param masked per rank, whether a rank of this process masked it
     */
    record Results(short[][] hidden, float[][] lostWeight, boolean[] masked) {}

    /** Work of one rank. */
    @FunctionalInterface
    private interface RankBody {
        void run(int rank) throws Exception;
    }

    private IdentityRoute() {}

    /**
     * Routes every batch of the group's local ranks.
     *
     * @param input the input file, named in the errors of a batch that dispatch refuses
     * @param allocator pays for the zero-token batches and any device copies of the inputs
     * @param hangBound how long the ranks may take in all
     */
    static Results run(
            ElasticGroup group, List<TokenBatch> batches, Path input, BufferAllocator allocator, Duration hangBound)
            throws IOException {
        int ranks = group.ranks();
        int n = batches.size();
        int rounds = (n + ranks - 1) / ranks;
        TokenBatch first = batches.get(0);
        Results results = new Results(new short[n][], new float[n][], new boolean[ranks]);
        int[] local = group.localRanks();
        MemoryLocation location = group.buffer(local[0]).location();
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            TokenBatch none = TokenBatch.fromFloats(
                    allocator,
                    first.dtype(),
                    first.hiddenSize(),
                    new float[0],
                    first.topK(),
                    new long[0],
                    new float[0]);
            owned.add(none);
            Inputs inputs = location.isCpuAccessible()
                    ? new Inputs(batches, none, null, null)
                    : Inputs.onDevice(location, batches, none, local, ranks, allocator, owned);
            runRanks(local, hangBound, rank -> {
                ElasticBuffer buffer = group.buffer(rank);
                CudaStream stream = inputs.streams == null ? null : inputs.streams[rank];
                if (inputs.device != null) {
                    inputs.device.makeCurrent();
                }
                for (int round = 0; round < rounds; round++) {
                    int i = round * ranks + rank;
                    TokenBatch batch = i < n ? inputs.batches.get(i) : inputs.none;
                    Combined c;
                    try {
                        c = routeIdentity(buffer, batch, stream);
                    } catch (IllegalArgumentException e) {
                        throw new RouteFileException(input, "batch " + i + ": " + e.getMessage(), e);
                    }
                    if (i < n) {
                        results.hidden[i] = new short[c.numTokens() * first.hiddenSize()];
                        c.copyHiddenTo(results.hidden[i]);
                        results.lostWeight[i] = new float[c.numTokens()];
                        c.copyLostWeightTo(results.lostWeight[i]);
                    }
                }
                int[] mask = buffer.queryMask();
                synchronized (results.masked) {
                    for (int r = 0; r < ranks; r++) {
                        results.masked[r] |= mask[r] != 0;
                    }
                }
            });
        } finally {
            Collections.reverse(owned);
            closeAll(owned);
        }
        return results;
    }

    /** One dispatch → identity experts (each output row is its received row) → combine. */
    private static Combined routeIdentity(ElasticBuffer buffer, TokenBatch batch, CudaStream stream) {
        Dispatched d = buffer.dispatch(batch);
        long rowBytes = 2L * buffer.config().hidden();
        if (stream != null && d.readyEvent() != null) {
            stream.waitFor(d.readyEvent());
        }
        for (int l = 0; l < d.numLocalExperts(); l++) {
            FixedSizeListVector rows = (FixedSizeListVector) d.expert(l).getVector(TokenBatchSchema.HIDDEN);
            long from = rows.getDataVector().getDataBuffer().memoryAddress();
            long bytes = rowBytes * d.recvCount(l);
            if (bytes == 0) {
                continue;
            }
            if (stream == null) {
                MemoryUtil.copyMemory(from, d.expertOutputAddress(l), bytes);
            } else {
                Memcpy.deviceToDevice(d.expertOutputAddress(l), from, bytes, stream);
            }
        }
        if (stream != null) {
            stream.synchronize();
        }
        return buffer.combine(d, batch);
    }

    /**
     * The batches the ranks dispatch: the input itself on host transports; on device transports copies in device
     * memory (null for batches of ranks elsewhere), with the device and one stream per local rank for the experts'
     * copies.
     */
    private record Inputs(List<TokenBatch> batches, TokenBatch none, CudaDevice device, CudaStream[] streams) {
        static Inputs onDevice(
                MemoryLocation location,
                List<TokenBatch> host,
                TokenBatch hostNone,
                int[] local,
                int ranks,
                BufferAllocator allocator,
                List<AutoCloseable> owned) {
            CudaDevice device = CudaDevice.open(location.deviceId());
            owned.add(device);
            boolean[] mine = new boolean[ranks];
            CudaStream[] streams = new CudaStream[ranks];
            for (int r : local) {
                mine[r] = true;
                streams[r] = CudaStream.create();
                owned.add(streams[r]);
            }
            List<TokenBatch> copies = new ArrayList<>();
            for (int i = 0; i < host.size(); i++) {
                copies.add(mine[i % ranks] ? upload(allocator, device, host.get(i), owned) : null);
            }
            return new Inputs(copies, upload(allocator, device, hostNone, owned), device, streams);
        }

        /** A device copy of {@code host}, complete when this returns. */
        private static TokenBatch upload(
                BufferAllocator allocator, CudaDevice device, TokenBatch host, List<AutoCloseable> owned) {
            DeviceTokenBatch copy = DeviceTokenBatch.upload(allocator, device, host);
            owned.add(copy);
            copy.readyEvent().synchronize();
            return copy.batch();
        }
    }

    /** Runs one thread per rank and rethrows the first failure; the group outlives every thread. */
    private static void runRanks(int[] ranks, Duration hangBound, RankBody body) throws IOException {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int rank : ranks) {
            Thread t = new Thread(
                    () -> {
                        try {
                            body.run(rank);
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                        }
                    },
                    "route-rank-" + rank);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + hangBound.toNanos();
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while routing", e);
            }
            if (t.isAlive()) {
                throw new IllegalStateException(t.getName() + " did not finish within " + hangBound);
            }
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e instanceof IOException io) {
            throw io;
        }
        if (e != null) {
            throw new IllegalStateException("a rank failed: " + e, e);
        }
    }

    private static void closeAll(List<AutoCloseable> owned) {
        try {
            AutoCloseables.close(owned);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("freeing the route's inputs failed", e);
        }
    }
}
