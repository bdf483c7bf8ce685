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
package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.FillKernel;
import io.tokenroute.device.KernelModule;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.PhaseListener;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The batching driver of a {@link CudaLocalGroup} (its public batched calls delegate here): one thread drives every
 * hosted rank, each call taking one entry per rank. Each rank's inputs are checked and staged by its
 * {@link CudaRankEngine} exactly as its own buffer would; then every rank's send phase is launched, then every rank's
 * receive phase, batched ({@link CudaBatchLaunches}) on the origin stream, and each rank's report is published.
 * Collectives run per rank on the ranks' own streams, ordered after the origin stream. A call claims every hosted
 * rank's call guard, so it fails fast while a rank's own thread is inside a call.
 */
final class CudaBatchDriver implements AutoCloseable {
    private final CudaLocalGroup group;
    private final CudaRankEngine[] ranks;
    private final BufferConfig config;
    private final CudaRankLayout layout;
    /**
     * The phase listener ({@link PhaseHooks}); telling it the ranks' phases costs a synchronisation between send and
     * receive.
     */
    private final PhaseListener listener;

    private final boolean listening;
    /** The stream batched launches (every unstalled rank at once) and graph replays run on. */
    final CudaStream origin;

    private final CudaEvent dispatchReady;
    private final CudaEvent combineReady;
    private final CudaEvent mainMark;
    private final CudaBatchLaunches batch;
    private final CudaDispatched[] dispatchSlots;
    private final CudaCombined[] combineSlots;
    private final List<CudaDispatched> dispatchView;
    private final List<CudaCombined> combineView;
    private final long[] combineWeights;
    private long timeoutNanos;
    private long lastHostNanos;

    CudaBatchDriver(CudaLocalGroup group, KernelModule module, CudaRankEngine[] ranks, CudaStream origin) {
        this.group = group;
        this.ranks = ranks;
        this.config = group.config();
        this.layout = ranks[0].layout;
        this.listener = PhaseHooks.listenerOf(config);
        this.listening = listener != PhaseListener.NONE;
        this.origin = origin;
        this.timeoutNanos = config.timeout().toNanos();
        this.dispatchSlots = new CudaDispatched[ranks.length];
        this.combineSlots = new CudaCombined[ranks.length];
        this.dispatchView = Collections.unmodifiableList(Arrays.asList(dispatchSlots));
        this.combineView = Collections.unmodifiableList(Arrays.asList(combineSlots));
        this.combineWeights = new long[ranks.length];
        CudaEvent[] events = new CudaEvent[3];
        try {
            for (int i = 0; i < events.length; i++) {
                events[i] = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            }
            this.batch = new CudaBatchLaunches(module, layout, ranks, timeoutNanos);
        } catch (RuntimeException | Error e) {
            for (CudaEvent event : events) {
                if (event != null) {
                    event.close();
                }
            }
            throw e;
        }
        this.dispatchReady = events[0];
        this.combineReady = events[1];
        this.mainMark = events[2];
    }

    /** The stream the batching driver runs {@code rank}'s dispatch and combine on. */
    CudaStream exec(CudaRankEngine rank) {
        return rank.stalled ? rank.stream : origin;
    }

    long timeoutNanos() {
        return timeoutNanos;
    }

    void setTimeout(long nanos) {
        timeoutNanos = nanos;
        for (CudaRankEngine rank : ranks) {
            rank.setTimeout(nanos);
        }
        batch.setTimeout(nanos);
    }

