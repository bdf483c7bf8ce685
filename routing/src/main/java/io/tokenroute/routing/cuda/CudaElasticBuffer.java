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
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaStream;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.PeerHealth;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.PhaseListener;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The {@link ElasticBuffer} of the GPU transports: one rank of a {@link CudaLocalGroup}, driven from that rank's own
 * thread. On {@code cuda-local} every rank of the group lives in this process and R threads drive their buffers; on
 * {@code nvshmem} this process's one rank ({@code io.tokenroute.routing.nvshmem.NvshmemBuffer} wraps it). A call
 * checks its inputs on the host ({@link io.tokenroute.routing.transport.InputChecks}, the text every transport uses),
 * then launches the rank's kernels on its own {@link #stream()} and waits for them: the same steps whether one rank or
 * all of them run at once.
 *
 * <p><b>Memory.</b> Results are {@link CudaDispatched} / {@link CudaCombined} in CUDA memory of the group's device,
 * with the event to wait on. Token batches may be host batches (copied in) or CUDA batches of that device (read in
 * place; their {@code topk_idx} is copied to the host for the checks unless {@link #setValidateDeviceInputs} turned
 * that off). Expert-output batches for a copying combine are host batches, or the result's own
 * {@link Dispatched#expertOutput} views; a zero-copy combine expects the outputs written on {@link #stream()} (or the
 * writer synchronised first).
 *
 * <p><b>What the GPU transports do not do yet</b> ({@link CudaLocalGroup#CAPABILITIES}): a rank masked by its peers
 * while alive is not told (no {@link io.tokenroute.routing.RankMaskedException}; it sees the entry in
 * {@link #agreeMask()}); {@link #agreeMask()} is one gathering round, not a confirmed agreement; {@link
 * #readmitRequests()} is always empty (GPU ranks do not publish requests yet).
 *
 * <p>One thread at a time (a second concurrent call fails fast); {@link #updateMask}, the mask queries and the stats
 * may come from another thread. On {@code cuda-local} {@link #close()} ends this rank's calls but leaves its device
 * memory to the group, since the peers' kernels on the same GPU read it by pointer.
 */
public final class CudaElasticBuffer implements ElasticBuffer {
    private final CudaRankEngine rank;
    private final BufferConfig config;
    private final PhaseListener listener;
    private final boolean listening;

    CudaElasticBuffer(CudaRankEngine rank) {
        this.rank = rank;
        this.config = rank.config.withRank(rank.id);
        this.listener = PhaseHooks.listenerOf(config);
        this.listening = listener != PhaseListener.NONE;
    }

    @Override
    public int rank() {
        return rank.id;
    }

    @Override
    public BufferConfig config() {
        return config;
    }

    /** CUDA memory of the group's device. */
    @Override
    public MemoryLocation location() {
        return rank.device.location();
    }

    /** The stream this rank's kernels run on: queue expert kernels writing zero-copy outputs here. */
    public CudaStream stream() {
        return rank.stream;
    }

    /**
     * Whether device token batches are checked on the host (their {@code topk_idx} copied to pinned memory first: one
     * copy and synchronisation per call). Off, the kernels still drop out-of-range ids and the call reports them after
     * it ran, but a bad batch is no longer refused before anything is sent.
     */
    public void setValidateDeviceInputs(boolean validate) {
        rank.setValidateDeviceInputs(validate);
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    @Override
    public CudaDispatched dispatch(TokenBatch batch, DispatchOptions options) {
        enter("dispatch");
        try {
            rank.checkDispatch(batch, options);
            long step = rank.step + 1;
            tell(Phase.BEFORE_DISPATCH, step);
            tell(Phase.DISPATCH_SEND, step);
            rank.stageDispatch(batch, options, rank.stream);
            rank.launchSend(options.formatCode());
            if (listening) {
                // The send has published when the listener hears DISPATCH_RECV (a rank stopped there stops after it).
                rank.stream.synchronize();
                tell(Phase.DISPATCH_RECV, step);
            }
            rank.launchDispatchReceive(options.stats());
            rank.dispatchDone.synchronize();
            throwIfFault(rank.publishDispatch());
            return rank.dispatched;
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ combine

    @Override
    public CudaCombined combine(Dispatched dispatched, List<VectorSchemaRoot> expertOutputs, TokenBatch routing) {
        enter("combine");
        try {
            rank.ensureWorking();
            if (dispatched != rank.dispatched || !rank.stepOpen) {
                throw new IllegalArgumentException("combine needs this buffer's latest dispatch result, not yet"
                        + " combined (a later dispatch, combine or cleanBuffer invalidated it)");
            }
            rank.checkCombine(expertOutputs, routing);
            tell(Phase.COMBINE_SEND, rank.step);
            long weights = rank.stageCombine(expertOutputs, routing, rank.stream);
            rank.launchCombineSend();
            if (listening) {
                rank.stream.synchronize();
                tell(Phase.COMBINE_RECV, rank.step);
            }
            rank.launchCombineReceive(weights);
            rank.combineDone.synchronize();
            throwIfFault(rank.publishCombine());
            return rank.combined;
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ prefill

    /**
     * The prefill (high-throughput) dispatch on the device (docs/contract.md §3b; {@link CudaPrefillEngine}): the same
     * checks and results as the host transports', the receive batch and expert outputs in CUDA memory of the group's
     * device ({@link CudaPrefillDispatched}, ready after its event on {@link #stream()}).
     *
     * @throws UnsupportedOperationException when the buffer was built with {@code prefillMaxTokensPerRank == 0}
     */
    @Override
    public PrefillDispatched prefillDispatch(TokenBatch batch, DispatchOptions options) {
        enter(CudaPrefillEngine.DISPATCH);
        try {
            return requirePrefill().dispatch(batch, options, this::tell, listening);
        } finally {
            exit();
        }
    }

    /**
     * The prefill combine on the device: the experts' outputs are in the result's {@code expertOutput} views (written
     * on {@link #stream()}, or their writer synchronised first); the output ({@code hidden}, {@code lost_weight}) is
     * a {@link CudaCombined} over the rank's prefill output area, valid until the next prefill combine.
     */
    @Override
    public Combined prefillCombine(PrefillDispatched dispatched, TokenBatch routing) {
        enter(CudaPrefillEngine.COMBINE);
        try {
            return requirePrefill().combine(dispatched, routing, this::tell, listening);
        } finally {
            exit();
        }
    }

    private CudaPrefillEngine requirePrefill() {
        if (rank.prefill == null) {
            throw new UnsupportedOperationException("rank " + rank.id + ": this buffer has no prefill queues; build it"
                    + " with BufferConfig.builder().prefillMaxTokensPerRank(T) (docs/contract.md §3b)");
        }
        return rank.prefill;
    }

    // ------------------------------------------------------------------------------------------------ collectives

    @Override
    public void barrier() {
        enter("barrier");
        try {
            rank.ensureWorking();
            tell(Phase.BARRIER, rank.step);
            rank.launchArrive(null);
            rank.launchSyncWait(false, Phase.BARRIER);
            throwIfFault(rank.finishSync(Phase.BARRIER));
        } finally {
            exit();
        }
    }

    @Override
    public byte[][] allGatherBytes(byte[] payload) {
        enter("allGather");
        try {
            rank.ensureWorking();
            if (payload.length > config.collectiveBytes()) {
                throw new IllegalArgumentException("allGather payload of " + payload.length
                        + " bytes exceeds collectiveBytes = " + config.collectiveBytes());
            }
            tell(Phase.ALL_GATHER, rank.step);
            return gather(payload, Phase.ALL_GATHER);
        } finally {
            exit();
        }
    }

    private byte[][] gather(byte[] payload, Phase phase) {
        rank.launchArrive(payload);
        rank.launchSyncWait(true, phase);
        RuntimeException fault = rank.finishSync(phase);
        byte[][] out = rank.readGather();
        throwIfFault(fault);
        return out;
    }

    /**
     * The cleanBuffer rendezvous on the device: participants are this rank's unmasked peers (every rank in
     * non-elastic mode), entries cleared with {@link #updateMask} or {@link #clearMask()} are applied first, and a
     * failure is cleared when the rendezvous succeeds. Invalidates the current {@link Dispatched}.
     */
    @Override
    public void cleanBuffer() {
        enter("cleanBuffer");
        try {
            rank.ensureOpen();
            tell(Phase.CLEAN, rank.step);
            rank.control.applyUnmasks();
            rank.launchClean();
            throwIfFault(rank.finishClean());
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ mask API

    /** This rank's mask as its kernels use it, 1 = masked, with entries cleared for the next cleanBuffer shown 0. */
    @Override
    public int[] queryMask() {
        requireElastic("queryMask");
        return rank.control.viewMask();
    }

    @Override
    public boolean isMasked(int peer) {
        requireElastic("isMasked");
        return rank.control.viewMask()[checkRank(peer)] != 0;
    }

    /**
     * Masks (at once: a wait on that peer spinning on the device gives up on it) or unmasks (at the next cleanBuffer,
     * which the peer joins) one peer. A rank cannot mask itself.
     */
    @Override
    public void updateMask(int peer, boolean masked) {
        requireElastic("updateMask");
        checkRank(peer);
        if (peer == rank.id) {
            if (masked) {
                throw new IllegalArgumentException("rank " + rank.id + " cannot mask itself");
            }
            return;
        }
        if (masked) {
            rank.control.mask(peer);
        } else {
            rank.control.unmaskAtClean(peer);
        }
    }

    @Override
    public void clearMask() {
        requireElastic("clearMask");
        rank.control.unmaskAllAtClean();
    }

    /**
     * One gathering round over the kernels' allGather: each rank contributes its mask and adopts the union of what it
     * received and what it masks after the round (a peer that timed out during it is part of it). Not a confirmed
     * agreement: a peer that masked this rank in the meantime may return another union
     * ({@link CudaLocalGroup#CAPABILITIES}).
     *
     * @return the union; its entry for this rank is 1 if some peer masks this rank (which is not told otherwise)
     */
    @Override
    public int[] agreeMask() {
        requireElastic("agreeMask");
        enter("agreeMask");
        try {
            rank.ensureWorking();
            int ranks = config.ranks();
            if (config.collectiveBytes() < (ranks + 7) / 8) {
                throw new IllegalStateException("rank " + rank.id + ": agreeMask gathers the masks as " + ranks
                        + " bits and needs collectiveBytes >= " + (ranks + 7) / 8 + ", got "
                        + config.collectiveBytes());
            }
            tell(Phase.AGREE, rank.step);
            return rank.control.adoptUnion(gather(CudaRankControl.bits(rank.control.viewMask()), Phase.AGREE));
        } finally {
            exit();
        }
    }

    /**
     * Survivors call it with the returning rank: they unmask it and enter the cleanBuffer rendezvous. The returning
     * rank calls it with its own id: it unmasks every peer and enters the same rendezvous, in which a peer that is
     * really gone is masked again.
     *
     * @param timeout how long the rendezvous waits for the other side (the returning rank may first have to finish the
     *     step it was stopped in); the buffer's timeout applies again afterwards
     * @return survivors: whether the returning rank took part; the returning rank: whether some survivor took part
     */
    @Override
    public boolean readmit(int returning, Duration timeout) {
        requireElastic("readmit");
        checkRank(returning);
        enter("readmit");
        try {
            rank.ensureOpen();
            long usual = rank.timeoutNanos();
            rank.setTimeout(timeout.toNanos());
            try {
                tell(Phase.CLEAN, rank.step);
                if (returning == rank.id) {
                    rank.control.unmaskAllNow();
                } else {
                    rank.control.unmaskAtClean(returning);
                    rank.control.applyUnmasks();
                }
                rank.launchClean();
                throwIfFault(rank.finishClean());
                int[] mask = rank.control.viewMask();
                if (returning != rank.id) {
                    return mask[returning] == 0;
                }
                for (int p = 0; p < mask.length; p++) {
                    if (p != rank.id && mask[p] == 0) {
                        return true;
                    }
                }
                return false;
            } finally {
                rank.setTimeout(usual);
            }
        } finally {
            exit();
        }
    }

    /** Always empty: GPU ranks do not publish readmit requests yet ({@link CudaLocalGroup#CAPABILITIES}). */
    @Override
    public int[] readmitRequests() {
        requireElastic("readmitRequests");
        rank.ensureOpen();
        return new int[0];
    }

    // ------------------------------------------------------------------------------------------------ stats

    /** Per local expert, tokens received over all dispatches with {@code stats} on (read from the device). */
    @Override
    public long[] cumulativeRecvStats() {
        return rank.control.readLongs(rank.layout.offCumRecv, rank.layout.localExperts);
    }

    /** Per source rank, nanoseconds the dispatch waits spent on it (the GPU's %globaltimer). */
    @Override
    public long[] dispatchWaitNanos() {
        return rank.control.readLongs(rank.layout.offDwait, config.ranks());
    }

    /** Per source rank, nanoseconds the combine waits spent on it. */
    @Override
    public long[] combineWaitNanos() {
        return rank.control.readLongs(rank.layout.offCwait, config.ranks());
    }

    /**
     * A report from the host side: the timeout, multiplier 0 (the kernels do not stretch their timeout), and per peer
     * its mask entry, the dispatch and combine calls this rank completed ({@code waits}; every call waits on each
     * active peer) and their total wait on it. The kernels keep no suspicion state and no per-wait times, so
     * {@code suspected}, {@code suspicions}, {@code lastWaitNanos} and {@code maxWaitNanos} are 0.
     */
    @Override
    public HealthReport healthReport() {
        int ranks = config.ranks();
        int[] mask = config.elastic() ? rank.control.viewMask() : new int[ranks];
        long[] dispatchWait = dispatchWaitNanos();
        long[] combineWait = combineWaitNanos();
        List<PeerHealth> peers = new ArrayList<>(ranks);
        for (int p = 0; p < ranks; p++) {
            long waits = p == rank.id ? 0 : rank.completedCalls;
            peers.add(new PeerHealth(p, mask[p] != 0, false, 0, waits, 0, 0, dispatchWait[p] + combineWait[p]));
        }
        return new HealthReport(rank.id, timeout(), 0, peers);
    }

    /**
     * Changes this rank's sign of life on the device (one 8-byte copy), so peers waiting for its next publish restart
     * their timeout clock: call it during host-side work between calls that can take longer than the timeout.
     */
    @Override
    public void heartbeat() {
        rank.control.beat();
    }

    /** Sets the wait timeout of this rank's later calls (a kernel argument; 100 µs and up are meaningful on a GPU). */
    @Override
    public void setTimeout(Duration timeout) {
        long nanos = timeout.toNanos();
        if (nanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        rank.setTimeout(nanos);
    }

    @Override
    public Duration timeout() {
        return Duration.ofNanos(rank.timeoutNanos());
    }

    /**
     * Ends this rank's calls (later ones are refused; a call inside a listener fails when it resumes) without waiting
     * on a peer. The device memory stays until the group closes; idempotent.
     */
    @Override
    public void close() {
        rank.closed = true;
        rank.guard.close();
    }

    /** Whether a non-elastic timeout left this rank failed (its calls refused until a cleanBuffer succeeds). */
    public boolean failed() {
        return rank.failure != null;
    }

    // ------------------------------------------------------------------------------------------------ internals

    private void enter(String op) {
        rank.guard.enter(op);
        try {
            rank.ensureOpen();
            rank.device.makeCurrent();
        } catch (RuntimeException e) {
            rank.guard.exit();
            throw e;
        }
    }

    private void exit() {
        rank.guard.exit();
    }

    /** Tells the listener; meanwhile the call is at a safe point (the group may close, and the call then fails). */
    private void tell(Phase phase, long step) {
        if (listening) {
            rank.guard.pause();
            try {
                listener.onPhase(rank.id, phase, step);
            } finally {
                rank.guard.resume();
            }
        }
    }

    private static void throwIfFault(RuntimeException fault) {
        if (fault != null) {
            throw fault;
        }
    }

    private int checkRank(int peer) {
        if (peer < 0 || peer >= config.ranks()) {
            throw new IllegalArgumentException("rank " + peer + " outside [0, " + config.ranks() + ")");
        }
        return peer;
    }

    private void requireElastic(String op) {
        if (!config.elastic()) {
            throw new IllegalStateException(op + " needs elastic mode; this buffer was built with elastic = false");
        }
    }
}
