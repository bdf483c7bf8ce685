package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaGraph;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.FillKernel;
import io.tokenroute.device.KernelLaunch;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.Memcpy;
import io.tokenroute.device.PinnedHostBuffer;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.PhaseListener;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * The {@code cuda-local} transport (spec §6): R ranks inside one process on one GPU, each rank's buffers in one device
 * allocation, peers reached by plain device pointers, the protocol run by the CUDA kernels of
 * {@code device/src/main/cuda/{sync,dispatch,combine}.cu}. It gives real kernels and latency figures on one GPU and
 * checks the kernels against the Java reference ({@code local} transport) bit for bit.
 *
 * <p><b>One host thread drives every rank.</b> Each operation takes one entry per rank and launches first every rank's
 * send phase, then every rank's receive phase, so no kernel relies on another rank's kernel being resident at the
 * same time (only single-block wait kernels spin). Launches are batched: one grid covers all unstalled ranks
 * ({@code blockIdx.y} = rank, per-rank arguments in the kernel parameters), on one shared stream, so a step costs
 * three launches for the whole group, not three per rank. A {@code null} entry means the rank is not launched in this
 * call: that is how a dead rank is emulated, and survivors mask it after the timeout (elastic) or fail with a
 * {@link PeerTimeoutException} (non-elastic). {@link #stall} holds a rank's own stream behind a spin kernel instead:
 * while stalled, its phases are launched per rank on that stream and run late, after survivors gave up on it.
 *
 * <p><b>Memory.</b> Results live in device memory ({@link CudaDispatched}, {@link CudaCombined}: Arrow batches over
 * device buffers, exportable through the C Device Data Interface with a CUDA sync event). Counts, layout, newly-masked
 * peers and faults come back through a pinned host report the kernels write, read after the receive phase. The CPU
 * never reads device memory; tests copy results with {@link Memcpy}. Host token batches are copied in; device batches
 * (CUDA memory of this device) are read in place, {@code topk_idx} copied to pinned memory for validation unless
 * {@link #setValidateDeviceInputs(boolean) disabled}.
 *
 * <p><b>Hot path.</b> Kernel arguments are pre-built ({@link KernelLaunch}); a dispatch or combine allocates nothing
 * on the Java heap, and the returned lists are views over per-group arrays, valid until the next call of the same
 * kind. {@link #captureGraph} records queued steps ({@link #queueDispatch}, {@link #queueCombine}) into a CUDA graph:
 * the kernels keep their step state in device memory, so a graph replays step after step. What needs a host
 * synchronisation: reading results (counts and layout), validation of device inputs, the mask API, stats, allGather
 * results and cleanBuffer's outcome.
 *
 * <p>Not thread-safe apart from the mask calls, which may come from another thread while an operation waits.
 * Closing frees every rank's memory; it never waits for a stalled rank beyond the kernels' timeouts.
 */
public final class CudaLocalGroup implements AutoCloseable {
    /** A stall ends by itself after this long, so a forgotten {@link #release} cannot hang the process. */
    private static final long STALL_CAP_NANOS = 120_000_000_000L;
    private static final long POISON = 0xA5L;
    /** tokenroute_config.cuh TR_EP_BATCH_RANKS: ranks per batched launch. */
    static final int BATCH = 64;
    /** tokenroute_config.cuh TR_EP_FP8_UNROLL: group pairs a quantising warp of the fp8 send has in flight. */
    static final int FP8_PAIRS_IN_FLIGHT = 2;
    // Byte layout of the batched kernels' by-value parameters (tokenroute_abi.cuh TrEpBatch, TrEpSendBatch,
    // TrEpReduceBatch; CudaRankLayout#checkKernelAbi compares them).
    static final long BATCH_BYTES = 8L * BATCH;
    static final long SEND_X = 8L * BATCH;
    static final long SEND_IDX = 16L * BATCH;
    static final long SEND_N = 24L * BATCH;
    static final long SEND_K = 28L * BATCH;
    static final long SEND_DTYPE = 32L * BATCH;
    static final long SEND_BYTES = 36L * BATCH;
    static final long REDUCE_WEIGHTS = 8L * BATCH;
    static final long REDUCE_BYTES = 16L * BATCH;

    private final CudaDevice device;
    private final BufferConfig config;
    private final CudaRankLayout layout;
    private final CudaRankMemory memory;
    /** config.phaseListener(); told the phases of hosted ranks, which costs a synchronisation between send and receive. */
    private final PhaseListener listener;
    private final boolean listening;
    /** R, the group size; {@link #ranks} holds only the ranks this process hosts. */
    private final int groupSize;
    private final KernelModule module;
    private final BufferAllocator allocator;
    private final CudaStream control;
    /** The stream batched launches (every unstalled rank at once) and graph replays run on. */
    private final CudaStream origin;
    private final CudaEvent dispatchReady;
    private final CudaEvent combineReady;
    private final CudaEvent mainMark;
    /** Batched launches, one per chunk of {@link #BATCH} ranks (blockIdx.y = rank within the chunk). */
    private KernelLaunch[] sendBatch;
    private KernelLaunch[] waitBatch;
    private KernelLaunch[] copyBatch;
    private KernelLaunch[] combineSendBatch;
    private KernelLaunch[] combineWaitBatch;
    private KernelLaunch[] reduceBatch;
    private final List<KernelLaunch> batchLaunches = new ArrayList<>();
    private final PinnedHostBuffer pinned;
    private final long pinnedStride;
    private final Rank[] ranks;
    private final CudaDispatched[] dispatchSlots;
    private final CudaCombined[] combineSlots;
    private final List<CudaDispatched> dispatchView;
    private final List<CudaCombined> combineView;
    private final AtomicReference<Thread> caller = new AtomicReference<>();
    private long timeoutNanos;
    private boolean validateDeviceInputs = true;
    private long lastHostNanos;
    private boolean closed;

    /** One emulated rank: its allocation, stream, events, report, prepared launches and host-side step state. */
    final class Rank {
        /** Global rank id in [0, R); the rank's position in {@link #ranks} indexes the per-rank lists and flags. */
        final int id;
        final CudaLocalGroup group = CudaLocalGroup.this;
        final DeviceBuffer memory;
        final long base;
        final CudaStream stream;
        final CudaEvent dispatchDone;
        final CudaEvent combineDone;
        final CudaEvent syncDone;
        final CudaReport report;
        final long releaseFlag;
        final long pinnedIdx;
        final long pinnedScratch;
        CudaRankViews views;
        final CudaDispatched dispatched;
        final CudaCombined combined;
        final long[] routedIdx;
        final List<KernelLaunch> launches = new ArrayList<>();
        // Per-rank launches of the batched kernels (gridDim.y = 1), for a stalled rank on its own stream.
        KernelLaunch send;
        KernelLaunch waitDispatch;
        KernelLaunch copy;
        KernelLaunch combineSend;
        KernelLaunch waitCombine;
        KernelLaunch reduce;
        KernelLaunch syncArrive;
        KernelLaunch syncWait;
        KernelLaunch clean;
        KernelLaunch spin;
        CudaEvent lastDispatchEvent;
        CudaEvent lastCombineEvent;
        long step;
        int tokens;
        int topK;
        boolean fp8;
        boolean ue8m0;
        boolean stepOpen;
        boolean stalled;
        boolean pendingDispatch;
        boolean pendingCombine;
        RuntimeException failure;

        Rank(int id, DeviceBuffer memory, long pinnedBase) {
            this.id = id;
            this.memory = memory;
            this.base = memory.address();
            this.stream = CudaStream.create(CudaStream.NON_BLOCKING);
            this.dispatchDone = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            this.combineDone = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            this.syncDone = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            long reportBytes = align64(4L * layout.reportInts());
            this.report = new CudaReport(layout, pinnedBase);
            this.releaseFlag = pinnedBase + reportBytes;
            this.pinnedIdx = releaseFlag + 64;
            this.pinnedScratch = pinnedIdx + align64(8L * layout.maxTokens * layout.maxTopK);
            this.dispatched = new CudaDispatched(this, layout);
            this.combined = new CudaCombined(this, layout);
            this.routedIdx = new long[layout.maxTokens * layout.maxTopK];
        }

        long desc() {
            return base + layout.offDesc;
        }

        KernelLaunch prepare(String kernel, int arguments) {
            KernelLaunch launch = new KernelLaunch(module.function(kernel), arguments);
            launches.add(launch);
            if (arguments > 0 && !kernel.equals("tr_ep_spin")) {
                launch.setLong(0, desc());
            }
            return launch;
        }

        /** A per-rank launch of a batched kernel: gridDim.y = 1 and this rank's descriptor in slot 0. */
        KernelLaunch prepareOne(String kernel, long... argumentBytes) {
            KernelLaunch launch = new KernelLaunch(module.function(kernel), argumentBytes);
            launches.add(launch);
            launch.setLongAt(0, 0, desc());
            return launch;
        }

        void prepareLaunches() {
            send = prepareOne("tr_ep_dispatch_send", SEND_BYTES, 8);
            send.shape(2, send.function().maxThreadsPerBlock(), layout.planSharedBytes());
            waitDispatch = prepareOne("tr_ep_dispatch_wait", BATCH_BYTES, 8, 8);
            waitDispatch.shape(1, waitDispatch.function().maxThreadsPerBlock(), 0);
            copy = prepareOne("tr_ep_dispatch_copy", BATCH_BYTES);
            combineSend = prepareOne("tr_ep_combine_send", BATCH_BYTES).shape(1, 32, 0);
            waitCombine = prepareOne("tr_ep_combine_wait", BATCH_BYTES, 8);
            waitCombine.shape(1, waitCombine.function().maxThreadsPerBlock(), 0);
            reduce = prepareOne("tr_ep_combine_reduce", REDUCE_BYTES);
            syncArrive = prepare("tr_ep_sync_arrive", 2);
            syncArrive.shape(1, syncArrive.function().maxThreadsPerBlock(), 0);
            syncWait = prepare("tr_ep_sync_wait", 4);
            syncWait.shape(1, syncWait.function().maxThreadsPerBlock(), 0);
            clean = prepare("tr_ep_clean", 2).shape(1, 32, 0);
            spin = prepare("tr_ep_spin", 2).shape(1, 32, 0);
            setTimeoutArguments(timeoutNanos);
        }

        void setTimeoutArguments(long nanos) {
            waitDispatch.setLong(1, nanos);
            waitCombine.setLong(1, nanos);
            syncWait.setLong(1, nanos);
            clean.setLong(1, nanos);
        }

        /** The stream this rank's dispatch/combine work runs on: the shared one, or its own while stalled. */
        CudaStream exec() {
            return stalled ? stream : origin;
        }

        void close() {
            launches.forEach(KernelLaunch::close);
            if (views != null) {
                views.close();
            }
            syncDone.close();
            combineDone.close();
            dispatchDone.close();
            stream.close();
            memory.close();
        }
    }

    private CudaLocalGroup(CudaDevice device, BufferConfig config, BufferAllocator parent, CudaRankMemory memory) {
        this.device = device;
        this.config = config;
        this.memory = memory;
        this.listener = config.phaseListener();
        this.listening = listener != PhaseListener.NONE;
        this.groupSize = config.ranks();
        this.layout = new CudaRankLayout(config);
        this.timeoutNanos = config.timeout().toNanos();
        if (groupSize > 256) {
            throw new IllegalArgumentException("the CUDA kernels serve at most 256 ranks, got " + groupSize);
        }
        int[] hosted = memory.hostedRanks();
        int r = hosted.length;
        for (int i = 0; i < r; i++) {
            if (hosted[i] < 0 || hosted[i] >= groupSize || (i > 0 && hosted[i] <= hosted[i - 1])) {
                throw new IllegalArgumentException("hosted ranks must ascend within [0, " + groupSize + "), got "
                        + Arrays.toString(hosted));
            }
        }
        if (r == 0) {
            throw new IllegalArgumentException("a group must host at least one rank");
        }
        device.makeCurrent();
        this.module = memory.loadKernels(device);
        this.allocator = parent.newChildAllocator("cuda-local", 0, Long.MAX_VALUE);
        this.control = CudaStream.create(CudaStream.NON_BLOCKING);
        this.origin = CudaStream.create(CudaStream.NON_BLOCKING);
        this.dispatchReady = CudaEvent.create(CudaEvent.DISABLE_TIMING);
        this.combineReady = CudaEvent.create(CudaEvent.DISABLE_TIMING);
        this.mainMark = CudaEvent.create(CudaEvent.DISABLE_TIMING);
        this.pinnedStride = align64(4L * layout.reportInts()) + 64 + align64(8L * layout.maxTokens * layout.maxTopK)
                + align64(8L * Math.max(groupSize, layout.localExperts));
        this.pinned = PinnedHostBuffer.allocate(pinnedStride * r);
        MemoryUtil.setMemory(pinned.address(), pinned.size(), (byte) 0);
        this.ranks = new Rank[r];
        this.dispatchSlots = new CudaDispatched[r];
        this.combineSlots = new CudaCombined[r];
        this.dispatchView = Collections.unmodifiableList(Arrays.asList(dispatchSlots));
        this.combineView = Collections.unmodifiableList(Arrays.asList(combineSlots));
    }

    /**
     * Opens a group of {@code config.ranks()} emulated ranks on {@code device}: one device allocation per rank
     * (poisoned, then its control words zeroed), a non-blocking stream and events per rank, the kernel module.
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
     * transport: one rank per process on the symmetric heap). Per-rank lists and flags of every method are then indexed
     * by position in {@link CudaRankMemory#hostedRanks()}; masks, allGather views and wait stats still have R entries.
     *
     * @param memory where the hosted ranks' allocations live and how they reach their peers
     * @see #open(CudaDevice, BufferConfig, BufferAllocator)
     */
    public static CudaLocalGroup open(CudaDevice device, BufferConfig config, BufferAllocator allocator,
            CudaRankMemory memory) {
        CudaLocalGroup group = new CudaLocalGroup(device, config, allocator, memory);
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
        int[] hosted = memory.hostedRanks();
        for (int r = 0; r < ranks.length; r++) {
            DeviceBuffer allocation = memory.allocate(hosted[r], layout.bytes);
            try {
                ranks[r] = new Rank(hosted[r], allocation, pinned.address() + r * pinnedStride);
            } catch (RuntimeException e) {
                allocation.close();
                throw e;
            }
        }
        long[] hostedBases = new long[groupSize];
        for (Rank rk : ranks) {
            hostedBases[rk.id] = rk.base;
        }
        for (Rank rk : ranks) {
            long[] peers = memory.peerBases(rk.id, hostedBases);
            fill.fill(rk.base, layout.bytes, 1, POISON, control);
            fill.fill(rk.base + layout.offCtrl, CudaRankLayout.CTRL_BYTES, 1, 0, control);
            fill.fill(rk.base + layout.offLayout, 8L * layout.localExperts * layout.ranks, 1, 0, control);
            fill.fill(rk.base + layout.offState, layout.zeroEnd - layout.offState, 1, 0, control);
            Memcpy.toDevice(rk.desc(), layout.descriptor(rk.id, config.elastic(), rk.base, rk.report.address()),
                    control);
            Memcpy.toDevice(rk.base + layout.offPeers, peers, control);
        }
        control.synchronize();
        memory.initialised();
        resetTrace();
        for (Rank rk : ranks) {
            rk.views = new CudaRankViews(layout, allocator, rk.memory.toArrowBuf(allocator));
            rk.prepareLaunches();
        }
        int chunks = (ranks.length + BATCH - 1) / BATCH;
        sendBatch = new KernelLaunch[chunks];
        waitBatch = new KernelLaunch[chunks];
        copyBatch = new KernelLaunch[chunks];
        combineSendBatch = new KernelLaunch[chunks];
        combineWaitBatch = new KernelLaunch[chunks];
        reduceBatch = new KernelLaunch[chunks];
        for (int c = 0; c < chunks; c++) {
            int rows = Math.min(BATCH, ranks.length - c * BATCH);
            sendBatch[c] = batched("tr_ep_dispatch_send", rows, SEND_BYTES, 8);
            sendBatch[c].shape(2, sendBatch[c].function().maxThreadsPerBlock(), layout.planSharedBytes()).gridY(rows);
            waitBatch[c] = batched("tr_ep_dispatch_wait", rows, BATCH_BYTES, 8, 8);
            waitBatch[c].shape(1, waitBatch[c].function().maxThreadsPerBlock(), 0).gridY(rows);
            copyBatch[c] = batched("tr_ep_dispatch_copy", rows, BATCH_BYTES);
            combineSendBatch[c] = batched("tr_ep_combine_send", rows, BATCH_BYTES);
            combineSendBatch[c].shape(1, 32, 0).gridY(rows);
            combineWaitBatch[c] = batched("tr_ep_combine_wait", rows, BATCH_BYTES, 8);
            combineWaitBatch[c].shape(1, combineWaitBatch[c].function().maxThreadsPerBlock(), 0).gridY(rows);
            reduceBatch[c] = batched("tr_ep_combine_reduce", rows, REDUCE_BYTES);
            // Each follows the kernel queued just before it on the origin stream and starts with griddepcontrol.wait
            // (sync.cu tr_await_previous_kernel), so it may be launched before that kernel ends.
            waitBatch[c].programmaticDependency();
            copyBatch[c].programmaticDependency();
            combineWaitBatch[c].programmaticDependency();
            reduceBatch[c].programmaticDependency();
        }
        setTimeoutArguments(timeoutNanos);
    }

    private KernelLaunch batched(String kernel, int rows, long... argumentBytes) {
        KernelLaunch launch = new KernelLaunch(module.function(kernel), argumentBytes);
        batchLaunches.add(launch);
        launch.gridY(rows);
        return launch;
    }

    private void setTimeoutArguments(long nanos) {
        for (Rank rk : ranks) {
            rk.setTimeoutArguments(nanos);
        }
        if (waitBatch != null) {
            for (int c = 0; c < waitBatch.length; c++) {
                waitBatch[c].setLong(1, nanos);
                combineWaitBatch[c].setLong(1, nanos);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ accessors

    /** R, the group size. */
    public int ranks() {
        return groupSize;
    }

    /**
     * The global ids of the ranks this process hosts (all R for {@code cuda-local}); per-rank lists and flags of every
     * method are indexed by position in this array.
     */
    public int[] hostedRanks() {
        int[] out = new int[ranks.length];
        for (int r = 0; r < ranks.length; r++) {
            out[r] = ranks[r].id;
        }
        return out;
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
     * The stream rank {@code rank}'s dispatch and combine kernels run on: queue expert kernels writing zero-copy
     * outputs here. Unstalled ranks share one stream (their kernels are launched batched, one grid for all ranks); a
     * stalled rank has its own.
     */
    public CudaStream stream(int rank) {
        return rank(rank).exec();
    }

    /** The kernels' wait timeout. */
    public Duration timeout() {
        return Duration.ofNanos(timeoutNanos);
    }

    /** Sets the wait timeout of later launches (a runtime kernel argument; 100 µs and up are meaningful on a GPU). */
    public void setTimeout(Duration timeout) {
        long nanos = timeout.toNanos();
        if (nanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        timeoutNanos = nanos;
        setTimeoutArguments(nanos);
    }

    /**
     * Whether device token batches are validated on the host (their {@code topk_idx} copied to pinned memory first:
     * one copy and synchronisation per rank). Off, the kernels still drop out-of-range ids (and report them after
     * the call), but a bad batch is no longer refused before anything is sent.
     */
    public void setValidateDeviceInputs(boolean validate) {
        validateDeviceInputs = validate;
    }

    /** Host nanoseconds of the last dispatch/combine call spent outside blocking synchronisation (all ranks). */
    public long lastCallHostNanos() {
        return lastHostNanos;
    }

    /** Bytes of one rank's device allocation. */
    public long bytesPerRank() {
        return layout.bytes;
    }

    /** Bytes of one rank's device allocation for {@code config} (what {@link CudaRankMemory#allocate} is asked for). */
    public static long bytesPerRank(BufferConfig config) {
        return new CudaRankLayout(config).bytes;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Dispatches one step on every rank with a batch.
     *
     * @param perRank one entry per rank: the rank's tokens (host memory, or CUDA memory of this device), or
     *     {@code null} to leave the rank out of this call
     * @param options equal for every rank
     * @return per rank its result, {@code null} for ranks left out or stalled; a view valid until the next dispatch
     * @throws IllegalArgumentException on bad input (nothing was launched)
     * @throws PeerTimeoutException non-elastic mode, when a peer stayed silent (the rank refuses work until
     *     {@link #cleanBuffer()})
     */
    public List<CudaDispatched> dispatch(List<TokenBatch> perRank, DispatchOptions options) {
        enter("dispatch");
        try {
            long start = System.nanoTime();
            checkDispatch(perRank, options);
            if (listening) {
                tell(perRank, Phase.BEFORE_DISPATCH, 1);
                tell(perRank, Phase.DISPATCH_SEND, 1);
            }
            queueDispatchChecked(perRank, options);
            long blocked = finishDispatch(perRank, options);
            lastHostNanos = System.nanoTime() - start - blocked;
            return dispatchView;
        } finally {
            exit();
        }
    }

    /**
     * Queues a dispatch without validation or synchronisation (graph capture, benchmarks): inputs must be valid device
     * batches or host batches. Results are not read back; call {@link #synchronize()} before using the group's
     * host-side state again.
     */
    public void queueDispatch(List<TokenBatch> perRank, DispatchOptions options) {
        checkOpen();
        checkList(perRank, "dispatch");
        queueDispatchChecked(perRank, options);
    }

    private void checkDispatch(List<TokenBatch> perRank, DispatchOptions options) {
        checkOpen();
        checkList(perRank, "dispatch");
        if (options.fp8() && layout.scaleGroups == 0) {
            throw new IllegalArgumentException("fp8 dispatch needs hidden % 128 == 0, hidden is " + layout.hidden);
        }
        for (int r = 0; r < ranks.length; r++) {
            TokenBatch batch = perRank.get(r);
            if (batch != null) {
                ensureWorking(ranks[r]);
                validateTokens(ranks[r], batch, "dispatch", true);
                if (options.fp8() && !isHost(batch) && batch.hiddenAddress() % 16 != 0) {
                    throw new IllegalArgumentException("rank " + ranks[r].id + ": fp8 dispatch reads rows with"
                            + " 16-byte loads; the batch's hidden data at 0x" + Long.toHexString(batch.hiddenAddress())
                            + " is not 16-byte aligned");
                }
            }
        }
    }

    private void queueDispatchChecked(List<TokenBatch> perRank, DispatchOptions options) {
        int format = options.formatCode();
        long totalEntries = 0;
        int maxTokens = 0;
        boolean anyBatched = false;
        for (int r = 0; r < ranks.length; r++) {
            TokenBatch batch = perRank.get(r);
            int c = r / BATCH;
            long cell = 8L * (r % BATCH);
            Rank rk = ranks[r];
            if (batch == null || rk.stalled) {
                // Not part of the batched launch (left out, or launched on its own stream below).
                sendBatch[c].setLongAt(0, cell, 0);
                waitBatch[c].setLongAt(0, cell, 0);
                copyBatch[c].setLongAt(0, cell, 0);
            }
            if (batch == null) {
                continue;
            }
            int n = batch.numTokens();
            int k = batch.topK();
            totalEntries += (long) n * k;
            long x;
            long idx;
            if (isHost(batch)) {
                x = rk.base + layout.offInputX;
                idx = rk.base + layout.offInputIdx;
                Memcpy.hostToDevice(x, batch.hiddenAddress(), n * batch.hiddenRowBytes(), rk.exec());
                Memcpy.hostToDevice(idx, batch.topkIdxAddress(), 8L * n * k, rk.exec());
            } else {
                x = batch.hiddenAddress();
                idx = batch.topkIdxAddress();
            }
            KernelLaunch send = rk.stalled ? rk.send : sendBatch[c];
            long at = rk.stalled ? 0 : cell;
            long quarter = at / 2;
            send.setLongAt(0, at, rk.desc()).setLongAt(0, SEND_X + at, x).setLongAt(0, SEND_IDX + at, idx)
                    .setIntAt(0, SEND_N + quarter, n).setIntAt(0, SEND_K + quarter, k)
                    .setIntAt(0, SEND_DTYPE + quarter, dtypeCode(batch.dtype())).setInt(1, format);
            if (rk.stalled) {
                send.grid(sendGrid(n, options.fp8(), send)).launch(rk.stream);
            } else {
                waitBatch[c].setLongAt(0, cell, rk.desc());
                copyBatch[c].setLongAt(0, cell, rk.desc());
                maxTokens = Math.max(maxTokens, n);
                anyBatched = true;
            }
            rk.tokens = n;
            rk.topK = k;
            rk.fp8 = options.fp8();
            rk.ue8m0 = options.ue8m0();
            rk.stepOpen = true;
        }
        if (anyBatched) {
            for (KernelLaunch send : sendBatch) {
                send.setInt(1, format).grid(sendGrid(maxTokens, options.fp8(), send)).launch(origin);
            }
        }
        if (listening) {
            // The send phase has published when the listener hears DISPATCH_RECV (a rank killed there dies after it).
            origin.synchronize();
            tell(perRank, Phase.DISPATCH_RECV, 1);
        }
        int warps = copyBatch[0].block() / 32;
        long rowsPerRank = Math.max(1, totalEntries / ranks.length);
        // About one resident wave over all ranks: blocks stay put and each warp copies a few rows.
        int copyGrid = (int) Math.max(1, Math.min((rowsPerRank + warps - 1) / warps,
                copyBatch[0].function().gridFor(Long.MAX_VALUE) / Math.min(ranks.length, BATCH)));
        int stats = options.stats() ? 1 : 0;
        for (int r = 0; r < ranks.length; r++) {
            Rank rk = ranks[r];
            if (perRank.get(r) != null && rk.stalled) {
                rk.waitDispatch.setInt(2, stats).launch(rk.stream);
                rk.copy.grid(copyGrid).launch(rk.stream);
                rk.dispatchDone.record(rk.stream);
                rk.lastDispatchEvent = rk.dispatchDone;
            }
        }
        if (anyBatched) {
            for (int c = 0; c < waitBatch.length; c++) {
                waitBatch[c].setInt(2, stats).launch(origin);
                copyBatch[c].grid(copyGrid).launch(origin);
            }
            dispatchReady.record(origin);
            for (int r = 0; r < ranks.length; r++) {
                if (perRank.get(r) != null && !ranks[r].stalled) {
                    ranks[r].lastDispatchEvent = dispatchReady;
                }
            }
        }
    }

    /**
     * Blocks per rank of a send grid: one plans (the kernel gives the grid's first blocks that role), the others stage
     * rows (bf16) or quantise group pairs (fp8).
     */
    private int sendGrid(int n, boolean fp8, KernelLaunch send) {
        int warps = send.block() / 32;
        if (!fp8) {
            return 1 + Math.max(1, (n + warps - 1) / warps);
        }
        long pairs = ((long) n * layout.scaleGroups + 1) / 2;
        long wanted = (pairs + (long) warps * FP8_PAIRS_IN_FLIGHT - 1) / ((long) warps * FP8_PAIRS_IN_FLIGHT);
        // At most one resident wave over all ranks, plan blocks included: blocks of a second wave start only when
        // first-wave blocks end and finish the send last (H200, R = 8, T = 128: fp8 dispatch 61.6 us with 1.15 waves,
        // 56.8 us with one).
        long wave = send.function().gridFor(Long.MAX_VALUE) / Math.min(ranks.length, BATCH) - 1;
        return 1 + (int) Math.max(1, Math.min(wanted, wave));
    }

    /** Waits for every launched, unstalled rank, reads its report; returns the nanoseconds spent blocked. */
    private long finishDispatch(List<TokenBatch> perRank, DispatchOptions options) {
        long blocked = 0;
        CudaEvent synced = null;
        RuntimeException first = null;
        for (int r = 0; r < ranks.length; r++) {
            Rank rk = ranks[r];
            dispatchSlots[r] = null;
            if (perRank.get(r) == null) {
                continue;
            }
            if (rk.stalled) {
                rk.pendingDispatch = true;
                continue;
            }
            if (rk.lastDispatchEvent != synced) {
                long t = System.nanoTime();
                rk.lastDispatchEvent.synchronize();
                blocked += System.nanoTime() - t;
                synced = rk.lastDispatchEvent;
            }
            RuntimeException fault = publishDispatch(rk);
            first = first == null ? fault : first;
            dispatchSlots[r] = rk.dispatched;
        }
        if (first != null) {
            throw first;
        }
        return blocked;
    }

    private RuntimeException publishDispatch(Rank rk) {
        rk.step++;
        rk.pendingDispatch = false;
        rk.dispatched.publish(rk.step, rk.tokens, rk.fp8, rk.ue8m0, rk.report);
        return faultOf(rk, Phase.DISPATCH_RECV);
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Zero-copy combine: every launched rank's expert outputs are already in its combine-send rows
     * ({@link CudaDispatched#expertOutput}), written on the rank's stream or synchronised.
     *
     * @param routing per rank the batch it dispatched (its {@code topk_weights} are the combine weights), or
     *     {@code null} to leave the rank out
     */
    public List<CudaCombined> combine(List<TokenBatch> routing) {
        return combine(null, routing);
    }

    /**
     * Combines the current step.
     *
     * @param expertOutputs null (zero-copy for every rank), or per rank null (zero-copy) or L host batches with a
     *     {@code hidden} bf16 column of exactly {@code recvCount(l)} rows each, copied into the combine-send rows
     * @param routing per rank the dispatched batch, or null to leave the rank out
     * @return per rank its result ({@code null} for ranks left out or stalled); a view valid until the next combine
     * @throws IllegalArgumentException on bad input (nothing was launched)
     */
    public List<CudaCombined> combine(List<List<VectorSchemaRoot>> expertOutputs, List<TokenBatch> routing) {
        enter("combine");
        try {
            long start = System.nanoTime();
            checkOpen();
            checkList(routing, "combine");
            if (expertOutputs != null && expertOutputs.size() != ranks.length) {
                throw new IllegalArgumentException("expected " + ranks.length + " expert-output entries, got "
                        + expertOutputs.size());
            }
            for (int r = 0; r < ranks.length; r++) {
                TokenBatch batch = routing.get(r);
                if (batch == null) {
                    continue;
                }
                Rank rk = ranks[r];
                ensureWorking(rk);
                validateCombine(rk, batch);
                List<VectorSchemaRoot> outputs = expertOutputs == null ? null : expertOutputs.get(r);
                if (outputs != null) {
                    validateOutputs(rk, outputs);
                }
            }
            for (int r = 0; r < ranks.length; r++) {
                List<VectorSchemaRoot> outputs = expertOutputs == null ? null : expertOutputs.get(r);
                if (routing.get(r) != null && outputs != null) {
                    copyOutputs(ranks[r], outputs);
                }
            }
            if (listening) {
                tell(routing, Phase.COMBINE_SEND, 0);
            }
            queueCombineChecked(routing);
            long blocked = finishCombine(routing);
            lastHostNanos = System.nanoTime() - start - blocked;
            return combineView;
        } finally {
            exit();
        }
    }

    /** Queues a zero-copy combine without validation or synchronisation (graph capture, benchmarks). */
    public void queueCombine(List<TokenBatch> routing) {
        checkOpen();
        checkList(routing, "combine");
        queueCombineChecked(routing);
    }

    private void queueCombineChecked(List<TokenBatch> routing) {
        int maxTokens = 0;
        boolean anyBatched = false;
        for (int r = 0; r < ranks.length; r++) {
            TokenBatch batch = routing.get(r);
            int c = r / BATCH;
            long cell = 8L * (r % BATCH);
            Rank rk = ranks[r];
            if (batch == null || rk.stalled) {
                combineSendBatch[c].setLongAt(0, cell, 0);
                combineWaitBatch[c].setLongAt(0, cell, 0);
                reduceBatch[c].setLongAt(0, cell, 0);
            }
            if (batch == null) {
                continue;
            }
            long weights;
            if (isHost(batch)) {
                weights = rk.base + layout.offInputW;
                Memcpy.hostToDevice(weights, batch.topkWeightsAddress(), 4L * batch.numTokens() * batch.topK(),
                        rk.exec());
            } else {
                weights = batch.topkWeightsAddress();
            }
            if (rk.stalled) {
                rk.reduce.setLongAt(0, REDUCE_WEIGHTS, weights).grid(Math.max(1, batch.numTokens()));
                rk.combineSend.launch(rk.stream);
            } else {
                combineSendBatch[c].setLongAt(0, cell, rk.desc());
                combineWaitBatch[c].setLongAt(0, cell, rk.desc());
                reduceBatch[c].setLongAt(0, cell, rk.desc()).setLongAt(0, REDUCE_WEIGHTS + cell, weights);
                maxTokens = Math.max(maxTokens, batch.numTokens());
                anyBatched = true;
            }
            rk.stepOpen = false;
        }
        if (anyBatched) {
            for (KernelLaunch send : combineSendBatch) {
                send.launch(origin);
            }
        }
        if (listening) {
            origin.synchronize();
            tell(routing, Phase.COMBINE_RECV, 0);
        }
        for (int r = 0; r < ranks.length; r++) {
            Rank rk = ranks[r];
            if (routing.get(r) != null && rk.stalled) {
                rk.waitCombine.launch(rk.stream);
                rk.reduce.launch(rk.stream);
                rk.combineDone.record(rk.stream);
                rk.lastCombineEvent = rk.combineDone;
            }
        }
        if (anyBatched) {
            for (int c = 0; c < combineWaitBatch.length; c++) {
                combineWaitBatch[c].launch(origin);
                reduceBatch[c].grid(Math.max(1, maxTokens)).launch(origin);
            }
            combineReady.record(origin);
            for (int r = 0; r < ranks.length; r++) {
                if (routing.get(r) != null && !ranks[r].stalled) {
                    ranks[r].lastCombineEvent = combineReady;
                }
            }
        }
    }

    private long finishCombine(List<TokenBatch> routing) {
        long blocked = 0;
        CudaEvent synced = null;
        RuntimeException first = null;
        for (int r = 0; r < ranks.length; r++) {
            Rank rk = ranks[r];
            combineSlots[r] = null;
            if (routing.get(r) == null) {
                continue;
            }
            if (rk.stalled) {
                rk.pendingCombine = true;
                continue;
            }
            if (rk.lastCombineEvent != synced) {
                long t = System.nanoTime();
                rk.lastCombineEvent.synchronize();
                blocked += System.nanoTime() - t;
                synced = rk.lastCombineEvent;
            }
            RuntimeException fault = publishCombine(rk);
            first = first == null ? fault : first;
            combineSlots[r] = rk.combined;
        }
        if (first != null) {
            throw first;
        }
        return blocked;
    }

    private RuntimeException publishCombine(Rank rk) {
        rk.pendingCombine = false;
        rk.combined.publish(rk.tokens, rk.report);
        return faultOf(rk, Phase.COMBINE_RECV);
    }

    private void validateCombine(Rank rk, TokenBatch routing) {
        if (!rk.stepOpen) {
            throw new IllegalArgumentException("rank " + rk.id + ": combine needs a dispatch that was not combined yet");
        }
        validateTokens(rk, routing, "combine", false);
        if (routing.numTokens() != rk.tokens || routing.topK() != rk.topK) {
            throw new IllegalArgumentException("rank " + rk.id + ": combine routing has n = " + routing.numTokens()
                    + ", k = " + routing.topK() + " but the step dispatched n = " + rk.tokens + ", k = " + rk.topK);
        }
        if (!isHost(routing) && !validateDeviceInputs) {
            return;
        }
        long a = idxHostAddress(rk, routing);
        int entries = rk.tokens * rk.topK;
        for (int i = 0; i < entries; i++) {
            if (MemoryUtil.getLong(a + 8L * i) != rk.routedIdx[i]) {
                throw new IllegalArgumentException("rank " + rk.id + ": combine routing differs from the dispatched"
                        + " topk_idx at token " + (i / rk.topK) + ", slot " + (i % rk.topK));
            }
        }
    }

    private void validateOutputs(Rank rk, List<VectorSchemaRoot> outputs) {
        if (outputs.size() != layout.localExperts) {
            throw new IllegalArgumentException("rank " + rk.id + ": expected " + layout.localExperts
                    + " expert outputs (one per local expert), got " + outputs.size());
        }
        for (int l = 0; l < outputs.size(); l++) {
            VectorSchemaRoot out = outputs.get(l);
            FieldVector column = out == null ? null : out.getSchema().getFields().stream()
                    .anyMatch(f -> f.getName().equals(TokenBatchSchema.HIDDEN)) ? out.getVector(TokenBatchSchema.HIDDEN)
                    : null;
            if (!(column instanceof FixedSizeListVector list)) {
                throw new IllegalArgumentException("rank " + rk.id + ": expert output " + l
                        + " needs a 'hidden' FixedSizeList column");
            }
            ArrowType.FixedSizeList type = (ArrowType.FixedSizeList) list.getField().getType();
            HiddenDtype dtype = HiddenDtype.of(list.getField().getChildren().get(0).getType());
            if (dtype != HiddenDtype.BF16 || type.getListSize() != layout.hidden) {
                throw new IllegalArgumentException("rank " + rk.id + ": expert output " + l + " must be bf16 rows of H = "
                        + layout.hidden + ", got " + dtype + " rows of " + type.getListSize());
            }
            if (out.getRowCount() != rk.dispatched.recvCount(l)) {
                throw new IllegalArgumentException("rank " + rk.id + ": expert output " + l + " has "
                        + out.getRowCount() + " rows, but expert " + l + " received " + rk.dispatched.recvCount(l));
            }
        }
    }

    private void copyOutputs(Rank rk, List<VectorSchemaRoot> outputs) {
        for (int l = 0; l < outputs.size(); l++) {
            VectorSchemaRoot out = outputs.get(l);
            FixedSizeListVector list = (FixedSizeListVector) out.getVector(TokenBatchSchema.HIDDEN);
            ArrowBuf data = list.getDataVector().getDataBuffer();
            Memcpy.hostToDevice(rk.dispatched.expertOutputAddress(l), data.memoryAddress(),
                    2L * layout.hidden * out.getRowCount(), rk.exec());
        }
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /** {@link #barrier(boolean[])} over every rank. */
    public void barrier() {
        barrier(all());
    }

    /**
     * Fault-tolerant barrier of the launched ranks (among each one's unmasked peers).
     *
     * @param launch which ranks take part in this call
     */
    public void barrier(boolean[] launch) {
        enter("barrier");
        try {
            checkLaunch(launch);
            if (listening) {
                tell(launch, Phase.BARRIER);
            }
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].syncArrive.setLong(1, -1L).launch(ranks[r].stream);
                }
            }
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].syncWait.setInt(2, 0).setInt(3, Phase.BARRIER.code()).launch(ranks[r].stream);
                    ranks[r].syncDone.record(ranks[r].stream);
                }
            }
            throwFirst(finishSync(launch, Phase.BARRIER));
        } finally {
            exit();
        }
    }

    /**
     * Fault-tolerant allGather (spec §2): each launched rank contributes its payload.
     *
     * @param payloads per rank at most {@code collectiveBytes} bytes, or null to leave the rank out
     * @return per launched rank its view: one entry per rank, null for ranks it masks (or that moved on); null for
     *     ranks left out or stalled
     */
    public byte[][][] allGather(byte[][] payloads) {
        enter("allGather");
        try {
            boolean[] launch = new boolean[ranks.length];
            if (payloads.length != ranks.length) {
                throw new IllegalArgumentException("expected " + ranks.length + " payload entries, got "
                        + payloads.length);
            }
            for (int r = 0; r < ranks.length; r++) {
                launch[r] = payloads[r] != null;
                if (launch[r] && payloads[r].length > layout.collectiveBytes) {
                    throw new IllegalArgumentException("rank " + ranks[r].id + ": allGather payload of "
                            + payloads[r].length + " bytes exceeds collectiveBytes = " + layout.collectiveBytes);
                }
            }
            checkLaunch(launch);
            if (listening) {
                tell(launch, Phase.ALL_GATHER);
            }
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    Rank rk = ranks[r];
                    if (payloads[r].length > 0) {
                        Memcpy.toDevice(rk.base + layout.offGatherIn, payloads[r], rk.stream);
                    }
                    rk.syncArrive.setLong(1, payloads[r].length).launch(rk.stream);
                }
            }
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].syncWait.setInt(2, 1).setInt(3, Phase.ALL_GATHER.code()).launch(ranks[r].stream);
                    ranks[r].syncDone.record(ranks[r].stream);
                }
            }
            RuntimeException fault = finishSync(launch, Phase.ALL_GATHER);
            byte[][][] out = new byte[ranks.length][][];
            int stride = (int) layout.gatherStride();
            for (int r = 0; r < ranks.length; r++) {
                if (!launch[r] || ranks[r].stalled) {
                    continue;
                }
                byte[] raw = new byte[stride * groupSize];
                Memcpy.toHost(raw, ranks[r].base + layout.offGatherOut, ranks[r].stream);
                out[r] = new byte[groupSize][];
                java.nio.ByteBuffer view = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int p = 0; p < groupSize; p++) {
                    long length = view.getLong(p * stride);
                    if (length >= 0 && length <= layout.collectiveBytes) {
                        out[r][p] = Arrays.copyOfRange(raw, p * stride + 8, p * stride + 8 + (int) length);
                    }
                }
            }
            throwFirst(fault);
            return out;
        } finally {
            exit();
        }
    }

    /** Collectives run per rank on the ranks' own streams: after whatever was queued on the shared stream. */
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
            if (!launch[r] || ranks[r].stalled) {
                continue;
            }
            ranks[r].syncDone.synchronize();
            RuntimeException fault = faultOf(ranks[r], phase);
            first = first == null ? fault : first;
        }
        return first;
    }

    /** {@link #cleanBuffer(boolean[])} over every rank. */
    public void cleanBuffer() {
        cleanBuffer(all());
    }

    /**
     * Resets the launched ranks' step state through the device rendezvous (spec §2 cleanBuffer): participants are
     * each rank's unmasked peers (all ranks in non-elastic mode); sequences restart in a new generation; a rank's
     * non-elastic failure is cleared when its rendezvous succeeds. Invalidates open steps.
     *
     * @param launch which ranks take part in this call
     * @throws PeerTimeoutException non-elastic mode, when a participant stayed silent (phase CLEAN)
     */
    public void cleanBuffer(boolean[] launch) {
        enter("cleanBuffer");
        try {
            checkOpen();
            if (launch.length != ranks.length) {
                throw new IllegalArgumentException("expected " + ranks.length + " launch flags, got " + launch.length);
            }
            if (listening) {
                tell(launch, Phase.CLEAN);
            }
            orderAfterShared(launch);
            for (int r = 0; r < ranks.length; r++) {
                if (launch[r]) {
                    ranks[r].clean.launch(ranks[r].stream);
                    ranks[r].syncDone.record(ranks[r].stream);
                    ranks[r].step = 0;
                    ranks[r].stepOpen = false;
                }
            }
            RuntimeException first = null;
            for (int r = 0; r < ranks.length; r++) {
                if (!launch[r] || ranks[r].stalled) {
                    continue;
                }
                ranks[r].syncDone.synchronize();
                RuntimeException fault = faultOf(ranks[r], Phase.CLEAN);
                if (fault == null) {
                    ranks[r].failure = null;
                }
                first = first == null ? fault : first;
            }
            throwFirst(first);
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ mask API

    /** Rank {@code rank}'s mask, 1 = masked (DeepEP polarity), read from the device. Elastic mode only. */
    public int[] queryMask(int rank) {
        requireElastic("queryMask");
        Rank rk = rank(rank);
        synchronized (rk) {
            int[] out = new int[groupSize];
            Memcpy.toHost(out, rk.base + layout.offMask, control);
            return out;
        }
    }

    /**
     * Masks or unmasks {@code peer} in rank {@code rank}'s view (engine-driven masking). Written to the device on a
     * separate stream, so it also unblocks a wait of that rank on that peer at once. Elastic mode only; a rank cannot
     * mask itself.
     */
    public void updateMask(int rank, int peer, boolean masked) {
        requireElastic("updateMask");
        Rank rk = rank(rank);
        if (peer < 0 || peer >= groupSize) {
            throw new IllegalArgumentException("peer " + peer + " outside [0, " + groupSize + ")");
        }
        if (peer == rk.id && masked) {
            throw new IllegalArgumentException("rank " + rk.id + " cannot mask itself");
        }
        synchronized (rk) {
            MemoryUtil.putInt(rk.pinnedScratch, masked ? 1 : 0);
            Memcpy.hostToDevice(rk.base + layout.offMask + 4L * peer, rk.pinnedScratch, 4, control);
            control.synchronize();
        }
    }

    /** Marks every rank active in rank {@code rank}'s view. Elastic mode only. */
    public void clearMask(int rank) {
        requireElastic("clearMask");
        Rank rk = rank(rank);
        synchronized (rk) {
            Memcpy.toDevice(rk.base + layout.offMask, new int[groupSize], control);
            control.synchronize();
        }
    }

    /**
     * Collective of the launched ranks: all-gathers their masks over the fault-tolerant allGather and makes each
     * adopt the union of what it received (spec §2 agreeMask). Elastic mode only.
     *
     * @return per launched rank the agreed mask (its own entry is 1 if some peer masks it), null for others
     */
    public int[][] agreeMask(boolean[] launch) {
        requireElastic("agreeMask");
        checkLaunch(launch);
        byte[][] payloads = new byte[ranks.length][];
        for (int r = 0; r < ranks.length; r++) {
            if (launch[r]) {
                int[] mask = queryMask(r);
                payloads[r] = new byte[groupSize];
                for (int p = 0; p < mask.length; p++) {
                    payloads[r][p] = (byte) mask[p];
                }
            }
        }
        byte[][][] views = allGather(payloads);
        int[][] out = new int[ranks.length][];
        for (int r = 0; r < ranks.length; r++) {
            if (views[r] == null) {
                continue;
            }
            int[] union = new int[groupSize];
            for (byte[] view : views[r]) {
                if (view != null) {
                    for (int p = 0; p < union.length && p < view.length; p++) {
                        union[p] |= view[p];
                    }
                }
            }
            for (int p = 0; p < union.length; p++) {
                if (union[p] != 0 && p != ranks[r].id) {
                    updateMask(r, p, true);
                }
            }
            out[r] = union;
        }
        return out;
    }

    /**
     * Readmits {@code returning} (spec §2 readmit): every launched survivor unmasks it, the returning rank adopts the
     * first survivor's mask, and all of them run the cleanBuffer rendezvous. Elastic mode only.
     *
     * @param returning the rank coming back (it must not be stalled)
     * @param survivors the ranks readmitting it (launched in this call, {@code returning} excluded)
     * @return whether every survivor ended with {@code returning} unmasked
     */
    public boolean readmit(int returning, boolean[] survivors) {
        requireElastic("readmit");
        if (ranks.length != groupSize) {
            throw new IllegalStateException("readmit(returning, survivors) drives every rank of the group; a group"
                    + " hosting " + ranks.length + " of " + groupSize + " ranks readmits through updateMask, clearMask"
                    + " and cleanBuffer on each rank (see NvshmemBuffer#readmit)");
        }
        Rank back = rank(returning);
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
                updateMask(r, returning, false);
                first = first < 0 ? r : first;
            }
        }
        if (first < 0) {
            throw new IllegalArgumentException("readmit needs at least one survivor");
        }
        int[] adopted = queryMask(first);
        adopted[returning] = 0;
        synchronized (back) {
            Memcpy.toDevice(back.base + layout.offMask, adopted, control);
            control.synchronize();
        }
        boolean[] launch = survivors.clone();
        launch[returning] = true;
        cleanBuffer(launch);
        for (int r = 0; r < ranks.length; r++) {
            if (survivors[r] && queryMask(r)[returning] != 0) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------ stats

    /** Per local expert of {@code rank}, tokens received over all dispatches with {@code stats} on. */
    public long[] cumulativeRecvStats(int rank) {
        return readLongs(rank, layout.offCumRecv, layout.localExperts);
    }

    /** Per source rank, nanoseconds rank {@code rank} waited for it in dispatch (GPU %globaltimer). */
    public long[] dispatchWaitNanos(int rank) {
        return readLongs(rank, layout.offDwait, groupSize);
    }

    /** Per source rank, nanoseconds rank {@code rank} waited for it in combine. */
    public long[] combineWaitNanos(int rank) {
        return readLongs(rank, layout.offCwait, groupSize);
    }

    private long[] readLongs(int rank, long offset, int count) {
        Rank rk = rank(rank);
        synchronized (rk) {
            long[] out = new long[count];
            Memcpy.toHost(out, rk.base + offset, control);
            return out;
        }
    }

    /**
     * Resets every rank's kernel phase trace (diagnostics): each elastic EP kernel stamps the %globaltimer of its
     * first block's start and its last block's end per phase; after a reset the next launch of each phase is recorded.
     * Waits for the reset; ranks that are stalled are skipped.
     */
    public void resetTrace() {
        long[] empty = new long[2 * CudaRankLayout.TRACE_PHASES];
        for (int p = 0; p < CudaRankLayout.TRACE_PHASES; p++) {
            empty[2 * p] = -1L;
        }
        for (Rank rk : ranks) {
            if (!rk.stalled) {
                Memcpy.toDevice(rk.base + layout.offTrace, empty, rk.exec());
            }
        }
        origin.synchronize();
        for (Rank rk : ranks) {
            if (!rk.stalled) {
                rk.stream.synchronize();
            }
        }
    }

    /**
     * Rank {@code rank}'s phase trace since {@link #resetTrace()}: {@code [2 p]} = start, {@code [2 p + 1]} = end in
     * GPU nanoseconds (%globaltimer) of phase {@code p}: 0 dispatch send, 1 dispatch wait, 2 dispatch copy, 3 combine
     * send, 4 combine wait, 5 combine reduce, and inside the dispatch send 6 its routing plan, 7 its row staging
     * ({@code -1} / 0 when the phase did not run). Waits for the rank's stream.
     */
    public long[] phaseTrace(int rank) {
        Rank rk = rank(rank);
        long[] out = new long[2 * CudaRankLayout.TRACE_PHASES];
        Memcpy.toHost(out, rk.base + layout.offTrace, rk.exec());
        return out;
    }

    // ------------------------------------------------------------------------------------------------ failure injection

    /**
     * Holds rank {@code rank}'s stream behind a spin kernel until {@link #release}: everything launched for it meanwhile
     * runs late. Its results are not waited for ({@code null} in result lists) until {@link #awaitRank}.
     */
    public void stall(int rank) {
        Rank rk = rank(rank);
        if (rk.stalled) {
            throw new IllegalStateException("rank " + rank + " is already stalled");
        }
        MemoryUtil.putInt(rk.releaseFlag, 0);
        rk.spin.setLong(0, rk.releaseFlag).setLong(1, STALL_CAP_NANOS).launch(rk.stream);
        rk.stalled = true;
    }

    /** Lets a stalled rank's stream run on (does not wait for it). */
    public void release(int rank) {
        MemoryUtil.putInt(rank(rank).releaseFlag, 1);
        java.lang.invoke.VarHandle.fullFence();
    }

    /**
     * Waits until everything launched for rank {@code rank} finished (after {@link #release}) and publishes its pending
     * results, which reflect the view of a rank that ran late (not checked against anything).
     */
    public void awaitRank(int rank) {
        Rank rk = rank(rank);
        rk.stream.synchronize();
        rk.stalled = false;
        if (rk.pendingDispatch) {
            publishDispatch(rk);
        }
        if (rk.pendingCombine) {
            publishCombine(rk);
        }
    }

    /** The last dispatch result of {@code rank} (after {@link #awaitRank}, say). */
    public CudaDispatched lastDispatch(int rank) {
        return rank(rank).dispatched;
    }

    /** The last combine result of {@code rank}. */
    public CudaCombined lastCombine(int rank) {
        return rank(rank).combined;
    }

    /**
     * Overwrites every hosted rank's receive rows, scales, provenance columns, combine output and (when this group
     * hosts all R ranks) combine-send rows with the byte 0xA5 (tests: an element a kernel skipped then shows up instead
     * of passing on stale data). Between steps only; waits until done. Ranks that are stalled are skipped.
     *
     * <p>A group hosting a subset of the ranks (one process per rank) leaves the combine-send rows alone: a peer
     * process may still be reducing the previous step from them (it detected a death later than this rank did), and
     * only the expert outputs of this rank's next step, written after its next dispatch, may replace them.
     */
    public void poisonResults() {
        enter("poisonResults");
        try {
            checkOpen();
            FillKernel fill = new FillKernel(module);
            boolean allHosted = ranks.length == groupSize;
            for (Rank rk : ranks) {
                if (rk.stalled) {
                    continue;
                }
                if (allHosted) {
                    fill.fill(rk.base + layout.offCombRows, layout.localExperts * layout.expertRowBytes(), 1, POISON,
                            origin);
                }
                fill.fill(rk.base + layout.offRecvX, layout.offOut + 2L * layout.hidden * layout.maxTokens
                        - layout.offRecvX, 1, POISON, origin);
                fill.fill(rk.base + layout.offLost, 4L * layout.maxTokens, 1, POISON, origin);
            }
            origin.synchronize();
            for (Rank rk : ranks) {
                if (!rk.stalled) {
                    rk.stream.synchronize();
                }
            }
        } finally {
            exit();
        }
    }

    // ------------------------------------------------------------------------------------------------ graphs

    /**
     * Records what {@code queue} launches (e.g. {@link #queueDispatch}, {@link #queueCombine}: batched kernels on the
     * shared stream) into a CUDA graph. Replay it with {@link #replay}; the kernels keep their step state on the
     * device, so replays run step after step. Host-side results are not refreshed by replays: call
     * {@link #synchronize()} before reading device results.
     */
    public CudaGraph captureGraph(Runnable queue) {
        for (Rank rk : ranks) {
            if (rk.stalled) {
                throw new IllegalStateException("rank " + rk.id + " is stalled: graphs capture the shared stream only");
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

    /**
     * Waits for all queued work of unstalled ranks (after graph replays or {@code queue*} calls).
     */
    public void synchronize() {
        origin.synchronize();
        for (Rank rk : ranks) {
            if (!rk.stalled) {
                rk.stream.synchronize();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /**
     * Frees everything. Stalled ranks are released first; their queued kernels end within the wait timeout, which
     * freeing device memory (a device-wide synchronisation) waits for: never longer.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        enter("close");
        try {
            closed = true;
            closeQuietly();
        } finally {
            exit();
        }
    }

    private void closeQuietly() {
        closed = true;
        RuntimeException failure = null;
        for (Rank rk : ranks) {
            if (rk != null) {
                MemoryUtil.putInt(rk.releaseFlag, 1);
            }
        }
        for (Rank rk : ranks) {
            if (rk == null) {
                continue;
            }
            try {
                rk.close();
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        batchLaunches.forEach(KernelLaunch::close);
        mainMark.close();
        combineReady.close();
        dispatchReady.close();
        origin.close();
        control.close();
        pinned.close();
        allocator.close();
        try {
            memory.releaseKernels(module);
        } catch (RuntimeException e) {
            failure = failure == null ? e : failure;
        }
        module.close();
        if (failure != null) {
            throw failure;
        }
    }

    // ------------------------------------------------------------------------------------------------ internals

    private RuntimeException faultOf(Rank rk, Phase phase) {
        int fault = rk.report.fault();
        if (fault == 0) {
            return null;
        }
        if ((fault & CudaRankLayout.FAULT_TIMEOUT) != 0) {
            int code = rk.report.phase();
            Phase where = Phase.ofCode(code).orElse(phase);
            PeerTimeoutException e = new PeerTimeoutException(rk.id, rk.report.faultPeers(), where, timeoutNanos);
            rk.failure = e;
            return e;
        }
        if ((fault & CudaRankLayout.FAULT_FORMAT) != 0) {
            return new IllegalStateException("rank " + rk.id + ": peer rank " + rk.report.mismatchedPeer()
                    + " dispatched step " + rk.step + " with other fp8 options; every rank must pass the same options");
        }
        return new IllegalArgumentException("rank " + rk.id + ": " + rk.report.badIds() + " topk_idx entries outside"
                + " [0, " + layout.experts + ") and not -1 were dropped on the device (validation was off)");
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

    private void validateTokens(Rank rk, TokenBatch batch, String op, boolean saveIdx) {
        if (batch.isClosed()) {
            throw new IllegalArgumentException(who(rk, op) + "the token batch is closed");
        }
        MemoryLocation where = batch.location();
        boolean host = where.isCpuAccessible();
        if (!host && (where.type() != DeviceType.CUDA || where.deviceId() != device.ordinal())) {
            throw new IllegalArgumentException(who(rk, op) + "the batch lives in " + where + " memory; this group runs"
                    + " on " + device.location() + " (host batches are copied in)");
        }
        if (batch.dtype() != config.dtype()) {
            throw new IllegalArgumentException(who(rk, op) + "batch dtype " + batch.dtype()
                    + " differs from the buffer's " + config.dtype());
        }
        if (batch.hiddenSize() != layout.hidden) {
            throw new IllegalArgumentException(who(rk, op) + "batch hidden size " + batch.hiddenSize()
                    + " differs from the buffer's " + layout.hidden);
        }
        int n = batch.numTokens();
        if (n > layout.maxTokens) {
            throw new IllegalArgumentException(who(rk, op) + n + " tokens exceed maxTokensPerRank = "
                    + layout.maxTokens);
        }
        int k = batch.topK();
        if (k > layout.maxTopK) {
            throw new IllegalArgumentException(who(rk, op) + "k = " + k + " exceeds maxTopK = " + layout.maxTopK);
        }
        if (!host && !validateDeviceInputs) {
            return;
        }
        long a = idxHostAddress(rk, batch);
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < k; j++) {
                long e = MemoryUtil.getLong(a + 8L * (t * k + j));
                if (e < -1 || e >= layout.experts) {
                    throw new IllegalArgumentException(who(rk, op) + "topk_idx[" + t + "][" + j + "] = " + e
                            + " is outside [0, " + layout.experts + ") and not -1");
                }
                for (int i = 0; i < j && e >= 0; i++) {
                    if (MemoryUtil.getLong(a + 8L * (t * k + i)) == e) {
                        throw new IllegalArgumentException(who(rk, op) + "token " + t + " lists expert " + e
                                + " twice");
                    }
                }
                if (saveIdx) {
                    rk.routedIdx[t * k + j] = e;
                }
            }
        }
    }

    private static String who(Rank rk, String op) {
        return "rank " + rk.id + ": " + op + ": ";
    }

    /** A host address holding the batch's topk_idx: the batch itself, or a pinned copy of a device batch's. */
    private long idxHostAddress(Rank rk, TokenBatch batch) {
        if (isHost(batch)) {
            return batch.topkIdxAddress();
        }
        long bytes = 8L * batch.numTokens() * batch.topK();
        if (bytes > 0) {
            Memcpy.deviceToHost(rk.pinnedIdx, batch.topkIdxAddress(), bytes, control);
            control.synchronize();
        }
        return rk.pinnedIdx;
    }

    private static boolean isHost(TokenBatch batch) {
        return batch.location().isCpuAccessible();
    }

    private static int dtypeCode(HiddenDtype dtype) {
        return switch (dtype) {
            case BF16 -> 0;
            case FP16 -> 1;
            case FP32 -> 2;
            default -> throw new IllegalArgumentException("dispatch input dtype " + dtype + " is not supported");
        };
    }

    private Rank rank(int r) {
        if (r < 0 || r >= ranks.length) {
            throw new IllegalArgumentException("rank " + r + " outside [0, " + ranks.length + ")");
        }
        return ranks[r];
    }

    private void checkList(List<?> perRank, String op) {
        if (perRank == null || perRank.size() != ranks.length) {
            throw new IllegalArgumentException(op + " needs one entry per rank (" + ranks.length + "), got "
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
                ensureWorking(ranks[r]);
            }
        }
    }

    private boolean[] all() {
        boolean[] launch = new boolean[ranks.length];
        Arrays.fill(launch, true);
        return launch;
    }

    private void ensureWorking(Rank rk) {
        if (rk.failure != null) {
            throw new IllegalStateException("rank " + rk.id + ": the buffer failed (" + rk.failure.getMessage()
                    + "); call cleanBuffer() first", rk.failure);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the cuda-local group is closed");
        }
    }

    private void requireElastic(String op) {
        checkOpen();
        if (!config.elastic()) {
            throw new IllegalStateException(op + " needs elastic mode; this group was built with elastic = false");
        }
    }

    private void enter(String op) {
        Thread me = Thread.currentThread();
        if (!caller.compareAndSet(null, me)) {
            Thread other = caller.get();
            throw new IllegalStateException(op + " called from thread " + me.getName() + " while thread "
                    + (other == null ? "?" : other.getName()) + " is inside a call on the same cuda-local group");
        }
    }

    private void exit() {
        caller.set(null);
    }

    private static long align64(long v) {
        return (v + 63) & ~63L;
    }
}