    long lastCallHostNanos() {
        return lastHostNanos;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Dispatches one step on every hosted rank with a batch.
     *
     * @param perRank one entry per hosted rank: its tokens (host memory, or CUDA memory of this device), or
     *     {@code null} to leave the rank out of this call
     * @param options equal for every rank
     * @return per rank its result, {@code null} for ranks left out or stalled; a view valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was launched)
     * @throws PeerTimeoutException non-elastic mode, when a peer stayed silent (the rank refuses work until
     *     {@link CudaLocalGroup#cleanBuffer()})
     */
    List<CudaDispatched> dispatch(List<TokenBatch> perRank, DispatchOptions options) {
        enterAll("dispatch");
        try {
            long start = System.nanoTime();
            checkList(perRank, "dispatch");
            for (int r = 0; r < ranks.length; r++) {
                if (perRank.get(r) != null) {
                    ranks[r].checkDispatch(perRank.get(r), options);
                }
            }
            if (listening) {
                tell(perRank, Phase.BEFORE_DISPATCH, 1);
                tell(perRank, Phase.DISPATCH_SEND, 1);
            }
            queueDispatchChecked(perRank, options, listening);
            long blocked = finishDispatch(perRank);
            lastHostNanos = System.nanoTime() - start - blocked;
            return dispatchView;
        } finally {
            exitAll();
        }
    }

    /**
     * Queues a dispatch without checks or synchronisation (graph capture, benchmarks): inputs must be valid device
     * batches or host batches. Results are not read back; call {@link CudaLocalGroup#synchronize()} before reading
     * device results.
     */
    void queueDispatch(List<TokenBatch> perRank, DispatchOptions options) {
        checkOpen();
        checkList(perRank, "dispatch");
        queueDispatchChecked(perRank, options, false);
    }

    private void queueDispatchChecked(List<TokenBatch> perRank, DispatchOptions options, boolean tellReceive) {
        for (int r = 0; r < ranks.length; r++) {
            if (perRank.get(r) != null) {
                ranks[r].stageDispatch(perRank.get(r), options, exec(ranks[r]));
            }
        }
        boolean anyBatched = batch.queueDispatchSend(perRank, options, origin);
        if (tellReceive) {
            // The send phase has published when the listener hears DISPATCH_RECV (a rank stopped there stops after it).
            origin.synchronize();
            tell(perRank, Phase.DISPATCH_RECV, 1);
        }
        batch.queueDispatchReceive(perRank, options, anyBatched, origin, dispatchReady);
    }

    /** Waits for every launched, unstalled rank and reads its report; returns the nanoseconds spent blocked. */
    private long finishDispatch(List<TokenBatch> perRank) {
        long blocked = 0;
        CudaEvent synced = null;
        RuntimeException first = null;
        for (int r = 0; r < ranks.length; r++) {
            CudaRankEngine rank = ranks[r];
            dispatchSlots[r] = null;
            if (perRank.get(r) == null) {
                continue;
            }
            if (rank.stalled) {
                rank.pendingDispatch = true;
                continue;
            }
            if (rank.lastDispatchEvent != synced) {
                long t = System.nanoTime();
                rank.lastDispatchEvent.synchronize();
                blocked += System.nanoTime() - t;
                synced = rank.lastDispatchEvent;
            }
            RuntimeException fault = rank.publishDispatch();
            first = first == null ? fault : first;
            dispatchSlots[r] = rank.dispatched;
        }
        throwFirst(first);
        return blocked;
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Combines the current step.
     *
     * @param expertOutputs null (zero-copy for every rank), or per rank null (zero-copy) or L host batches with a
     *     {@code hidden} bf16 column of exactly {@code recvCount(l)} rows each, copied into the combine-send rows
     * @param routing per rank the dispatched batch (its {@code topk_weights} are the combine weights), or null to
     *     leave the rank out
     * @return per rank its result ({@code null} for ranks left out or stalled); a view valid until the next combine
     * @throws IllegalArgumentException on bad input (nothing was launched)
     */
    List<CudaCombined> combine(List<List<VectorSchemaRoot>> expertOutputs, List<TokenBatch> routing) {
        enterAll("combine");
        try {
            long start = System.nanoTime();
            checkList(routing, "combine");
            if (expertOutputs != null) {
                checkList(expertOutputs, "combine's expert outputs");
            }
            for (int r = 0; r < ranks.length; r++) {
                if (routing.get(r) != null) {
                    ranks[r].checkCombine(expertOutputs == null ? null : expertOutputs.get(r), routing.get(r));
                }
            }
            if (listening) {
                tell(routing, Phase.COMBINE_SEND, 0);
            }
            queueCombineChecked(expertOutputs, routing, listening);
            long blocked = finishCombine(routing);
            lastHostNanos = System.nanoTime() - start - blocked;
            return combineView;
        } finally {
            exitAll();
        }
    }

    /** Queues a zero-copy combine without checks or synchronisation (graph capture, benchmarks). */
    void queueCombine(List<TokenBatch> routing) {
        checkOpen();
        checkList(routing, "combine");
        queueCombineChecked(null, routing, false);
    }

    private void queueCombineChecked(
            List<List<VectorSchemaRoot>> expertOutputs, List<TokenBatch> routing, boolean tellReceive) {
        for (int r = 0; r < ranks.length; r++) {
            if (routing.get(r) != null) {
                combineWeights[r] = ranks[r].stageCombine(
                        expertOutputs == null ? null : expertOutputs.get(r), routing.get(r), exec(ranks[r]));
            }
        }
        boolean anyBatched = batch.queueCombineSend(routing, combineWeights, origin);
        if (tellReceive) {
            origin.synchronize();
            tell(routing, Phase.COMBINE_RECV, 0);
        }
        batch.queueCombineReceive(routing, combineWeights, anyBatched, origin, combineReady);
    }

    private long finishCombine(List<TokenBatch> routing) {
        long blocked = 0;
        CudaEvent synced = null;
        RuntimeException first = null;
        for (int r = 0; r < ranks.length; r++) {
            CudaRankEngine rank = ranks[r];
            combineSlots[r] = null;
            if (routing.get(r) == null) {
                continue;
            }
            if (rank.stalled) {
                rank.pendingCombine = true;
                continue;
            }
            if (rank.lastCombineEvent != synced) {
                long t = System.nanoTime();
                rank.lastCombineEvent.synchronize();
                blocked += System.nanoTime() - t;
                synced = rank.lastCombineEvent;
            }
            RuntimeException fault = rank.publishCombine();
            first = first == null ? fault : first;
            combineSlots[r] = rank.combined;
        }
        throwFirst(first);
        return blocked;
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /**
     * Fault-tolerant barrier of the launched ranks (among each one's unmasked peers).
     *
     * @param launch which hosted ranks take part in this call
     */
    void barrier(boolean[] launch) {
        enterAll("barrier");
        try {
            checkLaunch(launch);
            tell(launch, Phase.BARRIER);
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].launchArrive(null);
                }
            }
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].launchSyncWait(false, Phase.BARRIER);
                }
            }
            throwFirst(finishSync(launch, Phase.BARRIER));
        } finally {
            exitAll();
        }
    }

    /** Fault-tolerant allGather of the launched ranks ({@code payloads[r]} not null); {@code phase} names a timeout. */
    byte[][][] allGather(byte[][] payloads, Phase phase) {
        enterAll("allGather");
        try {
            boolean[] launch = new boolean[ranks.length];
            if (payloads.length != ranks.length) {
                throw new IllegalArgumentException(
                        "expected " + ranks.length + " payload entries, got " + payloads.length);
            }
            for (int r = 0; r < ranks.length; r++) {
                launch[r] = payloads[r] != null;
                if (launch[r] && payloads[r].length > layout.collectiveBytes) {
                    throw new IllegalArgumentException("rank " + ranks[r].id + ": allGather payload of "
                            + payloads[r].length + " bytes exceeds collectiveBytes = " + layout.collectiveBytes);
                }
            }
            checkLaunch(launch);
            tell(launch, phase);
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].launchArrive(payloads[r]);
                }
            }
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].launchSyncWait(true, phase);
                }
            }
            RuntimeException fault = finishSync(launch, phase);
            byte[][][] out = new byte[ranks.length][][];
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r] && !ranks[r].stalled) {
                    out[r] = ranks[r].readGather();
                }
            }
            throwFirst(fault);
            return out;
        } finally {
            exitAll();
        }
    }

    /** Collectives run on the ranks' own streams: after whatever was queued on the shared stream. */
    private void orderAfterShared(boolean[] launch) {
        mainMark.record(origin);
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r] && !ranks[r].stalled) {
                ranks[r].stream.waitFor(mainMark);
            }
        }
    }

    private RuntimeException finishSync(boolean[] launch, Phase phase) {
        RuntimeException first = null;
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r] && !ranks[r].stalled) {
                RuntimeException fault = ranks[r].finishSync(phase);
                first = first == null ? fault : first;
            }
        }
        return first;
    }

    /**
     * Resets the launched ranks' step state through the device rendezvous (docs/contract.md §2.3): participants are
     * each rank's unmasked peers (all ranks in non-elastic mode), entries cleared for it are applied first; sequences
     * restart in a new generation; a rank's failure is cleared when its rendezvous succeeds.
     *
     * @param launch which hosted ranks take part in this call
     * @throws PeerTimeoutException non-elastic mode, when a participant stayed silent (phase CLEAN)
     */
    void cleanBuffer(boolean[] launch) {
        enterAll("cleanBuffer");
        try {
            checkOpen();
            if (launch.length != ranks.length) {
                throw new IllegalArgumentException("expected " + ranks.length + " launch flags, got " + launch.length);
            }
            tell(launch, Phase.CLEAN);
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].control.applyUnmasks();
                    ranks[r].launchClean();
                }
            }
            RuntimeException first = null;
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r] && !ranks[r].stalled) {
                    RuntimeException fault = ranks[r].finishClean();
                    first = first == null ? fault : first;
                }
            }
            throwFirst(first);
        } finally {
            exitAll();
        }
    }

    // ------------------------------------------------------------------------------------------------ mask API

    /** Hosted rank {@code r}'s mask, 1 = masked: {@code buffer(hostedRanks()[r]).queryMask()}. Elastic mode only. */
    int[] queryMask(int r) {
        requireElastic("queryMask");
        return rank(r).control.viewMask();
    }

    /**
     * Collective of the launched ranks: one gathering round of their masks over the allGather, each adopting the union
     * of what it received and what it masks afterwards ({@link CudaElasticBuffer#agreeMask()}). Elastic mode only.
     *
     * @return per launched rank the union (its own entry is 1 if some peer masks it), null for others
     */
    int[][] agreeMask(boolean[] launch) {
        requireElastic("agreeMask");
        checkLaunch(launch);
        byte[][] payloads = new byte[ranks.length][];
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r]) {
                payloads[r] = CudaRankControl.bits(ranks[r].control.viewMask());
            }
        }
        byte[][][] views = allGather(payloads, Phase.AGREE);
        int[][] out = new int[ranks.length][];
        for (int r = 0; r < ranks.length; r++) {
            if (views[r] != null) {
                out[r] = ranks[r].control.adoptUnion(views[r]);
            }
        }
        return out;
    }

    /**
     * Readmits {@code returning} (docs/contract.md §2.6): every launched survivor unmasks it, the returning rank adopts
     * the first survivor's mask, and all of them run the cleanBuffer rendezvous. Elastic mode only; every rank of the
     * group must be hosted here (one rank per process readmits through its {@link CudaLocalGroup#buffer(int)}).
     *
     * @param returning the hosted rank coming back (it must not be stalled)
     * @param survivors the hosted ranks readmitting it ({@code returning} excluded)
     * @return whether every survivor ended with {@code returning} unmasked
     */
    boolean readmit(int returning, boolean[] survivors) {
        requireElastic("readmit");
        if (ranks.length != config.ranks()) {
            throw new IllegalStateException("readmit(returning, survivors) drives every rank of the group; a group"
                    + " hosting " + ranks.length + " of " + config.ranks() + " ranks readmits through buffer(rank)");
        }
        CudaRankEngine back = rank(returning);
        checkLaunch(survivors);
        if (survivors[returning]) {
            throw new IllegalArgumentException("rank " + returning + " cannot readmit itself");
        }
        if (back.stalled) {
            throw new IllegalStateException("rank " + returning + " is stalled: release and await it first");
        }
        int first = -1;
        for (int r = 0; r < ranks.length; r++) {
            if (survivors[r]) {
                ranks[r].control.unmaskAtClean(back.id);
                first = first < 0 ? r : first;
            }
        }
        if (first < 0) {
            throw new IllegalArgumentException("readmit needs at least one survivor");
        }
        int[] adopted = ranks[first].control.viewMask();
        adopted[back.id] = 0;
        back.control.replaceMask(adopted);
        boolean[] launch = survivors.clone();
        launch[returning] = true;
        cleanBuffer(launch);
        for (int r = 0; r < ranks.length; r++) {
            if (survivors[r] && ranks[r].control.viewMask()[back.id] != 0) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------ diagnostics

    /**
     * Resets every unstalled rank's kernel phase trace (benchmark diagnostics): each elastic EP kernel stamps the
     * %globaltimer of its first block's start and its last block's end per phase; after a reset the next launch of
     * each phase is recorded. Waits for the queued work first.
     */
    void resetTrace() {
        synchronize();
        for (CudaRankEngine rank : ranks) {
            if (!rank.stalled) {
                rank.resetTrace(exec(rank));
            }
        }
    }

    /**
     * Hosted rank {@code r}'s phase trace since {@link #resetTrace()}: {@code [2 p]} = start, {@code [2 p + 1]} = end
     * in GPU nanoseconds (%globaltimer) of phase {@code p}: 0 dispatch send, 1 dispatch wait, 2 dispatch copy, 3
     * combine send, 4 combine wait, 5 combine reduce, and inside the dispatch send 6 its routing plan, 7 its row
     * staging ({@code -1} / 0 when the phase did not run). Waits for the rank's stream.
     */
    long[] phaseTrace(int r) {
        CudaRankEngine rank = rank(r);
        return rank.readTrace(exec(rank));
    }

    /** Overwrites the hosted ranks' results with {@link CudaRankEngine#POISON} ({@link CudaLocalGroup}, tests). */
    void poisonResults(FillKernel fill, boolean sendRows) {
        enterAll("poisonResults");
        try {
            for (CudaRankEngine rank : ranks) {
                if (!rank.stalled) {
                    rank.poison(fill, sendRows, origin);
                }
            }
            synchronize();
        } finally {
            exitAll();
        }
    }

    /** Waits for all queued work of unstalled ranks. */
    void synchronize() {
        origin.synchronize();
        for (CudaRankEngine rank : ranks) {
            if (!rank.stalled) {
                rank.stream.synchronize();
            }
        }
    }

    @Override
    public void close() {
        Closeables.closeAll(batch, mainMark, combineReady, dispatchReady);
    }

    // ------------------------------------------------------------------------------------------------ internals

    /** Claims every hosted rank for one batched call; fails fast if a rank's own thread is inside a call. */
    private void enterAll(String op) {
        checkOpen();
        int entered = 0;
        try {
            for (; entered < ranks.length; entered++) {
                ranks[entered].guard.enter(op);
            }
        } catch (RuntimeException e) {
            for (int r = 0; r < entered; r++) {
                ranks[r].guard.exit();
            }
            throw e;
        }
    }

    private void exitAll() {
        for (CudaRankEngine rank : ranks) {
            rank.guard.exit();
        }
    }

    /** Tells the listener that every hosted rank with an entry reached {@code phase} of its step + {@code ahead}. */
    private void tell(List<?> perRank, Phase phase, int ahead) {
        for (int r = 0; r < ranks.length; r++) {
            if (perRank.get(r) != null) {
                listener.onPhase(ranks[r].id, phase, ranks[r].step + ahead);
            }
        }
    }

    private void tell(boolean[] launch, Phase phase) {
        if (!listening) {
            return;
        }
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r]) {
                listener.onPhase(ranks[r].id, phase, ranks[r].step);
            }
        }
    }

    private static void throwFirst(RuntimeException e) {
        if (e != null) {
            throw e;
        }
    }

    CudaRankEngine rank(int r) {
        if (r < 0 || r >= ranks.length) {
            throw new IllegalArgumentException("rank " + r + " outside [0, " + ranks.length + ")");
        }
        return ranks[r];
    }

    private void checkList(List<?> perRank, String op) {
        if (perRank == null || perRank.size() != ranks.length) {
            throw new IllegalArgumentException(op + " needs one entry per hosted rank (" + ranks.length + "), got "
                    + (perRank == null ? "null" : perRank.size()));
        }
    }

    private void checkLaunch(boolean[] launch) {
        checkOpen();
        if (launch == null || launch.length != ranks.length) {
            throw new IllegalArgumentException("expected " + ranks.length + " launch flags");
        }
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r]) {
                ranks[r].ensureWorking();
            }
        }
    }

    private boolean[] all() {
        boolean[] launch = new boolean[ranks.length];
        Arrays.fill(launch, true);
        return launch;
    }

    private void checkOpen() {
        group.checkOpen();
    }

    void requireElastic(String op) {
        checkOpen();
        if (!config.elastic()) {
            throw new IllegalStateException(op + " needs elastic mode; this group was built with elastic = false");
        }
    }
}
