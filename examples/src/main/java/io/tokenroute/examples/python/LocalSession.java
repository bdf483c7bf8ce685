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
package io.tokenroute.examples.python;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.arrow.cdata.ExportedStream;
import io.tokenroute.arrow.cdata.HostExport;
import io.tokenroute.arrow.stream.RecordBatchQueue;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.TransportSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * A {@code local} group (R ranks as threads of this JVM) driven from ONE caller thread: Python through JPype, a
 * notebook cell, a script. {@link ElasticBuffer} needs one thread per rank, since ranks wait for each other inside a
 * call; this session keeps one Java thread per rank and runs each collective call on all of them, returning when
 * every rank finished.
 *
 * <pre>{@code
 * try (LocalSession s = LocalSession.open(4, 16, 64, 32, 4, 200)) {
 *     List<TokenBatch> batches = ...;                        // one per rank, from s.batch(...) or s.importBatch(...)
 *     StepResult step = s.step(batches, Experts.IDENTITY);   // dispatch → experts → combine on 4 threads
 *     ExportedBatch out = step.exportCombined(0);            // rank 0's combine output, zero-copy, C Data Interface
 * }
 * }</pre>
 *
 * <p><b>Failures.</b> A {@code null} batch leaves that rank out of a call, as if it had died: in elastic mode the
 * others mask it after the timeout and complete without it ({@link StepResult#newlyMasked(int)},
 * {@link StepResult#lostWeights(int)}). A left-out or masked rank must be {@link #readmit readmitted} before it takes
 * part again.
 *
 * <p><b>Results</b> are views of the ranks' receive and output memory, valid until the next dispatch (rows) or combine
 * (outputs): see {@link StepResult}. Exports ({@link #export}, {@link StepResult#exportCombined}) keep the memory they
 * point at alive: {@link #close()} is <em>deferred</em> while any consumer (pyarrow, numpy, a Java importer) still
 * holds an exported array, and completes on the last release, so a consumer never reads freed memory.
 *
 * <p><b>Streams.</b> {@link #streamCombined(int)} collects a rank's combine outputs of the following steps into one
 * stream of record batches, handed to Arrow consumers through the C Stream Interface ({@link #exportStream}) or as an
 * IPC stream ({@link io.tokenroute.arrow.ipc.IpcStreams#copy}).
 *
 * <p><b>Memory.</b> One {@link RootAllocator} per session with three children: the group (shared and per-rank memory),
 * inputs ({@link #allocator()}: batches made or imported here) and exports (the C structs, the exporter's
 * bookkeeping and streamed copies, non-empty exactly while an export or an unread stream batch is alive). Not
 * thread-safe: one caller thread at a time (a stream may be read from another thread).
 */
public final class LocalSession implements AutoCloseable {
    private static final Duration MIN_HANG_BOUND = Duration.ofSeconds(60);
    private static final Duration READMIT_TIMEOUT = Duration.ofSeconds(10);

    private final BufferConfig config;
    private final RootAllocator root;
    private final BufferAllocator groupAllocator;
    private final BufferAllocator inputs;
    private final BufferAllocator exports;
    private final ElasticGroup group;
    private final ExecutorService[] rankThreads;
    private final Duration hangBound;
    /** Ranks that were left out of a call or masked by a peer, and were not readmitted since. */
    private final boolean[] needsReadmit;

    private final Object closeLock = new Object();
    private long steps;
    private StepResult current;
    /** Why the session refuses further calls: a rank call failed or hung. */
    private RuntimeException failed;
    /** A rank call outlived the hang bound: the group's memory must not be freed. */
    private boolean hung;
    /** Streams of combine outputs, until they end. */
    private final CombinedStreams streams;

    private volatile boolean closeRequested;
    private boolean closed;
    private RuntimeException closeFailure;

    /**
     * A session over a group built from {@code config} ({@code rank} is ignored).
     *
     * @param config the group's configuration
     */
    public LocalSession(BufferConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.root = new RootAllocator();
        this.groupAllocator = root.newChildAllocator("group", 0, Long.MAX_VALUE);
        this.inputs = root.newChildAllocator("inputs", 0, Long.MAX_VALUE);
        this.exports = root.newChildAllocator(
                "exports",
                new AllocationListener() {
                    @Override
                    public void onRelease(long size) {
                        exportReleased();
                    }
                },
                0,
                Long.MAX_VALUE);
        this.streams = new CombinedStreams(exports);
        try {
            this.group = ElasticGroup.open(TransportSpec.LOCAL, config, groupAllocator);
        } catch (RuntimeException e) {
            exports.close();
            inputs.close();
            groupAllocator.close();
            root.close();
            throw e;
        }
        this.rankThreads = new ExecutorService[config.ranks()];
        for (int r = 0; r < rankThreads.length; r++) {
            String name = "tokenroute-rank-" + r;
            rankThreads[r] = Executors.newSingleThreadExecutor(task -> {
                Thread t = new Thread(task, name);
                t.setDaemon(true);
                return t;
            });
        }
        long bound = Math.max(MIN_HANG_BOUND.toMillis(), 100 * config.timeout().toMillis());
        this.hangBound = Duration.ofMillis(bound);
        this.needsReadmit = new boolean[config.ranks()];
    }

    /**
     * A bf16, elastic session: the shape most callers need, with plain arguments (handy from Python).
     *
     * @param ranks R
     * @param experts E, a multiple of R ({@code E / R} local experts per rank)
     * @param hidden H
     * @param maxTokensPerRank T, the most tokens one rank dispatches per step
     * @param maxTopK the largest k
     * @param timeoutMillis the per-peer wait timeout; a left-out rank costs the others this long
     */
    public static LocalSession open(
            int ranks, int experts, int hidden, int maxTokensPerRank, int maxTopK, long timeoutMillis) {
        return new LocalSession(BufferConfig.builder()
                .ranks(ranks)
                .experts(experts)
                .hidden(hidden)
                .maxTokensPerRank(maxTokensPerRank)
                .maxTopK(maxTopK)
                .dtype(HiddenDtype.BF16)
                .elastic(true)
                .timeout(Duration.ofMillis(timeoutMillis))
                .build());
    }

    // ------------------------------------------------------------------------------------------------ shape

    /** The group's configuration (rank 0's). */
    public BufferConfig config() {
        return config;
    }

    /** R. */
    public int ranks() {
        return config.ranks();
    }

    /** L = E / R, local experts per rank. */
    public int localExperts() {
        return config.localExperts();
    }

    /** Rank {@code r}'s buffer, for calls this class does not wrap; only from inside a rank's own thread. */
    public ElasticBuffer buffer(int r) {
        ensureOpen();
        return group.buffer(r);
    }

    // ------------------------------------------------------------------------------------------------ inputs

    /**
     * The allocator for input batches ({@link TokenBatch} factories). Close every batch made with it before the
     * session.
     */
    public BufferAllocator allocator() {
        ensureOpen();
        return inputs;
    }

    /**
     * A host token batch of the session's dtype and H from Java arrays ({@code n = x.length / H} tokens); the caller
     * closes it.
     *
     * @param x row-major {@code [n][H]} values, rounded to the session's dtype (bf16: to nearest even)
     * @param topkIdx row-major {@code [n][k]} expert ids, {@code -1} = none
     * @param topkWeights row-major {@code [n][k]} weights
     * @param topK k
     */
    public TokenBatch batch(float[] x, long[] topkIdx, float[] topkWeights, int topK) {
        return TokenBatch.fromFloats(allocator(), config.dtype(), config.hidden(), x, topK, topkIdx, topkWeights);
    }

    /** A bf16 host token batch from raw bf16 bits ({@code [n][H]}); the caller closes it. */
    public TokenBatch batchFromBf16Bits(short[] bits, long[] topkIdx, float[] topkWeights, int topK) {
        return TokenBatch.fromBf16Bits(allocator(), config.hidden(), bits, topK, topkIdx, topkWeights);
    }

    /**
     * Imports a record batch that another library exported through the C Data Interface (pyarrow's
     * {@code batch._export_to_c(array_ptr, schema_ptr)}) as a host token batch, without copying. The caller closes
     * the batch; closing it calls the producer's release callback.
     *
     * @see HostExport#importBatch
     */
    public TokenBatch importBatch(long arrayAddress, long schemaAddress) {
        return HostExport.importBatch(allocator(), arrayAddress, schemaAddress);
    }

    // ------------------------------------------------------------------------------------------------ steps

    /** {@link #step(List, Experts, DispatchOptions)} with bf16 rows. */
    public StepResult step(List<TokenBatch> perRank, Experts experts) {
        return step(perRank, experts, DispatchOptions.BF16);
    }

    /**
     * One decode step on every rank with a batch: dispatch, {@code experts} on each rank's thread, combine.
     *
     * @param perRank one entry per rank; {@code null} leaves the rank out (it is masked by the others)
     * @param experts the expert computation, e.g. {@link Experts#IDENTITY}
     * @param options dispatch options, equal for every rank
     * @return the step's results (dispatched rows and combine outputs), valid until the next step
     * @throws IllegalArgumentException on bad input, or a batch for a rank that must be readmitted first
     * @throws IllegalStateException if a rank's call failed (the message names every failing rank)
     */
    public StepResult step(List<TokenBatch> perRank, Experts experts, DispatchOptions options) {
        Objects.requireNonNull(experts, "experts");
        StepResult result = dispatch(perRank, options, experts);
        return combine(result);
    }

    /** {@link #dispatch(List, DispatchOptions)} with bf16 rows. */
    public StepResult dispatch(List<TokenBatch> perRank) {
        return dispatch(perRank, DispatchOptions.BF16);
    }

    /**
     * Dispatch only: every rank with a batch dispatches on its thread. Then write the expert outputs
     * ({@link StepResult#expertOutputAddress}) and call {@link #combine(StepResult)}.
     *
     * @param perRank one entry per rank, {@code null} to leave it out; the batches must stay open until the combine
     * @return the step's result, valid until the next dispatch
     */
    public StepResult dispatch(List<TokenBatch> perRank, DispatchOptions options) {
        return dispatch(perRank, options, Experts.NONE);
    }

    private StepResult dispatch(List<TokenBatch> perRank, DispatchOptions options, Experts experts) {
        ensureUsable();
        Objects.requireNonNull(options, "options");
        int ranks = config.ranks();
        if (perRank == null || perRank.size() != ranks) {
            throw new IllegalArgumentException("need one batch (or null) per rank: " + ranks + " entries, got "
                    + (perRank == null ? "null" : perRank.size()));
        }
        if (current != null && current.isOpen()) {
            throw new IllegalStateException(
                    "step " + current.step() + " was dispatched but not combined yet; call " + "combine first");
        }
        TokenBatch[] batches = perRank.toArray(new TokenBatch[0]);
        for (int r = 0; r < ranks; r++) {
            if (batches[r] != null && needsReadmit[r]) {
                throw new IllegalArgumentException("rank " + r + " was left out of an earlier call or masked by a peer;"
                        + " readmit(" + r + ") before giving it a batch again (or pass null for it)");
            }
            if (batches[r] != null) {
                checkBatch(r, batches[r]);
            }
        }
        StepResult result = new StepResult(this, ++steps, batches);
        current = result;
        long start = System.nanoTime();
        runOnRanks("dispatch", result.participants(), r -> {
            Dispatched d = group.buffer(r).dispatch(batches[r], options);
            experts.compute(r, d);
            result.dispatched(r, d);
        });
        result.dispatchNanos(System.nanoTime() - start);
        noteMasks(result);
        return result;
    }

    /**
     * Combine of a {@link #dispatch}ed step: every rank that dispatched combines on its thread, with its expert outputs
     * as they are in the combine-send memory and the routing weights of the batch it dispatched.
     *
     * @return {@code result}, now holding the combine outputs (valid until the next combine)
     */
    public StepResult combine(StepResult result) {
        ensureUsable();
        if (result != current || !result.isOpen()) {
            throw new IllegalStateException(
                    "combine needs the latest dispatched, not yet combined step; got step " + result.step());
        }
        long start = System.nanoTime();
        try {
            runOnRanks("combine", result.participants(), r -> {
                Combined c = group.buffer(r).combine(result.dispatched(r), result.routing(r));
                result.combined(r, c);
            });
        } finally {
            result.markCombined();
        }
        result.combineNanos(System.nanoTime() - start);
        noteMasks(result);
        streams.append(result);
        return result;
    }

    /**
     * Collective {@code agreeMask} on every rank that is not waiting for readmission, so the survivors share one view.
     *
     * @return the agreed mask (1 = masked), as rank-wise equal results; ranks masked in it must be readmitted
     */
    public int[] agreeMask() {
        ensureUsable();
        boolean[] participants = active();
        int[][] views = new int[config.ranks()][];
        runOnRanks("agreeMask", participants, r -> views[r] = group.buffer(r).agreeMask());
        int[] agreed = null;
        for (int r = 0; r < views.length; r++) {
            if (views[r] != null) {
                if (agreed == null) {
                    agreed = views[r];
                } else if (!Arrays.equals(agreed, views[r])) {
                    throw new IllegalStateException("ranks disagree after agreeMask: " + Arrays.deepToString(views));
                }
            }
        }
        for (int r = 0; agreed != null && r < agreed.length; r++) {
            needsReadmit[r] |= agreed[r] != 0;
        }
        return agreed == null ? new int[config.ranks()] : agreed;
    }

    /**
     * Brings a left-out or masked rank back: it and every active rank call {@code readmit(rank)} on their threads.
     *
     * @return whether every participant readmitted it
     */
    public boolean readmit(int rank) {
        ensureUsable();
        if (rank < 0 || rank >= config.ranks()) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + config.ranks() + ")");
        }
        if (!needsReadmit[rank]) {
            throw new IllegalArgumentException(
                    "rank " + rank + " is active; only a left-out or masked rank is " + "readmitted");
        }
        boolean[] participants = active();
        participants[rank] = true;
        boolean[] ok = new boolean[config.ranks()];
        runOnRanks("readmit", participants, r -> ok[r] = group.buffer(r).readmit(rank, READMIT_TIMEOUT));
        boolean all = true;
        for (int r = 0; r < ok.length; r++) {
            all &= !participants[r] || ok[r];
        }
        if (all) {
            needsReadmit[rank] = false;
        }
        return all;
    }

    /** Ranks that were left out or masked and not readmitted since, ascending. */
    public int[] ranksToReadmit() {
        return java.util.stream.IntStream.range(0, needsReadmit.length)
                .filter(r -> needsReadmit[r])
                .toArray();
    }

    /** The latest step's result, or null before the first dispatch. */
    public StepResult current() {
        return current;
    }

    // ------------------------------------------------------------------------------------------------ streams

    /**
     * A stream of rank {@code rank}'s combine outputs ({@code hidden} bf16 {@code [n][H]}, {@code lost_weight}
     * float32): every later combine in which the rank takes part appends one batch. The output view is overwritten by
     * the next step, so each batch is a copy (one per step, accounted to the exports); from there on everything is
     * zero-copy: {@link #exportStream} hands the stream to a C Stream consumer ({@code pyarrow.RecordBatchReader},
     * DuckDB, Arrow Java's {@code Data.importArrayStream}), {@link io.tokenroute.arrow.ipc.IpcStreams#copy} writes it
     * as an IPC stream.
     *
     * <p>The stream ends with {@link RecordBatchQueue#finish()} or this session's {@link #close()}; a failed call ends
     * it with that failure, which its reader reports. A read waits for the next batch: read on this thread only what
     * was finished, or read from another thread while the steps run. Unread batches keep the session's close deferred
     * until the stream is released (an exported one) or the session closes (one never exported).
     *
     * @return the stream, an {@link org.apache.arrow.vector.ipc.ArrowReader}; its owner is whoever consumes it (or
     *     this session, until {@link #exportStream})
     */
    public RecordBatchQueue streamCombined(int rank) {
        ensureUsable();
        if (rank < 0 || rank >= config.ranks()) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + config.ranks() + ")");
        }
        return streams.open(rank, config.hidden());
    }

    /**
     * Exports a stream of {@link #streamCombined} through the Arrow C Stream Interface; from now on the consumer owns
     * the stream (its release closes it).
     *
     * @return the export; the caller closes it once the consumer imported (see {@link ExportedStream})
     */
    public ExportedStream exportStream(RecordBatchQueue stream) {
        ensureOpen();
        streams.markExported(stream);
        return HostExport.exportStream(exports, stream);
    }

    // ------------------------------------------------------------------------------------------------ exports

    /**
     * Exports any host record batch of this session (a result view, an input's root) through the C Data Interface,
     * accounted to the session's export allocator, so the session stays alive while a consumer holds it.
     *
     * @return the export; the caller closes it once the consumer imported (see {@link ExportedBatch})
     */
    public ExportedBatch export(VectorSchemaRoot batch) {
        ensureOpen();
        return HostExport.export(exports, batch);
    }

    /** Exports a host token batch (no null scan; see {@link HostExport#export(BufferAllocator, TokenBatch)}). */
    public ExportedBatch export(TokenBatch batch) {
        ensureOpen();
        return HostExport.export(exports, batch);
    }

    /** Bytes held by live exports: 0 exactly when no export struct is open and no consumer holds an exported array. */
    public long exportBytes() {
        return exports.getAllocatedMemory();
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /** Whether {@link #close()} was called (the memory may still be held by consumers: {@link #isClosed()}). */
    public boolean isCloseRequested() {
        return closeRequested;
    }

    /** Whether everything was freed. */
    public boolean isClosed() {
        synchronized (closeLock) {
            return closed;
        }
    }

    /** The error a deferred close ran into (e.g. an input batch left open), or null. */
    public RuntimeException closeFailure() {
        synchronized (closeLock) {
            return closeFailure;
        }
    }

    /**
     * Stops the rank threads and frees everything, now if no export is alive, else when the last consumer releases
     * (see the class comment). Idempotent.
     *
     * @throws IllegalStateException when freeing now finds a leak (an input batch left open); a deferred close
     *     records it in {@link #closeFailure()} instead
     */
    @Override
    public void close() {
        if (closeRequested) {
            return;
        }
        for (ExecutorService t : rankThreads) {
            t.shutdown();
        }
        streams.endAll(null).forEach(this::recordCloseFailure);
        synchronized (closeLock) {
            closeRequested = true;
            if (exports.getAllocatedMemory() == 0) {
                finishClose();
                if (closeFailure != null) {
                    throw closeFailure;
                }
            }
        }
    }

    /** Called by the export allocator after every release: the last one completes a deferred close. */
    private void exportReleased() {
        if (!closeRequested) {
            return;
        }
        synchronized (closeLock) {
            if (!closed && exports.getAllocatedMemory() == 0) {
                finishClose();
            }
        }
    }

    private void finishClose() {
        if (closed) {
            return;
        }
        closed = true;
        if (hung) {
            // A rank thread may still be inside a call on the group's memory: leave it allocated.
            closeFailure = new IllegalStateException("a rank call hung; the group's memory was left allocated");
            return;
        }
        List<Runnable> closers =
                List.of(group::close, groupAllocator::close, exports::close, inputs::close, root::close);
        for (Runnable closer : closers) {
            try {
                closer.run();
            } catch (RuntimeException e) {
                recordCloseFailure(e);
            }
        }
    }

    private void recordCloseFailure(Exception failure) {
        RuntimeException e = failure instanceof RuntimeException r ? r : new IllegalStateException(failure);
        synchronized (closeLock) {
            if (closeFailure == null) {
                closeFailure = e;
            } else {
                closeFailure.addSuppressed(e);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ internals

    /** A rank's part of a collective call. */
    @FunctionalInterface
    private interface RankCall {
        void run(int rank);
    }

    /**
     * Runs {@code call} on the rank threads of {@code participants} and waits for all of them. Failures of several
     * ranks are reported together; a call that outlives the hang bound breaks the session.
     */
    private void runOnRanks(String what, boolean[] participants, RankCall call) {
        List<Future<?>> futures = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < participants.length; r++) {
            if (participants[r]) {
                int rank = r;
                Callable<Void> task = () -> {
                    call.run(rank);
                    return null;
                };
                futures.add(rankThreads[r].submit(task));
                ranks.add(r);
            }
        }
        if (futures.isEmpty()) {
            throw new IllegalArgumentException(what + ": no rank takes part");
        }
        long deadline = System.nanoTime() + hangBound.toNanos();
        IllegalStateException failure = null;
        for (int i = 0; i < futures.size(); i++) {
            Throwable error;
            try {
                futures.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                continue;
            } catch (ExecutionException e) {
                error = e.getCause();
            } catch (TimeoutException e) {
                hung = true;
                error = new IllegalStateException("still running after " + hangBound, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                error = e;
            }
            String message = "rank " + ranks.get(i) + ": " + error;
            if (failure == null) {
                failure = new IllegalStateException(what + " failed on " + message, error);
            } else {
                failure.addSuppressed(new IllegalStateException(message, error));
            }
        }
        if (failure != null) {
            // The ranks that succeeded are now out of step with the failed ones: no further collective call can work.
            failed = failure;
            streams.endAll(failure.getMessage());
            throw failure;
        }
    }

    private void noteMasks(StepResult result) {
        for (int r = 0; r < config.ranks(); r++) {
            if (!result.participated(r)) {
                needsReadmit[r] = true;
                continue;
            }
            for (int p : result.newlyMasked(r)) {
                needsReadmit[p] = true;
            }
        }
    }

    private boolean[] active() {
        boolean[] out = new boolean[config.ranks()];
        for (int r = 0; r < out.length; r++) {
            out[r] = !needsReadmit[r];
        }
        return out;
    }

    /** Results of step {@code step} are still the buffers' current contents. */
    boolean isCurrent(StepResult result) {
        return result == current && !closeRequested;
    }

    private void ensureOpen() {
        if (closeRequested) {
            throw new IllegalStateException("the session is closed");
        }
    }

    private void ensureUsable() {
        ensureOpen();
        if (failed != null) {
            throw new IllegalStateException(
                    "an earlier call failed (" + failed.getMessage() + "); the ranks are out "
                            + "of step: close the session",
                    failed);
        }
    }

    /**
     * The checks {@link ElasticBuffer#dispatch} makes, before any rank starts: a batch it would reject would leave its
     * rank out of the step, and the others would mask it after the timeout.
     */
    private void checkBatch(int r, TokenBatch b) {
        String where = "rank " + r + "'s batch: ";
        if (b.isClosed()) {
            throw new IllegalArgumentException(where + "closed");
        }
        if (!b.location().isCpuAccessible()) {
            throw new IllegalArgumentException(where + "the local transport needs host memory, got " + b.location());
        }
        if (b.dtype() != config.dtype() || b.hiddenSize() != config.hidden()) {
            throw new IllegalArgumentException(where + b.dtype() + " rows of H = " + b.hiddenSize() + ", the session "
                    + "routes " + config.dtype() + " rows of H = " + config.hidden());
        }
        if (b.numTokens() > config.maxTokensPerRank() || b.topK() > config.maxTopK()) {
            throw new IllegalArgumentException(where + "n = " + b.numTokens() + ", k = " + b.topK() + " exceed "
                    + "maxTokensPerRank = " + config.maxTokensPerRank() + " or maxTopK = " + config.maxTopK());
        }
        long[] idx = b.topkIdx();
        int k = b.topK();
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < -1 || idx[i] >= config.experts()) {
                throw new IllegalArgumentException(where + "topk_idx[" + i / k + "][" + i % k + "] = " + idx[i]
                        + " is outside [0, " + config.experts() + ") and not -1");
            }
            for (int j = i - i % k; j < i && idx[i] >= 0; j++) {
                if (idx[j] == idx[i]) {
                    throw new IllegalArgumentException(where + "token " + i / k + " lists expert " + idx[i] + " twice");
                }
            }
        }
    }
}
