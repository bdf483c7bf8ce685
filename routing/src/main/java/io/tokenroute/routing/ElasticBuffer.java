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
package io.tokenroute.routing;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import java.time.Duration;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank's handle on an elastic expert-parallel group, DeepEP's {@code Buffer}: dispatch, combine, cleanBuffer,
 * barrier, allGather, the mask API and the stats of docs/contract.md §2–§3, with Arrow record batches in and out. Every
 * transport implements it with the same semantics and result types; the transport is chosen once, when the group is
 * opened ({@link ElasticGroup#open}).
 *
 * <p>Every operation except the mask queries, the stats and {@link #heartbeat()} is collective: all active ranks call
 * them in the same order. Inputs are checked before anything is published, so a rejected call leaves no peer waiting
 * and the buffer usable. One thread at a time per buffer (a rank's own thread); a second concurrent call fails fast.
 * {@link #updateMask} may also be called from another thread (it unblocks a wait on that peer at once).
 *
 * <p><b>One agreed view.</b> Masks only grow between rendezvous ({@link #cleanBuffer()}, {@link #readmit}); {@link
 * #agreeMask()} confirms that every live rank holds the same mask. A rank whose peers masked it while it was alive
 * finds out in its next call ({@link RankMaskedException} naming who masked it) and takes no part until it is
 * readmitted.
 *
 * <p><b>Memory.</b> Results live where {@link #location()} says: host memory on {@code local} and {@code shm}, CUDA
 * device memory on {@code cuda-local} and {@code nvshmem}. Input batches must be in the same kind of memory. The
 * buffer owns its results and reuses them: a {@link Dispatched} is valid until the next dispatch, a {@link Combined}
 * until the next combine. Closing frees this rank's memory and never waits on a peer; the group that made the buffer
 * closes it.
 */
public interface ElasticBuffer extends AutoCloseable {

    /** This buffer's rank. */
    int rank();

    /** The configuration this buffer was built from. */
    BufferConfig config();

    /** Where input batches and results live. */
    MemoryLocation location();

    // ------------------------------------------------------------------------------------------------ dispatch

    /** {@link #dispatch(TokenBatch, DispatchOptions)} with bf16 rows and stats. */
    default Dispatched dispatch(TokenBatch batch) {
        return dispatch(batch, DispatchOptions.BF16);
    }

    /**
     * Sends each token to the ranks owning its top-k experts and returns what this rank received.
     *
     * @param batch {@code n <= T} tokens in {@link #location()} memory: {@code hidden [n][H]} of the configured dtype
     *     (bf16, or fp16/fp32 converted to bf16 for the wire), {@code topk_idx [n][k]} with {@code k <= maxTopK},
     *     ids in {@code [0, E)} or {@code -1}, no expert twice in one token; {@code topk_weights} is not read here
     * @param options bf16 or fp8 rows; equal on every rank
     * @return the buffer's reusable result, valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was sent)
     * @throws PeerTimeoutException non-elastic mode only, when a peer stays silent past the timeout
     * @throws RankMaskedException when this rank's peers masked it
     */
    Dispatched dispatch(TokenBatch batch, DispatchOptions options);

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Zero-copy combine: the expert outputs were written into {@link Dispatched#expertOutput(int)}.
     *
     * @see #combine(Dispatched, List, TokenBatch)
     */
    default Combined combine(Dispatched dispatched, TokenBatch routing) {
        return combine(dispatched, null, routing);
    }

    /**
     * Sends expert outputs back to the tokens' ranks and reduces them with the routing weights.
     *
     * @param dispatched this buffer's latest, not yet combined dispatch result
     * @param expertOutputs null for zero-copy, else one batch per local expert {@code l} with a {@code hidden} column
     *     FixedSizeList&lt;tokenroute.bfloat16&gt;[H] of exactly {@code dispatched.recvCount(l)} rows, aligned with the
     *     received rows, in {@link #location()} memory; copied into the send memory
     * @param routing the batch that was dispatched (its {@code topk_idx} must be unchanged; {@code topk_weights} are
     * the
     *     combine weights)
     * @return the buffer's reusable result, valid until the next combine
     * @throws IllegalArgumentException on bad input (nothing was sent)
     */
    Combined combine(Dispatched dispatched, List<VectorSchemaRoot> expertOutputs, TokenBatch routing);

    // ------------------------------------------------------------------------------------------------ prefill

    /**
     * The high-throughput (prefill) mode's layout of {@code batch} (DeepEP's {@code get_dispatch_layout}): tokens per
     * rank, per expert, and which tokens go to which rank, as Arrow vectors the caller closes. Local, not collective.
     */
    default PrefillLayout prefillLayout(TokenBatch batch, BufferAllocator allocator) {
        return PrefillLayout.of(batch, config(), allocator);
    }

    /**
     * High-throughput (prefill) dispatch (docs/contract.md §3b): each token goes once to every rank hosting one of its
     * experts, through bounded queues ({@link BufferConfig#prefillChunks()} × {@link BufferConfig#prefillChunkRows()}
     * rows per pair of ranks), into a receive batch contiguous per source rank. Collective; elastic in every wait.
     *
     * @param batch {@code n <= prefillMaxTokensPerRank} tokens with {@code hidden}, {@code topk_idx} and
     *     {@code topk_weights} (the weights travel with the tokens)
     * @param options bf16 or fp8 rows; equal on every rank
     * @throws UnsupportedOperationException on a transport without the mode, or a buffer built with
     *     {@code prefillMaxTokensPerRank == 0}
     */
    default PrefillDispatched prefillDispatch(TokenBatch batch, DispatchOptions options) {
        throw new UnsupportedOperationException(
                "the prefill (high-throughput) mode is not available on this" + " transport yet");
    }

    /**
     * High-throughput combine: each rank reduces its experts' outputs ({@link PrefillDispatched#expertOutput(int)},
     * zero-copy) per received token with the restricted weights, streams one row per (token, rank) back, and each
     * source sums them per token; {@code lost_weight} as in low-latency mode.
     *
     * @param dispatched this buffer's latest, not yet combined prefill dispatch
     * @param routing the batch that was dispatched (same {@code topk_idx}; its weights give {@code lost_weight})
     */
    default Combined prefillCombine(PrefillDispatched dispatched, TokenBatch routing) {
        throw new UnsupportedOperationException(
                "the prefill (high-throughput) mode is not available on this" + " transport yet");
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /** Fault-tolerant barrier among active ranks; a silent peer is masked (elastic) or fails the call. */
    void barrier();

    /**
     * Fault-tolerant all-gather (replaces engine collectives that would hang on a dead rank).
     *
     * @param payload at most {@code collectiveBytes} bytes
     * @return one entry per rank, null for masked ranks
     */
    byte[][] allGatherBytes(byte[] payload);

    /**
     * {@link #allGatherBytes} as an Arrow record batch of R rows: {@code rank} int32 and {@code payload} binary (null
     * for masked ranks), allocated from {@code resultAllocator}; the caller closes it.
     */
    default VectorSchemaRoot allGather(byte[] payload, BufferAllocator resultAllocator) {
        byte[][] parts = allGatherBytes(payload);
        IntVector rankColumn = new IntVector("rank", resultAllocator);
        VarBinaryVector payloadColumn = new VarBinaryVector("payload", resultAllocator);
        try {
            rankColumn.allocateNew(parts.length);
            payloadColumn.allocateNew(parts.length);
            for (int r = 0; r < parts.length; r++) {
                rankColumn.set(r, r);
                if (parts[r] == null) {
                    payloadColumn.setNull(r);
                } else {
                    payloadColumn.setSafe(r, parts[r]);
                }
            }
        } catch (RuntimeException e) {
            rankColumn.close();
            payloadColumn.close();
            throw e;
        }
        VectorSchemaRoot root = VectorSchemaRoot.of(rankColumn, payloadColumn);
        root.setRowCount(parts.length);
        return root;
    }

    /**
     * Resets the buffers' step state after a failure or a mask change: a fault-tolerant rendezvous of the active ranks
     * (all ranks in non-elastic mode) after which every sequence restarts in a new generation. Clears a failure on
     * success and applies entries cleared with {@link #updateMask} or {@link #clearMask()}. Invalidates the current
     * {@link Dispatched}.
     *
     * @throws RankMaskedException if a participant still masks this rank afterwards
     */
    void cleanBuffer();

    // ------------------------------------------------------------------------------------------------ mask API

    /** Per-rank status, 1 = masked, 0 = active (DeepEP polarity); a copy. Elastic mode only. */
    int[] queryMask();

    /** Whether {@code rank} is masked in this rank's view. Elastic mode only. */
    default boolean isMasked(int rank) {
        int[] mask = queryMask();
        if (rank < 0 || rank >= mask.length) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + mask.length + ")");
        }
        return mask[rank] != 0;
    }

    /**
     * Masks or unmasks one peer (engine-driven masking). Masking takes effect at once; the other ranks adopt it and the
     * peer, if alive, finds out. Unmasking applies at the next {@link #cleanBuffer()} (the peer joins it); until then
     * dispatch, combine and the collectives refuse. Elastic mode only; a rank cannot mask itself.
     */
    void updateMask(int rank, boolean masked);

    /** Unmasks every rank, with the rule of {@code updateMask(rank, false)}. */
    void clearMask();

    /**
     * Collective: a confirmed agreement of every live rank on one mask (docs/contract.md §3.7).
     *
     * @return the agreed mask (1 = masked); its entry for this rank is 1 if the peers had masked this rank
     */
    int[] agreeMask();

    /**
     * Collective among the active ranks and the returning rank {@code rank}: cleans the buffers and unmasks it. The
     * returning rank calls it with its own id.
     *
     * @return whether the rank was readmitted (false: the other side did not show up within {@code timeout})
     */
    boolean readmit(int rank, Duration timeout);

    /** The masked ranks (in this rank's view) that wait in {@code readmit(theirRank, ...)} to come back. */
    int[] readmitRequests();

    /**
     * Collective among the active ranks: all-gathers {@link #readmitRequests()} and readmits the lowest requesting
     * rank. Every active rank returns the same rank, or -1 if none asked; {@link #isMasked} tells whether it came back.
     */
    default int readmitRequesting(Duration timeout) {
        byte[] asking = new byte[config().ranks()];
        for (int r : readmitRequests()) {
            asking[r] = 1;
        }
        int lowest = -1;
        for (byte[] part : allGatherBytes(asking)) {
            for (int r = 0; part != null && r < part.length; r++) {
                if (part[r] != 0 && (lowest < 0 || r < lowest)) {
                    lowest = r;
                }
            }
        }
        if (lowest < 0 || lowest == rank()) {
            return -1;
        }
        readmit(lowest, timeout);
        return lowest;
    }

    // ------------------------------------------------------------------------------------------------ stats

    /** Per local expert, tokens received over all dispatches with {@code stats} on (a copy). */
    long[] cumulativeRecvStats();

    /** Per source rank, nanoseconds spent waiting for it in dispatch (a copy). */
    long[] dispatchWaitNanos();

    /** Per source rank, nanoseconds spent waiting for it in combine (a copy). */
    long[] combineWaitNanos();

    /** The failure detector's view of every peer (allocates). */
    HealthReport healthReport();

    /**
     * Tells peers this rank is alive during host-side work between operations (expert computation, checks) that can
     * take longer than the timeout. Waits beat on their own. Allocation-free; the rank's own thread.
     */
    void heartbeat();

    /** Sets the per-peer wait timeout (a runtime setting; down to 1 ms on CPU transports, 100 µs on GPUs). */
    void setTimeout(Duration timeout);

    /** The current wait timeout. */
    Duration timeout();

    /** Frees this rank's memory; never waits on peers; idempotent. */
    @Override
    void close();
}
