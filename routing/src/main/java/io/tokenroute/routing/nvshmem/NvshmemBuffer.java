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
package io.tokenroute.routing.nvshmem;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaStream;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.StepReport;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaElasticBuffer;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank of the {@code nvshmem} transport (docs/contract.md §6): this process's rank, its buffers on the NVSHMEM
 * symmetric heap, the same CUDA kernels as {@code cuda-local} reaching every peer through {@code nvshmem_ptr}
 * pointers (NVLink, or the same GPU), or through NVSHMEM device calls where no pointer reaches (other hosts) or when
 * forced ({@link NvshmemOptions#forceDeviceCalls()}). It is the {@link ElasticBuffer} of a {@link CudaElasticBuffer}
 * ({@code cuda-local}'s per-rank buffer, with its semantics and what it does not do yet), plus the session's
 * bookkeeping: a call that masked a peer marks the session failed, so that nothing collective runs at teardown.
 * Results are {@link CudaDispatched} / {@link CudaCombined} (and the prefill mode's
 * {@link io.tokenroute.routing.cuda.CudaPrefillDispatched}) in device memory. Open one with
 * {@code ElasticGroup.open("nvshmem", config, allocator)} ({@link NvshmemGroup}), or with {@link #open} on a session.
 *
 * <p>Every operation except the mask queries is collective over the active ranks, one call per process, in the same
 * order on every rank. Inputs are checked on the host before any kernel is launched, so a rejected call leaves no peer
 * waiting. A SIGKILLed or stopped peer is masked by the kernels' timed waits within the timeout; survivors go on.
 * One thread at a time (a second concurrent call fails fast), apart from the mask calls.
 *
 * <p>Closing frees this rank's CUDA resources and never waits on a peer. The symmetric allocation stays with the
 * session: {@code nvshmem_free} is collective and would hang on a dead peer, so only
 * {@link NvshmemSession#finalizeHealthy()} returns it.
 */
public final class NvshmemBuffer implements ElasticBuffer {
    private final NvshmemSession session;
    private final CudaLocalGroup group;
    private final CudaElasticBuffer rank;

    private NvshmemBuffer(NvshmemSession session, CudaLocalGroup group) {
        this.session = session;
        this.group = group;
        this.rank = group.buffer(session.rank());
    }

    /**
     * Bytes of symmetric heap one buffer of {@code config} takes ({@link NvshmemOptions#symmetricHeapBytes()} must
     * cover the buffers a process holds at once, plus NVSHMEM's own few MiB).
     */
    public static long symmetricBytes(BufferConfig config) {
        return CudaLocalGroup.bytesPerRank(config);
    }

    /**
     * Opens this process's rank of a buffer. Collective: every rank of the session calls it with the same
     * configuration (apart from {@code rank}) while all are healthy, since it allocates on the symmetric heap and ends
     * with a barrier that makes every rank's control words initialised before anyone reads them.
     *
     * @param session this process's NVSHMEM session; must outlive the buffer
     * @param config {@code ranks} must equal the session's, {@code rank} is ignored (the session's is used)
     * @param allocator pays for the host-side Arrow views; close the buffer first
     * @return the buffer; the caller closes it
     */
    public static NvshmemBuffer open(NvshmemSession session, BufferConfig config, BufferAllocator allocator) {
        if (config.ranks() != session.ranks()) {
            throw new IllegalArgumentException(
                    "the buffer has " + config.ranks() + " ranks, the NVSHMEM session " + session.ranks());
        }
        BufferConfig mine = config.withRank(session.rank());
        CudaLocalGroup group = CudaLocalGroup.open(session.device(), mine, allocator, new SymmetricRankMemory(session));
        try {
            return new NvshmemBuffer(session, group);
        } catch (RuntimeException | Error e) {
            group.close();
            throw e;
        }
    }

    @Override
    public int rank() {
        return rank.rank();
    }

    /** R. */
    public int ranks() {
        return group.ranks();
    }

    /** The configuration (with this process's rank). */
    @Override
    public BufferConfig config() {
        return rank.config();
    }

    @Override
    public MemoryLocation location() {
        return rank.location();
    }

    /** The stream this rank's kernels run on: queue expert kernels that write zero-copy outputs here. */
    public CudaStream stream() {
        return rank.stream();
    }

    /** {@link CudaElasticBuffer#setValidateDeviceInputs}. */
    public void setValidateDeviceInputs(boolean validate) {
        rank.setValidateDeviceInputs(validate);
    }

    /** The CUDA group underneath (this one rank), for benchmarks that queue steps or capture graphs. */
    public CudaLocalGroup group() {
        return group;
    }

    // ------------------------------------------------------------------------------------------------ calls

    @Override
    public CudaDispatched dispatch(TokenBatch batch, DispatchOptions options) {
        return watched(() -> rank.dispatch(batch, options));
    }

    @Override
    public CudaCombined combine(Dispatched dispatched, List<VectorSchemaRoot> expertOutputs, TokenBatch routing) {
        return watched(() -> rank.combine(dispatched, expertOutputs, routing));
    }

    /** {@link CudaElasticBuffer#prefillDispatch}; a call that masked a peer marks the session failed. */
    @Override
    public PrefillDispatched prefillDispatch(TokenBatch batch, DispatchOptions options) {
        return watched(() -> rank.prefillDispatch(batch, options));
    }

    /** {@link CudaElasticBuffer#prefillCombine}; a call that masked a peer marks the session failed. */
    @Override
    public Combined prefillCombine(PrefillDispatched dispatched, TokenBatch routing) {
        return watched(() -> rank.prefillCombine(dispatched, routing));
    }

    /**
     * Runs a step call; one that masked a peer, or timed out on one, marks the session failed, so that teardown never
     * waits on the dead.
     */
    private <T extends StepReport> T watched(Supplier<T> call) {
        try {
            T result = call.get();
            if (result.newlyMaskedCount() > 0) {
                session.markFailed();
            }
            return result;
        } catch (PeerTimeoutException e) {
            session.markFailed();
            throw e;
        }
    }

    @Override
    public void barrier() {
        try {
            rank.barrier();
        } finally {
            noteMasks();
        }
    }

    @Override
    public byte[][] allGatherBytes(byte[] payload) {
        try {
            return rank.allGatherBytes(payload);
        } finally {
            noteMasks();
        }
    }

    @Override
    public void cleanBuffer() {
        try {
            rank.cleanBuffer();
        } finally {
            noteMasks();
        }
    }

    @Override
    public int[] queryMask() {
        return rank.queryMask();
    }

    @Override
    public boolean isMasked(int peer) {
        return rank.isMasked(peer);
    }

    @Override
    public void updateMask(int peer, boolean masked) {
        rank.updateMask(peer, masked);
        if (masked) {
            session.markFailed();
        }
    }

    @Override
    public void clearMask() {
        rank.clearMask();
    }

    @Override
    public int[] agreeMask() {
        try {
            return rank.agreeMask();
        } finally {
            noteMasks();
        }
    }

    @Override
    public boolean readmit(int returning, Duration timeout) {
        try {
            return rank.readmit(returning, timeout);
        } finally {
            noteMasks();
        }
    }

    @Override
    public int[] readmitRequests() {
        return rank.readmitRequests();
    }

    @Override
    public long[] cumulativeRecvStats() {
        return rank.cumulativeRecvStats();
    }

    @Override
    public long[] dispatchWaitNanos() {
        return rank.dispatchWaitNanos();
    }

    @Override
    public long[] combineWaitNanos() {
        return rank.combineWaitNanos();
    }

    @Override
    public HealthReport healthReport() {
        return rank.healthReport();
    }

    @Override
    public void heartbeat() {
        rank.heartbeat();
    }

    @Override
    public void setTimeout(Duration timeout) {
        rank.setTimeout(timeout);
    }

    @Override
    public Duration timeout() {
        return rank.timeout();
    }

    /** Frees this rank's CUDA resources; never waits on a peer (see the class comment); idempotent. */
    @Override
    public void close() {
        group.close();
    }

    /**
     * A mask entry (or a non-elastic failure) means a peer failed: the session must not run anything collective at
     * teardown.
     */
    private void noteMasks() {
        if (group.isClosed()) {
            return;
        }
        if (!rank.config().elastic()) {
            if (rank.failed()) {
                session.markFailed();
            }
            return;
        }
        for (int m : rank.queryMask()) {
            if (m != 0) {
                session.markFailed();
                return;
            }
        }
    }
}
