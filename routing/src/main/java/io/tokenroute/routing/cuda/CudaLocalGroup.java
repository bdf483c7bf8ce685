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
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaGraph;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.FillKernel;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.Memcpy;
import io.tokenroute.device.PinnedHostBuffer;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The ranks of a CUDA group that this process hosts (docs/contract.md §6): all R for {@code cuda-local} (one GPU,
 * each rank's buffers in one device allocation, peers reached by plain device pointers), one for {@code nvshmem}
 * (its allocation on the symmetric heap, {@link CudaRankMemory}). The protocol is run by the CUDA kernels of
 * {@code device/src/main/cuda/{sync,dispatch,combine}.cuh}.
 *
 * <p><b>Two ways to drive it.</b> {@link #buffer(int)} gives each rank its {@link CudaElasticBuffer}, driven from the
 * rank's own thread like any other transport's: R threads for {@code cuda-local}. The batching driver below drives
 * every hosted rank from one thread instead (the benchmarks, CUDA graph capture): each call takes one entry per rank
 * ({@code null} leaves the rank out, which is how a dead rank is emulated) and launches every rank's send phase, then
 * every rank's receive phase, batched: one grid per phase covers all ranks ({@code blockIdx.y} = rank), on one
 * stream, so a step costs three launches for the whole group. Lists and flags are indexed by position in
 * {@link #hostedRanks()}. The two ways share each rank's state and may alternate between calls, never overlap (a call
 * of one while the other is inside a call on the same rank fails fast).
 *
 * <p><b>Memory.</b> Results live in device memory ({@link CudaDispatched}, {@link CudaCombined}: Arrow batches over
 * device buffers, exportable through the C Device Data Interface with a CUDA sync event). Counts, layout,
 * newly-masked peers and faults come back through a pinned host report the kernels write; the CPU never reads device
 * memory. Host token batches are copied in; CUDA batches of this device are read in place.
 *
 * <p><b>Hot path.</b> Kernel arguments are pre-built; a batched dispatch or combine allocates nothing on the Java heap,
 * and the returned lists are views over per-group arrays, valid until the next call of the same kind.
 * {@link #captureGraph} records queued steps ({@link #queueDispatch}, {@link #queueCombine}) into a CUDA graph: the
 * kernels keep their step state in device memory, so a graph replays step after step. The thread making batched calls
 * must have the device current ({@link CudaDevice#makeCurrent()}); the per-rank buffers make it current themselves.
 *
 * <p>Closing frees every rank's memory; it never waits for a rank beyond the kernels' timeouts.
 */
public final class CudaLocalGroup implements ElasticGroup {
    /** What the GPU transports do beyond the common operations (see {@link CudaElasticBuffer}). */
    public static final Set<Capability> CAPABILITIES =
            Collections.unmodifiableSet(EnumSet.of(Capability.DEVICE_INPUTS));

    private final CudaDevice device;
    private final boolean ownsDevice;
    private final BufferConfig config;
    private final CudaRankLayout layout;
    private final CudaRankMemory memory;
    private final KernelModule module;
    private final BufferAllocator allocator;
    /** The stream batched launches (every unstalled rank at once) and graph replays run on. */
    private final CudaStream origin;

    private final PinnedHostBuffer pinned;
    private final CudaRankEngine[] ranks;
    private final CudaElasticBuffer[] buffers;
    private CudaBatchDriver driver;
    private volatile boolean closed;

    private CudaLocalGroup(
            CudaDevice device, boolean ownsDevice, BufferConfig config, BufferAllocator parent, CudaRankMemory memory) {
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.config = config;
        this.memory = memory;
        if (config.ranks() > CudaRankLayout.MAX_RANKS) {
            throw new IllegalArgumentException(
                    "the CUDA kernels serve at most " + CudaRankLayout.MAX_RANKS + " ranks, got " + config.ranks());
        }
        this.layout = new CudaRankLayout(config);
        int[] hosted = memory.hostedRanks();
        for (int i = 0; i < hosted.length; i++) {
            if (hosted[i] < 0 || hosted[i] >= config.ranks() || (i > 0 && hosted[i] <= hosted[i - 1])) {
                throw new IllegalArgumentException(
                        "hosted ranks must ascend within [0, " + config.ranks() + "), got " + Arrays.toString(hosted));
            }
        }
        if (hosted.length == 0) {
            throw new IllegalArgumentException("a group must host at least one rank");
        }
        device.makeCurrent();
        this.module = memory.loadKernels(device);
        this.allocator = parent.newChildAllocator(memory.transport(), 0, Long.MAX_VALUE);
        this.origin = CudaStream.create(CudaStream.NON_BLOCKING);
        this.pinned = PinnedHostBuffer.allocate(CudaRankEngine.pinnedBytes(layout) * hosted.length);
        MemoryUtil.setMemory(pinned.address(), pinned.size(), (byte) 0);
        this.ranks = new CudaRankEngine[hosted.length];
        this.buffers = new CudaElasticBuffer[hosted.length];
    }

    /**
     * Opens a {@code cuda-local} group of {@code config.ranks()} ranks on {@code device}: one device allocation per
     * rank (poisoned, then its control words zeroed), a non-blocking stream and events per rank, the kernel module.
     *
     * @param device the GPU; must stay open until the group is closed
     * @param config the group's configuration ({@code rank} ignored); {@code timeout} is the kernels' wait timeout
     * @param allocator pays for the Arrow views (host validity bitmaps, the layout batches); close the group first
     * @return the group; the caller closes it
     * @throws io.tokenroute.device.CudaUnavailableException without CUDA
     */
    public static CudaLocalGroup open(CudaDevice device, BufferConfig config, BufferAllocator allocator) {
        return open(device, config, allocator, CudaRankMemory.allLocal(config.ranks()));
    }

    /**
     * Opens a group hosting the ranks {@code memory} names, in the allocations it provides (the {@code nvshmem}
     * transport: one rank per process on the symmetric heap). Masks, allGather views and wait stats still have R
     * entries.
     *
     * @see #open(CudaDevice, BufferConfig, BufferAllocator)
     */
    public static CudaLocalGroup open(
            CudaDevice device, BufferConfig config, BufferAllocator allocator, CudaRankMemory memory) {
        return open(device, false, config, allocator, memory);
    }

    /** {@link #open(CudaDevice, BufferConfig, BufferAllocator, CudaRankMemory)} owning {@code device} (closed last). */
    static CudaLocalGroup open(
            CudaDevice device,
            boolean ownsDevice,
            BufferConfig config,
            BufferAllocator allocator,
            CudaRankMemory memory) {
        CudaLocalGroup group = new CudaLocalGroup(device, ownsDevice, config, allocator, memory);
        try {
            group.initialise();
            return group;
        } catch (RuntimeException | Error e) {
            group.closeQuietly();
            throw e;
        }
    }

    private void initialise() {
        FillKernel fill = new FillKernel(module);
        CudaStream control = origin;
        int[] hosted = memory.hostedRanks();
        for (int r = 0; r < ranks.length; r++) {
            DeviceBuffer allocation = memory.allocate(hosted[r], layout.bytes);
            try {
                ranks[r] = new CudaRankEngine(
                        hosted[r],
                        device,
                        config,
                        layout,
                        allocation,
                        pinned.address() + r * CudaRankEngine.pinnedBytes(layout),
                        ranks.length);
            } catch (RuntimeException | Error e) {
                allocation.close();
                throw e;
            }
        }
        long[] hostedBases = new long[config.ranks()];
        for (CudaRankEngine rank : ranks) {
            hostedBases[rank.id] = rank.base;
        }
        for (CudaRankEngine rank : ranks) {
            long[] peers = memory.peerBases(rank.id, hostedBases);
            fill.fill(rank.base, layout.bytes, 1, CudaRankEngine.POISON, control);
            fill.fill(rank.base + layout.offCtrl, CudaRankLayout.CTRL_BYTES, 1, 0, control);
            fill.fill(rank.base + layout.offLayout, 8L * layout.localExperts * layout.ranks, 1, 0, control);
            fill.fill(rank.base + layout.offState, layout.zeroEnd - layout.offState, 1, 0, control);
            Memcpy.toDevice(
                    rank.desc(),
                    layout.descriptor(rank.id, config.elastic(), rank.base, rank.report.address()),
                    control);
            Memcpy.toDevice(rank.base + layout.offPeers, peers, control);
            CudaPrefillLayout prefill = layout.prefill;
            if (prefill != null) {
                Memcpy.toDevice(rank.base + prefill.offDescriptor, prefill.descriptor(), control);
                // The words peers poll and the kernels' counters start at 0 (the steps start at 1).
                fill.fill(rank.base + prefill.offNotify, prefill.offQueues - prefill.offNotify, 1, 0, control);
                fill.fill(rank.base + prefill.offState, CudaPrefillLayout.STATE_BYTES, 1, 0, control);
            }
        }
        control.synchronize();
        memory.initialised();
        for (int r = 0; r < ranks.length; r++) {
            ranks[r].bind(module, allocator);
            ranks[r].resetTrace(ranks[r].stream);
            buffers[r] = new CudaElasticBuffer(ranks[r]);
        }
        driver = new CudaBatchDriver(this, module, ranks, origin);
    }

    // ------------------------------------------------------------------------------------------------ the group

    /** {@code cuda-local}, or the transport of the ranks' memory ({@code nvshmem}). */
    @Override
    public String transport() {
        return memory.transport();
    }

    /** R, the group size. */
    @Override
    public int ranks() {
        return config.ranks();
    }

    /** The ranks this process hosts; the same as {@link #hostedRanks()}. */
    @Override
    public int[] localRanks() {
        return hostedRanks();
    }

    /**
     * The global ids of the ranks this process hosts (all R for {@code cuda-local}); the batching driver's lists and
     * flags are indexed by position in this array.
     */
    public int[] hostedRanks() {
        int[] out = new int[ranks.length];
        for (int r = 0; r < ranks.length; r++) {
            out[r] = ranks[r].id;
        }
        return out;
    }

    /** Global rank {@code rank}'s buffer, for that rank's own thread (the group owns and closes it). */
    @Override
    public CudaElasticBuffer buffer(int rank) {
        checkOpen();
        for (int r = 0; r < ranks.length; r++) {
            if (ranks[r].id == rank) {
                return buffers[r];
            }
        }
        throw new IllegalArgumentException("rank " + rank + " is not hosted by this " + transport() + " group (it"
                + " hosts " + Arrays.toString(hostedRanks()) + ")");
    }

    /** {@link #CAPABILITIES}. */
    @Override
    public Set<Capability> capabilities() {
        return CAPABILITIES;
    }

    /** The group's configuration. */
    public BufferConfig config() {
        return config;
    }

    /** The GPU. */
    public CudaDevice device() {
        return device;
    }

    /**
     * The stream the batching driver runs hosted rank {@code r}'s dispatch and combine on (the shared one; a stalled
     * rank's own): queue expert kernels writing zero-copy outputs here.
     */
    public CudaStream stream(int r) {
        return driver.exec(driver.rank(r));
    }

    /** The batching driver's wait timeout. */
    public Duration timeout() {
        return Duration.ofNanos(driver.timeoutNanos());
    }

    /** Sets every hosted rank's wait timeout (a runtime kernel argument; 100 µs and up are meaningful on a GPU). */
    public void setTimeout(Duration timeout) {
        long nanos = timeout.toNanos();
        if (nanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        driver.setTimeout(nanos);
    }

    /** {@link CudaElasticBuffer#setValidateDeviceInputs} for every hosted rank. */
    public void setValidateDeviceInputs(boolean validate) {
        for (CudaRankEngine rank : ranks) {
            rank.setValidateDeviceInputs(validate);
        }
    }

    /** Host nanoseconds of the last batched dispatch/combine spent outside blocking synchronisation (all ranks). */
    public long lastCallHostNanos() {
        return driver.lastCallHostNanos();
    }

    /** Bytes of one rank's device allocation. */
    public long bytesPerRank() {
        return layout.bytes;
    }

    /** Bytes of one rank's device allocation for {@code config} (what {@link CudaRankMemory#allocate} is asked for). */
    public static long bytesPerRank(BufferConfig config) {
        return new CudaRankLayout(config).bytes;
    }

    // ------------------------------------------------------------------------------------------------ batched calls

    /**
     * Dispatches one step on every hosted rank with a batch.
     *
     * @param perRank one entry per hosted rank: its tokens (host memory, or CUDA memory of this device), or
     *     {@code null} to leave the rank out of this call
     * @param options equal for every rank
     * @return per rank its result, {@code null} for ranks left out or stalled; a view valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was launched)
     * @throws PeerTimeoutException non-elastic mode, when a peer stayed silent (the rank refuses work until
     *     {@link #cleanBuffer()})
     */
    public List<CudaDispatched> dispatch(List<TokenBatch> perRank, DispatchOptions options) {
        return driver.dispatch(perRank, options);
    }

    /**
     * Queues a dispatch without checks or synchronisation (graph capture, benchmarks): inputs must be valid device
     * batches or host batches. Results are not read back; call {@link #synchronize()} before reading device results.
     */
    public void queueDispatch(List<TokenBatch> perRank, DispatchOptions options) {
        driver.queueDispatch(perRank, options);
    }

    /** Zero-copy combine: each rank's expert outputs are in its {@link CudaDispatched#expertOutput} rows. */
    public List<CudaCombined> combine(List<TokenBatch> routing) {
        return driver.combine(null, routing);
    }

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
    public List<CudaCombined> combine(List<List<VectorSchemaRoot>> expertOutputs, List<TokenBatch> routing) {
        return driver.combine(expertOutputs, routing);
    }

    /** Queues a zero-copy combine without checks or synchronisation (graph capture, benchmarks). */
    public void queueCombine(List<TokenBatch> routing) {
        driver.queueCombine(routing);
    }

    /** {@link #barrier(boolean[])} over every hosted rank. */
    public void barrier() {
        driver.barrier(all());
    }

    /**
     * Fault-tolerant barrier of the launched ranks (among each one's unmasked peers).
     *
     * @param launch which hosted ranks take part in this call
     */
    public void barrier(boolean[] launch) {
        driver.barrier(launch);
    }

    /**
     * Fault-tolerant allGather (docs/contract.md §2.5): each launched rank contributes its payload.
     *
     * @param payloads per hosted rank at most {@code collectiveBytes} bytes, or null to leave the rank out
     * @return per launched rank its view: one entry per rank, null for ranks it masks (or that moved on); null for
     *     ranks left out or stalled
     */
    public byte[][][] allGather(byte[][] payloads) {
        return driver.allGather(payloads, Phase.ALL_GATHER);
    }

    /** {@link #cleanBuffer(boolean[])} over every hosted rank. */
    public void cleanBuffer() {
        driver.cleanBuffer(all());
    }

    /**
     * Resets the launched ranks' step state through the device rendezvous (docs/contract.md §2.3): participants are
     * each rank's unmasked peers (all ranks in non-elastic mode), entries cleared for it are applied first; sequences
     * restart in a new generation; a rank's failure is cleared when its rendezvous succeeds.
     *
     * @param launch which hosted ranks take part in this call
     * @throws PeerTimeoutException non-elastic mode, when a participant stayed silent (phase CLEAN)
     */
    public void cleanBuffer(boolean[] launch) {
        driver.cleanBuffer(launch);
    }

    /** Hosted rank {@code r}'s mask, 1 = masked: {@code buffer(hostedRanks()[r]).queryMask()}. Elastic mode only. */
    public int[] queryMask(int r) {
        return driver.queryMask(r);
    }

    /**
     * Collective of the launched ranks: one gathering round of their masks over the allGather, each adopting the union
     * of what it received and what it masks afterwards ({@link CudaElasticBuffer#agreeMask()}). Elastic mode only.
     *
     * @return per launched rank the union (its own entry is 1 if some peer masks it), null for others
     */
    public int[][] agreeMask(boolean[] launch) {
        return driver.agreeMask(launch);
    }

    /**
     * Readmits {@code returning} (docs/contract.md §2.6): every launched survivor unmasks it, the returning rank adopts
     * the first survivor's mask, and all of them run the cleanBuffer rendezvous. Elastic mode only; every rank of the
     * group must be hosted here (one rank per process readmits through its {@link #buffer(int)}).
     *
     * @param returning the hosted rank coming back (it must not be stalled)
     * @param survivors the hosted ranks readmitting it ({@code returning} excluded)
     * @return whether every survivor ended with {@code returning} unmasked
     */
    public boolean readmit(int returning, boolean[] survivors) {
        return driver.readmit(returning, survivors);
    }

    /** The last dispatch result of hosted rank {@code r} (a late rank's after it was awaited, say). */
    public CudaDispatched lastDispatch(int r) {
        return driver.rank(r).dispatched;
    }

    /** The last combine result of hosted rank {@code r}. */
    public CudaCombined lastCombine(int r) {
        return driver.rank(r).combined;
    }

    // ------------------------------------------------------------------------------------------------ diagnostics

    /**
     * Resets every unstalled rank's kernel phase trace (benchmark diagnostics): each elastic EP kernel stamps the
     * %globaltimer of its first block's start and its last block's end per phase; after a reset the next launch of
     * each phase is recorded. Waits for the queued work first.
     */
    public void resetTrace() {
        driver.resetTrace();
    }

    /**
     * Hosted rank {@code r}'s phase trace since {@link #resetTrace()}: {@code [2 p]} = start, {@code [2 p + 1]} = end
     * in GPU nanoseconds (%globaltimer) of phase {@code p}: 0 dispatch send, 1 dispatch wait, 2 dispatch copy, 3
     * combine send, 4 combine wait, 5 combine reduce, and inside the dispatch send 6 its routing plan, 7 its row
     * staging ({@code -1} / 0 when the phase did not run). Waits for the rank's stream.
     */
    public long[] phaseTrace(int r) {
        return driver.phaseTrace(r);
    }

    // ------------------------------------------------------------------------------------------------ test support

    /**
     * Holds hosted rank {@code r}'s stream behind a spin kernel until {@link #release}: what the batching driver
     * launches for it meanwhile runs late, on that stream, after survivors gave up on it. Its results are not waited
     * for ({@code null} in result lists) until {@link #awaitRank}.
     */
    void stall(int r) {
        driver.rank(r).stall();
    }

    /** Lets a stalled rank's stream run on (does not wait for it). */
    void release(int r) {
        driver.rank(r).release();
    }

    /** Waits for a released rank's late work and publishes its pending results (a late rank's view, unchecked). */
    void awaitRank(int r) {
        driver.rank(r).awaitLate();
    }

    /**
     * Overwrites every unstalled hosted rank's receive rows, scales, provenance, combine output and (when this group
     * hosts all R ranks) combine-send rows with the byte 0xA5, so that an element a kernel skipped shows up instead of
     * passing on stale data. Between steps only; waits until done.
     *
     * <p>A group hosting a subset of the ranks (one process per rank) leaves the combine-send rows alone: a peer
     * process may still be reducing the previous step from them (it detected a death later than this rank did), and
     * only the expert outputs of this rank's next step, written after its next dispatch, may replace them.
     */
    void poisonResults() {
        checkOpen();
        device.makeCurrent();
        driver.poisonResults(new FillKernel(module), ranks.length == config.ranks());
    }

    // ------------------------------------------------------------------------------------------------ graphs

    /**
     * Records what {@code queue} launches (e.g. {@link #queueDispatch}, {@link #queueCombine}: batched kernels on the
     * shared stream) into a CUDA graph. Replay it with {@link #replay}; the kernels keep their step state on the
     * device, so replays run step after step. Host-side results are not refreshed by replays: call
     * {@link #synchronize()} before reading device results.
     */
    public CudaGraph captureGraph(Runnable queue) {
        for (CudaRankEngine rank : ranks) {
            if (rank.stalled) {
                throw new IllegalStateException(
                        "rank " + rank.id + " is stalled: graphs capture the shared stream" + " only");
            }
        }
        return CudaGraph.capture(origin, queue);
    }

    /** Queues one replay of a graph from {@link #captureGraph} on the group's origin stream. */
    public void replay(CudaGraph graph) {
        graph.launch(origin);
    }

    /** The stream graphs replay on (record timing events here). */
    public CudaStream originStream() {
        return origin;
    }

    /** Waits for all queued work of unstalled ranks (after graph replays or {@code queue*} calls). */
    public void synchronize() {
        driver.synchronize();
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /**
     * Frees everything. Calls inside a rank are let finish first (a rank parked in a listener is at a safe point and
     * fails when it resumes); stalled ranks are released, so their queued kernels end within the wait timeout, which
     * freeing device memory (a device-wide synchronisation) waits for: never longer. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closeQuietly();
    }

    private void closeQuietly() {
        closed = true;
        for (CudaRankEngine rank : ranks) {
            if (rank != null) {
                rank.releaseForClose();
            }
        }
        for (CudaRankEngine rank : ranks) {
            if (rank != null) {
                rank.guard.close();
            }
        }
        RuntimeException failure = null;
        try {
            // Freeing needs the device's context on this thread, which may not be the one that opened the group.
            device.makeCurrent();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (AutoCloseable c : new AutoCloseable[] {
            driver, this::closeRanks, origin, pinned, allocator, () -> memory.releaseKernels(module), module
        }) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                failure = failure == null
                        ? (e instanceof RuntimeException r ? r : new IllegalStateException(e))
                        : failure;
            }
        }
        if (ownsDevice) {
            device.close();
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void closeRanks() {
        RuntimeException failure = null;
        for (CudaRankEngine rank : ranks) {
            try {
                if (rank != null) {
                    rank.close();
                }
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Whether {@link #close()} ran. */
    public boolean isClosed() {
        return closed;
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the " + transport() + " group is closed");
        }
    }

    private boolean[] all() {
        boolean[] launch = new boolean[ranks.length];
        Arrays.fill(launch, true);
        return launch;
    }
}
