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
package io.tokenroute.routing.host;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.CollectiveMismatchException;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.RankMaskedException;
import io.tokenroute.routing.memory.SymmetricMemory;
import io.tokenroute.routing.protocol.CallGuard;
import io.tokenroute.routing.protocol.MaskState;
import io.tokenroute.routing.protocol.RankProtocol;
import io.tokenroute.routing.transport.InputChecks;
import java.time.Duration;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The {@link ElasticBuffer} of the host transports ({@code local}, {@code shm}): the Java protocol ({@link
 * RankProtocol}) over host symmetric memory, with Arrow record batches in and out.
 *
 * <p>Every operation except the mask queries is collective: all active ranks call them in the same order. Inputs are
 * checked before anything is published, so a rejected call leaves no peer waiting and the buffer usable. One thread at
 * a time per buffer; a second concurrent call fails fast. {@link #updateMask} may also be called from another thread
 * (it unblocks a wait on that peer at once).
 *
 * <p><b>One agreed view.</b> Masks only grow between rendezvous ({@link #cleanBuffer()}, {@link #readmit}); every
 * entry is published at once and adopted by the peers in their next call, and {@link #agreeMask()} confirms that every
 * live rank holds the same mask. A rank whose peers masked it while it was alive (a false mask, or the engine's
 * {@code updateMask}) finds out in its next call, which throws {@link RankMaskedException} naming who masked it; it
 * takes no part until it is readmitted.
 *
 * <p>Make one with a transport, e.g. {@link io.tokenroute.routing.local.LocalGroup}. Closing frees this rank's memory
 * and never waits on peers, also while this rank's thread is stuck inside a call.
 */
public final class HostElasticBuffer implements ElasticBuffer {
    private final BufferConfig config;
    private final RankProtocol protocol;
    private final ResultViews views;
    private final HostDispatched dispatched;
    private final HostCombined combined;
    /** The prefill mode, or null without prefill queues. */
    private final HostPrefill prefill;

    private final CallGuard guard;
    private RuntimeException failure;
    private volatile boolean closed;

    /**
     * Opens rank {@code config.rank()} over a group's symmetric memory. Transports call this; users call theirs.
     *
     * @param config this rank's configuration (equal across ranks apart from the rank)
     * @param memory the group's memory, owned by the transport and closed after every buffer of this process
     * @param allocator pays for this rank's private memory; close the buffer before the allocator
     */
    public HostElasticBuffer(BufferConfig config, SymmetricMemory memory, BufferAllocator allocator) {
        this.config = config;
        this.guard = new CallGuard(config.rank());
        this.protocol = new RankProtocol(config, memory, allocator, guard);
        try {
            this.views = new ResultViews(config, protocol, allocator);
        } catch (RuntimeException e) {
            protocol.close();
            throw e;
        }
        this.dispatched = new HostDispatched(protocol, views, config.localExperts(), config.ranks());
        this.combined = new HostCombined(
                protocol,
                views.combined,
                protocol.combineOut(),
                protocol.lostWeight(),
                config.ranks(),
                config.hidden());
        HostPrefill mode = null;
        if (protocol.prefill() != null) {
            try {
                mode = new HostPrefill(config, protocol, allocator);
            } catch (RuntimeException e) {
                views.close();
                protocol.close();
                throw e;
            }
        }
        this.prefill = mode;
    }

    /** The configuration this buffer was built from. */
    @Override
    public BufferConfig config() {
        return config;
    }

    /** Host memory: input batches and results are off-heap Arrow buffers. */
    @Override
    public MemoryLocation location() {
        return MemoryLocation.HOST;
    }

    /** This buffer's rank. */
    @Override
    public int rank() {
        return config.rank();
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Sends each token to the ranks owning its top-k experts and returns what this rank received.
     *
     * @param batch {@code n <= T} tokens in host memory: {@code hidden [n][H]} of the configured dtype (bf16, or
     *     fp16/fp32 converted to bf16 for the wire), {@code topk_idx [n][k]} with {@code k <= maxTopK}, ids in
     *     {@code [0, E)} or {@code -1}, no expert twice in one token; {@code topk_weights} is not read here
     * @param options bf16 or fp8 rows; equal on every rank
     * @return the buffer's reusable result, valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was sent)
     * @throws PeerTimeoutException non-elastic mode only, when a peer stays silent past the timeout
     */
    @Override
    public Dispatched dispatch(TokenBatch batch, DispatchOptions options) {
        enter("dispatch");
        try {
            ensureWorking();
            if (protocol.stepOpen()) {
                throw new IllegalStateException("rank " + rank() + ": dispatch while step " + protocol.seq()
                        + " is not combined yet; call combine (or cleanBuffer) first");
            }
            validateTokens(batch, "dispatch");
            InputChecks.checkFp8Hidden(rank(), "dispatch", options.fp8(), config.hidden());
            long step = protocol.dispatch(
                    batch.numTokens(),
                    batch.topK(),
                    batch.hiddenAddress(),
                    batch.dtype(),
                    batch.topkIdxAddress(),
                    options.formatCode(),
                    options.stats());
            dispatched.publish(step, options);
            return dispatched;
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Sends expert outputs back to the tokens' ranks and reduces them with the routing weights.
     *
     * @param dispatched this buffer's latest, not yet combined dispatch result
     * @param expertOutputs null for zero-copy, else one host batch per local expert {@code l} with a {@code hidden}
     *     column FixedSizeList&lt;tokenroute.bfloat16&gt;[H] of exactly {@code dispatched.recvCount(l)} rows,
     *     aligned with the received rows; copied into the send memory
     * @param routing the batch that was dispatched
     * @throws IllegalArgumentException on bad input (nothing was sent)
     */
    @Override
    public Combined combine(Dispatched dispatched, List<VectorSchemaRoot> expertOutputs, TokenBatch routing) {
        enter("combine");
        try {
            ensureWorking();
            if (dispatched != this.dispatched || !this.dispatched.isCurrent(protocol)) {
                throw new IllegalArgumentException(
                        "combine needs this buffer's latest dispatch result, not yet combined"
                                + " (a later dispatch or combine invalidated it)");
            }
            validateRouting(routing);
            if (expertOutputs != null) {
                validateOutputs(expertOutputs);
                copyOutputs(expertOutputs);
            }
            this.dispatched.markCombined();
            protocol.combine(routing.topkWeightsAddress());
            combined.publish(routing.numTokens());
            return combined;
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    private void validateRouting(TokenBatch routing) {
        validateTokens(routing, "combine");
        InputChecks.checkCombineRouting(
                rank(),
                routing,
                protocol.tokens(),
                protocol.topK(),
                routing.topkIdxAddress(),
                i -> protocol.routedIdx((int) i));
    }

    private void validateOutputs(List<VectorSchemaRoot> outputs) {
        InputChecks.checkExpertOutputs(rank(), config, outputs, protocol::recvCount);
    }

    private void copyOutputs(List<VectorSchemaRoot> outputs) {
        for (int l = 0; l < outputs.size(); l++) {
            VectorSchemaRoot out = outputs.get(l);
            if (out == views.expertOutputs[l]) {
                continue;
            }
            FixedSizeListVector list = (FixedSizeListVector) out.getVector(TokenBatchSchema.HIDDEN);
            ArrowBuf data = list.getDataVector().getDataBuffer();
            MemoryUtil.copyMemory(
                    data.memoryAddress(), protocol.combineSendAddress(l), 2L * config.hidden() * out.getRowCount());
        }
    }

    // ------------------------------------------------------------------------------------------------ prefill

    @Override
    public PrefillDispatched prefillDispatch(TokenBatch batch, DispatchOptions options) {
        enter("prefillDispatch");
        try {
            ensureWorking();
            return requirePrefill().dispatch(batch, options);
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    @Override
    public Combined prefillCombine(PrefillDispatched dispatched, TokenBatch routing) {
        enter("prefillCombine");
        try {
            ensureWorking();
            return requirePrefill().combine(dispatched, routing);
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    private HostPrefill requirePrefill() {
        if (prefill == null) {
            throw new UnsupportedOperationException("rank " + rank() + ": this buffer has no prefill queues; build it"
                    + " with BufferConfig.builder().prefillMaxTokensPerRank(T) (docs/contract.md §3b)");
        }
        return prefill;
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /**
     * Fault-tolerant barrier among active ranks; a silent peer is masked after the timeout (elastic) or fails the call.
     */
    @Override
    public void barrier() {
        enter("barrier");
        try {
            ensureWorking();
            protocol.barrier();
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    /** {@link #allGather} as Java arrays: one entry per rank, null for masked ranks. */
    @Override
    public byte[][] allGatherBytes(byte[] payload) {
        enter("allGather");
        try {
            ensureWorking();
            if (payload.length > config.collectiveBytes()) {
                throw new IllegalArgumentException("allGather payload of " + payload.length
                        + " bytes exceeds collectiveBytes = " + config.collectiveBytes());
            }
            return protocol.allGather(payload);
        } catch (PeerTimeoutException | CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    /**
     * Resets the buffers' step state after a failure or a mask change: a fault-tolerant rendezvous of the active ranks
     * (all ranks in non-elastic mode) after which every sequence restarts in a new generation. Clears a failure
     * (non-elastic timeout, collective mismatch) on success, and applies entries cleared with {@link #updateMask} or
     * {@link #clearMask()}: a rank unmasked by every participant and calling cleanBuffer itself takes part again.
     * Invalidates the current {@link Dispatched}.
     *
     * @throws RankMaskedException if a participant still masks this rank afterwards
     */
    @Override
    public void cleanBuffer() {
        enter("cleanBuffer");
        try {
            ensureOpen();
            boolean[] participants = activeRanks();
            protocol.rendezvous(participants, protocol.waiter().timeoutNanos());
            failure = null;
        } catch (PeerTimeoutException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ mask API

    /** Per-rank status, 1 = masked, 0 = active (DeepEP polarity). Elastic mode only. */
    @Override
    public int[] queryMask() {
        requireElastic("queryMask");
        return protocol.mask().snapshot();
    }

    /** Whether {@code rank} is masked in this rank's view. Elastic mode only. */
    @Override
    public boolean isMasked(int rank) {
        requireElastic("isMasked");
        return protocol.mask().isMasked(checkRank(rank));
    }

    /**
     * Masks or unmasks one peer (engine-driven masking).
     *
     * <p>Masking takes effect at once and is published: this rank stops sending to and waiting for the peer, the other
     * ranks adopt the entry in their next call, and the peer, if alive, finds out in its next call
     * ({@link RankMaskedException}). Safe to call from another thread while this rank waits: the wait gives up on that
     * peer at once. A rank cannot mask itself.
     *
     * <p>Unmasking a masked peer needs a rendezvous that the peer joins (its sequence numbers are no longer the
     * group's): the entry is cleared in {@link #queryMask()} at once and applies at the next {@link #cleanBuffer()} (or
     * use {@link #readmit}); until then dispatch, combine and the collectives refuse with an {@link
     * IllegalStateException} that says so.
     */
    @Override
    public void updateMask(int rank, boolean masked) {
        requireElastic("updateMask");
        checkRank(rank);
        if (masked) {
            protocol.mask().mask(rank);
        } else {
            protocol.mask().unmaskLocally(rank);
        }
    }

    /**
     * Unmasks every rank, with the rule of {@code updateMask(rank, false)}: applied at the next {@link #cleanBuffer()}.
     */
    @Override
    public void clearMask() {
        requireElastic("clearMask");
        MaskState mask = protocol.mask();
        for (int r = 0; r < config.ranks(); r++) {
            mask.unmaskLocally(r);
        }
    }

    /**
     * Collective: a confirmed agreement of every live rank on one mask. Each rank adopts the entries its active peers
     * hold, in rounds, until every active peer has confirmed the same mask; a rank leaves only once it saw that, so all
     * live ranks return the same array, and masks changed during the agreement (a peer timing out in it) are part of
     * it.
     *
     * @return the agreed mask (1 = masked); its entry for this rank is 1 if the peers had masked this rank, which then
     *     takes no part until it is {@link #readmit readmitted} (its other calls throw {@link RankMaskedException})
     */
    @Override
    public int[] agreeMask() {
        requireElastic("agreeMask");
        enter("agreeMask");
        try {
            ensureWorking();
            return protocol.agreeMask();
        } catch (CollectiveMismatchException e) {
            throw fail(e);
        } finally {
            exit();
        }
    }

    /**
     * The ranks this rank masks that are waiting in {@code readmit(theirRank, timeout)} to come back (a live rank that
     * was masked by mistake asks so). Local knowledge: the engine all-gathers it (or decides otherwise) before the
     * survivors call {@link #readmit} together. Elastic mode only; allocates.
     */
    @Override
    public int[] readmitRequests() {
        requireElastic("readmitRequests");
        return protocol.readmitRequests();
    }

    /**
     * Collective among the active ranks and the returning rank {@code rank}: cleans the buffers and unmasks it, after
     * which it takes part in dispatch and combine again. The returning rank calls it with its own id (a rank that was
     * stopped, or one that got {@link RankMaskedException}); it asks to come back ({@link #readmitRequests()} on the
     * survivors), waits for the survivors' call and adopts their mask.
     *
     * @param rank the rank coming back
     * @param timeout how long to wait for the other side (wall time), and the rendezvous' timeout
     * @return whether the rank was readmitted (false: the other side did not show up in time)
     * @throws RankMaskedException on the returning rank, if a survivor still masks it after the rendezvous
     */
    @Override
    public boolean readmit(int rank, Duration timeout) {
        requireElastic("readmit");
        checkRank(rank);
        enter("readmit");
        try {
            ensureOpen();
            long nanos = timeout.toNanos();
            if (rank == rank()) {
                if (!protocol.adoptMaskOfReadmittingPeer(nanos)) {
                    return false;
                }
                boolean[] participants = activeRanks();
                protocol.rendezvous(participants, nanos);
                failure = null;
                // Readmitted only if some survivor actually took part (an intent word left by a dead rank is not one).
                for (int r = 0; r < participants.length; r++) {
                    if (r != rank && participants[r]) {
                        return true;
                    }
                }
                return false;
            }
            protocol.ensureNotMaskedByPeers(Phase.CLEAN);
            protocol.publishReadmitIntent(rank);
            try {
                boolean[] participants = activeRanks();
                protocol.rendezvous(participants, nanos);
                failure = null;
                return participants[rank];
            } finally {
                protocol.clearReadmitIntent();
            }
        } finally {
            exit();
        }
    }

    /** The failure detector's view of every peer: suspicion, waits, the local health multiplier (allocates). */
    @Override
    public HealthReport healthReport() {
        return protocol.healthReport();
    }

    // ------------------------------------------------------------------------------------------------ stats

    /** Per local expert, tokens received over all dispatches with {@code stats} on (a copy). */
    @Override
    public long[] cumulativeRecvStats() {
        return protocol.cumulativeRecv().clone();
    }

    /** Per source rank, nanoseconds spent waiting for it in dispatch (a copy). */
    @Override
    public long[] dispatchWaitNanos() {
        return protocol.dispatchWait().clone();
    }

    /** Per source rank, nanoseconds spent waiting for it in combine (a copy). */
    @Override
    public long[] combineWaitNanos() {
        return protocol.combineWait().clone();
    }

    /**
     * Tells peers this rank is alive. Waits beat on their own; an engine calls this during host-side work between
     * operations (expert computation, verification) that can take longer than the timeout, so that peers waiting for
     * this rank's next publish do not mask it. A rank that does not beat is masked one timeout after its last beat;
     * a beating one is waited for at most {@value io.tokenroute.routing.protocol.Waiter#LIVE_WAIT_LIMIT} timeouts.
     * Safe to call from the rank's own thread at any time, also between operations; allocation-free.
     */
    @Override
    public void heartbeat() {
        protocol.heartbeat();
    }

    /** Sets the per-peer wait timeout (a runtime setting; down to 1 ms on CPU transports). */
    @Override
    public void setTimeout(Duration timeout) {
        protocol.waiter().setTimeoutNanos(timeout.toNanos());
    }

    /** The current wait timeout. */
    @Override
    public Duration timeout() {
        return Duration.ofNanos(protocol.waiter().timeoutNanos());
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /**
     * Frees this rank's memory. Never waits on a peer; if this rank's own thread is inside a call, waits only until
     * that call parks or reaches a listener (microseconds), after which the call fails when it resumes, without
     * touching the freed memory. Idempotent.
     */
    @Override
    public void close() {
        synchronized (guard) {
            if (closed) {
                return;
            }
            closed = true;
        }
        guard.close();
        try {
            org.apache.arrow.util.AutoCloseables.close(prefill, views, protocol);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing rank " + rank() + " failed", e);
        }
    }

    // ------------------------------------------------------------------------------------------------ internals

    /** A non-elastic timeout or a collective mismatch leaves the buffer failed until cleanBuffer succeeds. */
    private RuntimeException fail(RuntimeException e) {
        failure = e;
        return e;
    }

    private void validateTokens(TokenBatch batch, String op) {
        InputChecks.checkBatch(rank(), op, config, batch);
        if (!batch.location().isCpuAccessible()) {
            throw InputChecks.refuse(
                    rank(), op, "this transport needs a host batch, got one in " + batch.location() + " memory");
        }
        InputChecks.checkExpertIds(
                rank(), op, config.experts(), batch.topkIdxAddress(), batch.numTokens(), batch.topK(), null);
    }

    private boolean[] activeRanks() {
        boolean[] out = new boolean[config.ranks()];
        for (int r = 0; r < out.length; r++) {
            out[r] = !config.elastic() || !protocol.mask().isMasked(r);
        }
        return out;
    }

    private int checkRank(int rank) {
        if (rank < 0 || rank >= config.ranks()) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + config.ranks() + ")");
        }
        return rank;
    }

    private void requireElastic(String op) {
        if (!config.elastic()) {
            throw new IllegalStateException(op + " needs elastic mode; this buffer was built with elastic = false");
        }
    }

    private void enter(String op) {
        guard.enter(op);
    }

    private void exit() {
        guard.exit();
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("rank " + rank() + ": the buffer is closed");
        }
    }

    private void ensureWorking() {
        ensureOpen();
        if (failure != null) {
            throw new IllegalStateException(
                    "rank " + rank() + ": the buffer failed (" + failure.getMessage() + "); call cleanBuffer() first",
                    failure);
        }
        if (config.elastic() && protocol.mask().unmaskPending()) {
            throw new IllegalStateException("rank " + rank() + ": ranks were unmasked with updateMask/clearMask, which"
                    + " takes effect at a rendezvous they join: call cleanBuffer() on every rank (or readmit) first");
        }
    }
}
