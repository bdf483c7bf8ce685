package io.tokenroute.routing.nvshmem;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.KernelImage;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.nvshmem.Nvshmem;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import io.tokenroute.routing.cuda.CudaRankMemory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank of the {@code nvshmem} transport (spec §6): this process's rank, its buffers on the NVSHMEM symmetric heap,
 * the same CUDA kernels as {@code cuda-local} reaching every peer through {@code nvshmem_ptr} pointers (NVLink, or the
 * same GPU) — or through NVSHMEM device calls where no pointer reaches (other hosts) or when forced
 * ({@link NvshmemOptions#forceDeviceCalls()}). Semantics are those of {@link io.tokenroute.routing.ElasticBuffer}
 * (spec §2–§3); results are {@link CudaDispatched} / {@link CudaCombined} views of device memory.
 *
 * <p>Every operation except the mask queries is collective over the active ranks, one call per process, in the same
 * order on every rank. Inputs are checked on the host before any kernel is launched, so a rejected call leaves no peer
 * waiting. A SIGKILLed or stopped peer is masked by the kernels' timed waits within the timeout; survivors go on.
 * Not thread-safe (a second concurrent call fails fast), apart from the mask calls.
 *
 * <p>Closing frees this rank's CUDA resources and never waits on a peer. The symmetric allocation stays with the
 * session: {@code nvshmem_free} is collective and would hang on a dead peer, so only
 * {@link NvshmemSession#finalizeHealthy()} returns it; a call that masked a peer marks the session failed.
 */
public final class NvshmemBuffer implements AutoCloseable {
    private final NvshmemSession session;
    private final CudaLocalGroup group;
    private final int rank;
    /** One-entry lists reused by every call, so the hot path allocates nothing. */
    private final List<TokenBatch> one = new ArrayList<>(1);
    private final List<List<VectorSchemaRoot>> outputs = new ArrayList<>(1);
    private final boolean[] self = {true};
    private boolean closed;

    private NvshmemBuffer(NvshmemSession session, CudaLocalGroup group) {
        this.session = session;
        this.group = group;
        this.rank = group.hostedRanks()[0];
        one.add(null);
        outputs.add(null);
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
            throw new IllegalArgumentException("the buffer has " + config.ranks() + " ranks, the NVSHMEM session "
                    + session.ranks());
        }
        BufferConfig mine = config.withRank(session.rank());
        CudaLocalGroup group = CudaLocalGroup.open(session.device(), mine, allocator, new SymmetricRankMemory(session));
        return new NvshmemBuffer(session, group);
    }

    /** This process's rank. */
    public int rank() {
        return rank;
    }

    /** R. */
    public int ranks() {
        return group.ranks();
    }

    /** The configuration (with this process's rank). */
    public BufferConfig config() {
        return group.config();
    }

    /** The stream this rank's kernels run on: queue expert kernels that write zero-copy outputs here. */
    public CudaStream stream() {
        return group.stream(0);
    }

    /** Sets the kernels' wait timeout (100 µs and up are meaningful on a GPU). */
    public void setTimeout(Duration timeout) {
        group.setTimeout(timeout);
    }

    /** The kernels' wait timeout. */
    public Duration timeout() {
        return group.timeout();
    }

    /**
     * Dispatches this rank's tokens (spec §2 dispatch).
     *
     * @param batch {@code n <= T} tokens in host memory (copied in) or CUDA memory of this device (read in place):
     *     {@code hidden [n][H]} bf16/fp16/fp32 as configured, {@code topk_idx [n][k]} int64, {@code topk_weights}
     * @return this rank's received rows (device memory views), valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was launched, no peer waits)
     * @throws io.tokenroute.routing.PeerTimeoutException non-elastic mode, when a peer stayed silent
     */
    public CudaDispatched dispatch(TokenBatch batch, DispatchOptions options) {
        one.set(0, batch);
        try {
            return noteMasks(group.dispatch(one, options).get(0));
        } finally {
            one.set(0, null);
        }
    }

    /** Zero-copy combine: the expert outputs were written into {@link CudaDispatched#expertOutput} rows. */
    public CudaCombined combine(TokenBatch routing) {
        return combine(null, routing);
    }

    /**
     * Combines the current step (spec §2 combine).
     *
     * @param expertOutputs null (zero-copy), or one host batch per local expert with a bf16 {@code hidden} column of
     *     exactly {@code recvCount(l)} rows, copied into the combine-send rows
     * @param routing the batch this rank dispatched (its {@code topk_weights} weigh the outputs)
     * @return per token the weighted sum over unmasked experts and the weight lost to masked ones (device memory)
     */
    public CudaCombined combine(List<VectorSchemaRoot> expertOutputs, TokenBatch routing) {
        one.set(0, routing);
        outputs.set(0, expertOutputs);
        try {
            return noteMasks(group.combine(expertOutputs == null ? null : outputs, one).get(0));
        } finally {
            one.set(0, null);
            outputs.set(0, null);
        }
    }

    /** Fault-tolerant barrier among the active ranks. */
    public void barrier() {
        try {
            group.barrier(self);
        } finally {
            noteMasks();
        }
    }

    /**
     * Fault-tolerant allGather (spec §2).
     *
     * @param payload at most {@code collectiveBytes} bytes
     * @return one entry per rank, null for ranks this rank masks
     */
    public byte[][] allGather(byte[] payload) {
        try {
            return group.allGather(new byte[][] {payload})[0];
        } finally {
            noteMasks();
        }
    }

    /** Resets the dispatch/combine state through the fault-tolerant rendezvous (spec §2 cleanBuffer). */
    public void cleanBuffer() {
        try {
            group.cleanBuffer(self);
        } finally {
            noteMasks();
        }
    }

    /** Per rank 1 = masked, 0 = active (DeepEP polarity). Elastic mode only. */
    public int[] queryMask() {
        return group.queryMask(0);
    }

    /** Masks or unmasks {@code peer} in this rank's view (engine-driven masking). Elastic mode only. */
    public void updateMask(int peer, boolean masked) {
        group.updateMask(0, peer, masked);
        if (masked) {
            session.markFailed();
        }
    }

    /** Marks every rank active. Elastic mode only. */
    public void clearMask() {
        group.clearMask(0);
    }

    /** All-gathers the masks of the active ranks and adopts their union (spec §2 agreeMask). */
    public int[] agreeMask() {
        try {
            return group.agreeMask(self)[0];
        } finally {
            noteMasks();
        }
    }

    /**
     * Readmit (spec §2): collective among the survivors and the returning rank. Survivors call it with the returning
     * rank's id: they unmask it and enter the cleanBuffer rendezvous. The returning rank calls it with its own id: it
     * marks every rank active and enters the same rendezvous, in which a peer that is really gone is masked again.
     *
     * @param returning the rank coming back
     * @param timeout how long the rendezvous waits for the other side (the returning rank may first have to finish the
     *     step it was stopped in); the buffer's timeout is restored afterwards
     * @return survivors: whether {@code returning} took part; the returning rank: whether some survivor took part
     */
    public boolean readmit(int returning, Duration timeout) {
        if (returning < 0 || returning >= ranks()) {
            throw new IllegalArgumentException("rank " + returning + " outside [0, " + ranks() + ")");
        }
        Duration usual = group.timeout();
        group.setTimeout(timeout);
        try {
            if (returning == rank) {
                group.clearMask(0);
                cleanBuffer();
                int[] mask = queryMask();
                for (int p = 0; p < mask.length; p++) {
                    if (p != rank && mask[p] == 0) {
                        return true;
                    }
                }
                return false;
            }
            group.updateMask(0, returning, false);
            cleanBuffer();
            return queryMask()[returning] == 0;
        } finally {
            group.setTimeout(usual);
        }
    }

    /** Per local expert, tokens received over all dispatches with {@code stats} on. */
    public long[] cumulativeRecvStats() {
        return group.cumulativeRecvStats(0);
    }

    /** Per source rank, nanoseconds waited for it in dispatch (GPU clock). */
    public long[] dispatchWaitNanos() {
        return group.dispatchWaitNanos(0);
    }

    /** Per source rank, nanoseconds waited for it in combine. */
    public long[] combineWaitNanos() {
        return group.combineWaitNanos(0);
    }

    /**
     * Overwrites this rank's receive rows and combine outputs with the byte 0xA5 (tests); not its combine-send rows,
     * which a slower peer may still be reading ({@link CudaLocalGroup#poisonResults()}).
     */
    public void poisonResults() {
        group.poisonResults();
    }

    /** The cuda group underneath (one hosted rank), for benchmarks that queue steps or capture graphs. */
    public CudaLocalGroup group() {
        return group;
    }

    /** Frees this rank's CUDA resources; never waits on a peer (see the class comment). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        group.close();
    }

    private <T> T noteMasks(T result) {
        if (result instanceof CudaDispatched d && d.newlyMaskedCount() > 0
                || result instanceof CudaCombined c && c.newlyMaskedCount() > 0) {
            session.markFailed();
        }
        return result;
    }

    private void noteMasks() {
        if (!group.config().elastic()) {
            return;
        }
        for (int m : group.queryMask(0)) {
            if (m != 0) {
                session.markFailed();
                return;
            }
        }
    }

    /** The rank's allocation on the symmetric heap; peers through {@code nvshmem_ptr}, or 0 for device calls. */
    private static final class SymmetricRankMemory implements CudaRankMemory {
        private final NvshmemSession session;
        private final Nvshmem nvshmem;
        /** The NVSHMEM-linked kernels, or null for the pointer-only fatbin. */
        private KernelModule deviceKernels;
        private boolean registered;

        SymmetricRankMemory(NvshmemSession session) {
            this.session = session;
            this.nvshmem = session.nvshmem();
        }

        @Override
        public int[] hostedRanks() {
            return new int[] {session.rank()};
        }

        @Override
        public KernelModule loadKernels(CudaDevice device) {
            NvshmemOptions options = session.options();
            if (options.deviceKernels() == null) {
                return KernelModule.load(device);
            }
            // Registered with NVSHMEM in initialised(), once this buffer's allocation exists.
            deviceKernels = KernelModule.load(device, KernelImage.fromFile(options.deviceKernels()));
            return deviceKernels;
        }

        @Override
        public DeviceBuffer allocate(int rank, long bytes) {
            return nvshmem.allocateSymmetric(bytes);
        }

        @Override
        public long[] peerBases(int rank, long[] hostedBases) {
            long base = hostedBases[rank];
            long[] peers = new long[session.ranks()];
            for (int p = 0; p < peers.length; p++) {
                if (p == rank) {
                    peers[p] = base;
                } else if (!session.options().forceDeviceCalls()) {
                    peers[p] = nvshmem.peerPointer(base, p);
                }
                if (peers[p] == 0 && deviceKernels == null) {
                    throw new IllegalStateException("rank " + rank + ": no pointer reaches peer " + p + " (nvshmem_ptr"
                            + " returned NULL: another host, or no peer mapping); that needs the NVSHMEM-linked kernels"
                            + " (NvshmemOptions.deviceKernels, built by build-nvshmem-kernels.sh)");
                }
            }
            return peers;
        }

        @Override
        public void releaseKernels(KernelModule module) {
            if (registered) {
                registered = false;
                nvshmem.finalizeModule(module.handle());
            }
        }

        @Override
        public void initialised() {
            // Every rank zeroed its control words; nobody may read a peer's words before that (they start as poison).
            nvshmem.barrierAll();
            if (deviceKernels != null) {
                // Copies NVSHMEM's device state into the module; releaseKernels unregisters it before the unload.
                nvshmem.initModule(deviceKernels.handle());
                registered = true;
            }
        }
    }
}
