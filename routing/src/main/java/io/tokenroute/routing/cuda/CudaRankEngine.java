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
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.FillKernel;
import io.tokenroute.device.KernelLaunch;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.protocol.CallGuard;
import io.tokenroute.routing.transport.InputChecks;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongUnaryOperator;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * One rank of a CUDA group: its device allocation, its own stream, its events, the pinned report its kernels write,
 * the launches of its phases ({@code gridDim.y = 1}, this rank in slot 0) and its host-side step state and results.
 * {@link CudaElasticBuffer} drives it from the rank's own thread; the batching driver ({@link CudaLocalGroup}) drives
 * all hosted ranks from one thread, launching their phases together where it can. Either way a call goes through the
 * same steps: check the inputs (nothing launched yet), stage host inputs, launch, wait, publish the report.
 *
 * <p>The rank's own work (its phases when it runs alone, every collective, a stalled rank's late work) runs on
 * {@link #stream}; mask writes and reads, stats and the copy of a device batch's {@code topk_idx} for its checks run on
 * a side stream ({@link #control}), so a mask written from another thread reaches a wait kernel spinning on
 * {@link #stream}.
 *
 * <p>One driving thread at a time ({@link #guard}); the mask, stats and heartbeat calls may come from any thread
 * (they serialise on this object). The CPU never reads device memory: results come back with CUDA copies.
 */
final class CudaRankEngine implements AutoCloseable {
    /** A stall ends by itself after this long, so a forgotten release cannot hang the process. */
    private static final long STALL_CAP_NANOS = 120_000_000_000L;
    /** The byte results are poisoned with before a checked step (tests). */
    static final long POISON = 0xA5L;

    final int id;
    final CudaDevice device;
    final BufferConfig config;
    final CudaRankLayout layout;
    final DeviceBuffer memory;
    final long base;
    final CudaStream stream;
    final CallGuard guard;
    final CudaReport report;
    final CudaDispatched dispatched;
    final CudaCombined combined;
    final CudaEvent dispatchDone;
    final CudaEvent combineDone;
    private final CudaEvent syncDone;
    /** The mask, stats and heartbeat, on a side stream of their own. */
    final CudaRankControl control;

    private final long releaseFlag;
    private final long pinnedIdx;
    /** Ranks whose kernels share the GPU at once; sizes the grids (one resident wave over all of them). */
    private final int sharers;

    private final long[] routedIdx;
    private final LongUnaryOperator routedId;
    private final List<KernelLaunch> launches = new ArrayList<>();
    private KernelLaunch send;
    private KernelLaunch waitDispatch;
    private KernelLaunch copy;
    private KernelLaunch combineSend;
    private KernelLaunch waitCombine;
    private KernelLaunch reduce;
    private KernelLaunch syncArrive;
    private KernelLaunch syncWait;
    private KernelLaunch clean;
    private KernelLaunch spin;
    CudaRankViews views;
    /** The prefill mode, or null when the configuration has none. */
    CudaPrefillEngine prefill;

    // Host-side step state, written by the driving thread.
    /** The event and stream the latest dispatch (combine) ran to: the results' ready event, the stream to copy on. */
    CudaEvent lastDispatchEvent;

    CudaEvent lastCombineEvent;
    CudaStream resultStream;
    long step;
    int tokens;
    int topK;
    boolean fp8;
    boolean ue8m0;
    boolean stepOpen;
    /** Whether {@link #routedIdx} holds the open step's expert ids (not when a device batch went unchecked). */
    private boolean routedKnown;
    /** Host address of the ids {@link #checkTokens} checked last (the batch's, or the pinned copy of a device one). */
    private long checkedIdx;
    /** The staged dispatch: where the send kernel reads the rows and ids, and their dtype code. */
    long inputX;

    long inputIdx;
    int inputDtype;
    boolean stalled;
    boolean pendingDispatch;
    boolean pendingCombine;
    RuntimeException failure;
    volatile boolean closed;
    /** Dispatch and combine calls completed (each waited on every active peer). */
    volatile long completedCalls;

    private volatile long timeoutNanos;
    private volatile boolean validateDeviceInputs = true;

    /**
     * @param memory this rank's allocation ({@code layout.bytes}); owned from here on, closed by {@link #close()}
     * @param pinnedBase this rank's part of the group's pinned host memory ({@link #pinnedBytes})
     * @param sharers ranks whose kernels run on the GPU at the same time
     */
    CudaRankEngine(
            int id,
            CudaDevice device,
            BufferConfig config,
            CudaRankLayout layout,
            DeviceBuffer memory,
            long pinnedBase,
            int sharers) {
        this.id = id;
        this.device = device;
        this.config = config;
        this.layout = layout;
        this.memory = memory;
        this.base = memory.address();
        this.sharers = sharers;
        this.guard = new CallGuard(id);
        this.timeoutNanos = config.timeout().toNanos();
        this.report = new CudaReport(layout, pinnedBase);
        this.releaseFlag = pinnedBase + CudaLaunches.align64(4L * layout.reportInts());
        this.pinnedIdx = releaseFlag + 64;
        this.routedIdx = new long[layout.maxTokens * layout.maxTopK];
        this.routedId = i -> routedIdx[(int) i];
        CudaStream own = null;
        CudaRankControl sideControl = null;
        CudaEvent[] events = new CudaEvent[3];
        try {
            own = CudaStream.create(CudaStream.NON_BLOCKING);
            sideControl =
                    new CudaRankControl(this, pinnedIdx + CudaLaunches.align64(8L * layout.maxTokens * layout.maxTopK));
            for (int i = 0; i < events.length; i++) {
                events[i] = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            }
        } catch (RuntimeException | Error e) {
            for (CudaEvent event : events) {
                if (event != null) {
                    event.close();
                }
            }
            if (sideControl != null) {
                sideControl.close();
            }
            if (own != null) {
                own.close();
            }
            throw e;
        }
        this.stream = own;
        this.control = sideControl;
        this.dispatchDone = events[0];
        this.combineDone = events[1];
        this.syncDone = events[2];
        this.resultStream = own;
        this.dispatched = new CudaDispatched(this);
        this.combined = new CudaCombined(this);
    }

    /** Pinned host bytes one rank needs: its report, the stall release flag, a copy of topk_idx, scratch words. */
    static long pinnedBytes(CudaRankLayout layout) {
        return CudaLaunches.align64(4L * layout.reportInts())
                + 64
                + CudaLaunches.align64(8L * layout.maxTokens * layout.maxTopK)
                + CudaLaunches.align64(8L * Math.max(layout.ranks, layout.localExperts));
    }

    long desc() {
        return base + layout.offDesc;
    }

    /** Builds the Arrow views and the launches, once the allocation is initialised. */
    void bind(KernelModule module, BufferAllocator allocator) {
        views = new CudaRankViews(layout, allocator, memory.toArrowBuf(allocator));
        send = prepare(module, "tr_ep_dispatch_send", CudaLaunches.SEND_BYTES, 8);
        send.shape(2, send.function().maxThreadsPerBlock(), layout.planSharedBytes());
        // Each of these follows the kernel queued just before it on the stream and starts with griddepcontrol.wait
        // (sync.cu tr_await_previous_kernel), so it may be launched before that kernel ends.
        waitDispatch = prepare(module, "tr_ep_dispatch_wait", CudaLaunches.BATCH_BYTES, 8, 8);
        waitDispatch.shape(1, waitDispatch.function().maxThreadsPerBlock(), 0).programmaticDependency();
        copy = prepare(module, "tr_ep_dispatch_copy", CudaLaunches.BATCH_BYTES).programmaticDependency();
        combineSend =
                prepare(module, "tr_ep_combine_send", CudaLaunches.BATCH_BYTES).shape(1, 32, 0);
        waitCombine = prepare(module, "tr_ep_combine_wait", CudaLaunches.BATCH_BYTES, 8);
        waitCombine.shape(1, waitCombine.function().maxThreadsPerBlock(), 0).programmaticDependency();
        reduce = prepare(module, "tr_ep_combine_reduce", CudaLaunches.REDUCE_BYTES)
                .programmaticDependency();
        syncArrive = scalar(module, "tr_ep_sync_arrive", 2);
        syncArrive.shape(1, syncArrive.function().maxThreadsPerBlock(), 0);
        syncWait = scalar(module, "tr_ep_sync_wait", 4);
        syncWait.shape(1, syncWait.function().maxThreadsPerBlock(), 0);
        clean = scalar(module, "tr_ep_clean", 2).shape(1, 32, 0);
        spin = new KernelLaunch(module.function("tr_ep_spin"), 2).shape(1, 32, 0);
        launches.add(spin);
        setTimeoutArguments(timeoutNanos);
        if (layout.prefill != null) {
            prefill = new CudaPrefillEngine(this, module, allocator, sharers);
        }
    }

    /** A launch of a batched kernel for this rank alone: {@code gridDim.y = 1}, its descriptor in slot 0. */
    private KernelLaunch prepare(KernelModule module, String kernel, long... argumentBytes) {
        KernelLaunch launch = new KernelLaunch(module.function(kernel), argumentBytes);
        launches.add(launch);
        launch.setLongAt(0, 0, desc());
        return launch;
    }

    /** A launch of a kernel taking the descriptor pointer first and scalars after it. */
    private KernelLaunch scalar(KernelModule module, String kernel, int arguments) {
        KernelLaunch launch = new KernelLaunch(module.function(kernel), arguments);
        launches.add(launch);
        launch.setLong(0, desc());
        return launch;
    }

    // ------------------------------------------------------------------------------------------------ settings

    long timeoutNanos() {
        return timeoutNanos;
    }

    /** Sets the wait timeout of this rank's later launches (a runtime kernel argument). */
    void setTimeout(long nanos) {
        if (nanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive, got " + nanos + " ns");
        }
        timeoutNanos = nanos;
        setTimeoutArguments(nanos);
    }

    private void setTimeoutArguments(long nanos) {
        if (waitDispatch != null) {
            waitDispatch.setLong(1, nanos);
            waitCombine.setLong(1, nanos);
            syncWait.setLong(1, nanos);
            clean.setLong(1, nanos);
        }
    }

    void setValidateDeviceInputs(boolean validate) {
        validateDeviceInputs = validate;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /** The checks of docs/contract.md §7 for a dispatch; nothing is launched or changed when one fails. */
    void checkDispatch(TokenBatch batch, DispatchOptions options) {
        ensureWorking();
        if (stepOpen) {
            throw new IllegalStateException("rank " + id + ": dispatch while step " + step + " is not combined yet;"
                    + " call combine (or cleanBuffer) first");
        }
        routedKnown = checkTokens(batch, "dispatch", routedIdx);
        InputChecks.checkFp8Hidden(id, "dispatch", options.fp8(), layout.hidden);
        if (options.fp8() && !isHost(batch) && batch.hiddenAddress() % 16 != 0) {
            throw InputChecks.refuse(
                    id,
                    "dispatch",
                    "fp8 dispatch reads rows with 16-byte loads; the batch's hidden" + " data at 0x"
                            + Long.toHexString(batch.hiddenAddress()) + " is not 16-byte aligned");
        }
    }

    /** Copies a host batch in on {@code on} (a device batch is read in place) and opens the step. */
    void stageDispatch(TokenBatch batch, DispatchOptions options, CudaStream on) {
        int n = batch.numTokens();
        int k = batch.topK();
        if (isHost(batch)) {
            inputX = base + layout.offInputX;
            inputIdx = base + layout.offInputIdx;
            Memcpy.hostToDevice(inputX, batch.hiddenAddress(), n * batch.hiddenRowBytes(), on);
            Memcpy.hostToDevice(inputIdx, batch.topkIdxAddress(), 8L * n * k, on);
        } else {
            inputX = batch.hiddenAddress();
            inputIdx = batch.topkIdxAddress();
        }
        inputDtype = CudaLaunches.dtypeCode(batch.dtype());
        tokens = n;
        topK = k;
        fp8 = options.fp8();
        ue8m0 = options.ue8m0();
        stepOpen = true;
    }

    /** Queues this rank's send on its own stream. */
    void launchSend(int format) {
        send.setLongAt(0, CudaLaunches.SEND_X, inputX)
                .setLongAt(0, CudaLaunches.SEND_IDX, inputIdx)
                .setIntAt(0, CudaLaunches.SEND_N, tokens)
                .setIntAt(0, CudaLaunches.SEND_K, topK)
                .setIntAt(0, CudaLaunches.SEND_DTYPE, inputDtype)
                .setInt(1, format);
        send.grid(CudaLaunches.sendGrid(layout, tokens, fp8, send, sharers)).launch(stream);
    }

    /** Queues this rank's dispatch wait and copy on its own stream, then the ready event. */
    void launchDispatchReceive(boolean stats) {
        waitDispatch.setInt(2, stats ? 1 : 0).launch(stream);
        copy.grid(CudaLaunches.copyGrid(copy, (long) tokens * topK, sharers)).launch(stream);
        dispatchDone.record(stream);
        ranOn(dispatchDone, stream, true);
    }

    /** Records where the latest dispatch ({@code dispatch}) or combine ran, for the results' event and copies. */
    void ranOn(CudaEvent ready, CudaStream on, boolean dispatch) {
        if (dispatch) {
            lastDispatchEvent = ready;
        } else {
            lastCombineEvent = ready;
        }
        resultStream = on;
    }

    /** Takes the report of a finished dispatch (counts, layout, newly masked peers); returns its fault, if any. */
    RuntimeException publishDispatch() {
        step++;
        completedCalls++;
        pendingDispatch = false;
        dispatched.publish(step, tokens, fp8, ue8m0);
        return faultOf(Phase.DISPATCH_RECV);
    }

    // ------------------------------------------------------------------------------------------------ combine

    /** The checks of docs/contract.md §7 for a combine of the open step; nothing is launched when one fails. */
    void checkCombine(List<VectorSchemaRoot> outputs, TokenBatch routing) {
        ensureWorking();
        if (!stepOpen) {
            throw new IllegalArgumentException("combine needs this buffer's latest dispatch result, not yet combined"
                    + " (a later dispatch, combine or cleanBuffer invalidated it)");
        }
        boolean compared = checkTokens(routing, "combine", null);
        if (compared && routedKnown) {
            InputChecks.checkCombineRouting(id, routing, tokens, topK, checkedIdx, routedId);
        } else if (routing.numTokens() != tokens || routing.topK() != topK) {
            // The ids cannot be compared (an unchecked device batch): the shape refusal comes before any id is read.
            InputChecks.checkCombineRouting(id, routing, tokens, topK, 0L, i -> 0L);
        }
        if (outputs != null) {
            InputChecks.checkExpertOutputs(id, config, outputs, dispatched::recvCount);
        }
    }

    /**
     * Copies host expert outputs into the combine-send rows and host weights in (on {@code on}); closes the step.
     *
     * @return the device address of the combine weights
     */
    long stageCombine(List<VectorSchemaRoot> outputs, TokenBatch routing, CudaStream on) {
        if (outputs != null) {
            for (int l = 0; l < outputs.size(); l++) {
                VectorSchemaRoot out = outputs.get(l);
                if (views.isOutputView(l, out)) {
                    continue;
                }
                FixedSizeListVector list = (FixedSizeListVector) out.getVector(TokenBatchSchema.HIDDEN);
                Memcpy.hostToDevice(
                        dispatched.expertOutputAddress(l),
                        list.getDataVector().getDataBuffer().memoryAddress(),
                        2L * layout.hidden * out.getRowCount(),
                        on);
            }
        }
        long weights;
        if (isHost(routing)) {
            weights = base + layout.offInputW;
            Memcpy.hostToDevice(weights, routing.topkWeightsAddress(), 4L * routing.numTokens() * routing.topK(), on);
        } else {
            weights = routing.topkWeightsAddress();
        }
        stepOpen = false;
        return weights;
    }

    /** Queues this rank's combine send on its own stream. */
    void launchCombineSend() {
        combineSend.launch(stream);
    }

    /** Queues this rank's combine wait and reduce on its own stream, then the ready event. */
    void launchCombineReceive(long weights) {
        waitCombine.launch(stream);
        reduce.setLongAt(0, CudaLaunches.REDUCE_WEIGHTS, weights)
                .grid(Math.max(1, tokens))
                .launch(stream);
        combineDone.record(stream);
        ranOn(combineDone, stream, false);
    }

    /** Takes the report of a finished combine; returns its fault, if any. */
    RuntimeException publishCombine() {
        completedCalls++;
        pendingCombine = false;
        combined.publish(tokens);
        return faultOf(Phase.COMBINE_RECV);
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /** Queues the arrive half of a barrier ({@code payload == null}) or an allGather on this rank's stream. */
    void launchArrive(byte[] payload) {
        if (payload != null && payload.length > 0) {
            Memcpy.toDevice(base + layout.offGatherIn, payload, stream);
        }
        syncArrive.setLong(1, payload == null ? -1L : payload.length).launch(stream);
    }

    /** Queues the wait half (gathering the payloads when {@code gather}); {@code phase} names a timeout. */
    void launchSyncWait(boolean gather, Phase phase) {
        syncWait.setInt(2, gather ? 1 : 0).setInt(3, phase.code()).launch(stream);
        syncDone.record(stream);
    }

    /** Waits for the collective queued last; returns its fault, if any. */
    RuntimeException finishSync(Phase phase) {
        syncDone.synchronize();
        return faultOf(phase);
    }

    /** The allGather result after {@link #finishSync}: one entry per rank, null for the ones that did not take part. */
    byte[][] readGather() {
        int stride = (int) layout.gatherStride();
        int ranks = layout.ranks;
        byte[] raw = new byte[stride * ranks];
        Memcpy.toHost(raw, base + layout.offGatherOut, stream);
        ByteBuffer view = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        byte[][] out = new byte[ranks][];
        for (int p = 0; p < ranks; p++) {
            long length = view.getLong(p * stride);
            if (length >= 0 && length <= layout.collectiveBytes) {
                out[p] = Arrays.copyOfRange(raw, p * stride + 8, p * stride + 8 + (int) length);
            }
        }
        return out;
    }

    /** Queues the cleanBuffer rendezvous on this rank's stream; the step state restarts. */
    void launchClean() {
        clean.launch(stream);
        syncDone.record(stream);
        step = 0;
        stepOpen = false;
        if (prefill != null) {
            prefill.reset();
        }
    }

    /** Waits for the rendezvous; on success the rank works again (a failure and pending unmasks are cleared). */
    RuntimeException finishClean() {
        syncDone.synchronize();
        RuntimeException fault = faultOf(Phase.CLEAN);
        if (fault == null) {
            failure = null;
            control.applied();
        }
        return fault;
    }

    // ------------------------------------------------------------------------------------------------ mask, stats

    /** Resets the kernel phase trace on {@code on} and waits for it. */
    void resetTrace(CudaStream on) {
        long[] empty = new long[2 * CudaRankLayout.TRACE_PHASES];
        for (int p = 0; p < CudaRankLayout.TRACE_PHASES; p++) {
            empty[2 * p] = -1L;
        }
        Memcpy.toDevice(base + layout.offTrace, empty, on);
        on.synchronize();
    }

    /** The kernel phase trace, read after the work queued on {@code on}. */
    long[] readTrace(CudaStream on) {
        long[] out = new long[2 * CudaRankLayout.TRACE_PHASES];
        Memcpy.toHost(out, base + layout.offTrace, on);
        return out;
    }

    // ------------------------------------------------------------------------------------------------ fault injection

    /** Holds this rank's stream behind a spin kernel until {@link #release}. */
    void stall() {
        if (stalled) {
            throw new IllegalStateException("rank " + id + " is already stalled");
        }
        MemoryUtil.putInt(releaseFlag, 0);
        spin.setLong(0, releaseFlag).setLong(1, STALL_CAP_NANOS).launch(stream);
        stalled = true;
    }

    /** Lets a stalled stream run on (does not wait for it). */
    void release() {
        MemoryUtil.putInt(releaseFlag, 1);
        java.lang.invoke.VarHandle.fullFence();
    }

    /** Waits for a released rank's late work and publishes its pending results (not checked against anything). */
    void awaitLate() {
        stream.synchronize();
        stalled = false;
        if (pendingDispatch) {
            publishDispatch();
        }
        if (pendingCombine) {
            publishCombine();
        }
    }

    /**
     * Overwrites the receive rows, scales, provenance, combine output and ({@code sendRows}) combine-send rows with
     * {@link #POISON} on {@code on}.
     */
    void poison(FillKernel fill, boolean sendRows, CudaStream on) {
        if (sendRows) {
            fill.fill(base + layout.offCombRows, layout.localExperts * layout.expertRowBytes(), 1, POISON, on);
        }
        fill.fill(
                base + layout.offRecvX,
                layout.offOut + 2L * layout.hidden * layout.maxTokens - layout.offRecvX,
                1,
                POISON,
                on);
        fill.fill(base + layout.offLost, 4L * layout.maxTokens, 1, POISON, on);
    }

    // ------------------------------------------------------------------------------------------------ state checks

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("rank " + id + ": the buffer is closed");
        }
    }

    void ensureWorking() {
        ensureOpen();
        if (failure != null) {
            throw new IllegalStateException(
                    "rank " + id + ": the buffer failed (" + failure.getMessage() + "); call cleanBuffer() first",
                    failure);
        }
        if (config.elastic() && control.unmaskPending()) {
            throw new IllegalStateException("rank " + id + ": ranks were unmasked with updateMask/clearMask, which"
                    + " takes effect at a rendezvous they join: call cleanBuffer() on every rank (or readmit) first");
        }
    }

    /** The fault the kernels reported for the call just finished, or null; a timeout leaves the rank failed. */
    RuntimeException faultOf(Phase phase) {
        int fault = report.fault();
        if (fault == 0) {
            return null;
        }
        if ((fault & CudaRankLayout.FAULT_TIMEOUT) != 0) {
            Phase where = Phase.ofCode(report.phase()).orElse(phase);
            PeerTimeoutException e = new PeerTimeoutException(id, report.faultPeers(), where, timeoutNanos);
            failure = e;
            return e;
        }
        if ((fault & CudaRankLayout.FAULT_FORMAT) != 0) {
            return new IllegalStateException("rank " + id + ": peer rank " + report.mismatchedPeer()
                    + " dispatched step " + step + " with other fp8 options; every rank must pass the same options");
        }
        return new IllegalArgumentException("rank " + id + ": " + report.badIds() + " topk_idx entries outside"
                + " [0, " + layout.experts + ") and not -1 were dropped on the device (validation was off)");
    }

    /**
     * The batch checks every transport makes ({@link InputChecks}), plus where its memory is.
     *
     * @param save receives the expert ids, or null
     * @return whether the expert ids were checked (host batches always; device batches unless validation is off)
     */
    private boolean checkTokens(TokenBatch batch, String op, long[] save) {
        InputChecks.checkBatch(id, op, config, batch);
        MemoryLocation where = batch.location();
        boolean host = where.isCpuAccessible();
        if (!host && (where.type() != DeviceType.CUDA || where.deviceId() != device.ordinal())) {
            throw InputChecks.refuse(
                    id,
                    op,
                    "the batch lives in " + where + " memory; this transport runs on " + device.location()
                            + " (host batches are copied in)");
        }
        if (!host && !validateDeviceInputs) {
            return false;
        }
        checkedIdx = idxHostAddress(batch);
        InputChecks.checkExpertIds(id, op, config.experts(), checkedIdx, batch.numTokens(), batch.topK(), save);
        return true;
    }

    /** A host address holding the batch's topk_idx: the batch itself, or a pinned copy of a device batch's. */
    private long idxHostAddress(TokenBatch batch) {
        if (isHost(batch)) {
            return batch.topkIdxAddress();
        }
        control.copyToHost(pinnedIdx, batch.topkIdxAddress(), 8L * batch.numTokens() * batch.topK());
        return pinnedIdx;
    }

    static boolean isHost(TokenBatch batch) {
        return batch.location().isCpuAccessible();
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /** Lets a stalled stream go, so that its queued kernels end within the wait timeout before memory is freed. */
    void releaseForClose() {
        closed = true;
        MemoryUtil.putInt(releaseFlag, 1);
    }

    /** Frees this rank's CUDA resources and views; the group calls it once, after {@link #releaseForClose()}. */
    @Override
    public void close() {
        closed = true;
        RuntimeException failed = null;
        for (AutoCloseable c : new AutoCloseable[] {
            this::closeLaunches, prefill, combined, views, syncDone, combineDone, dispatchDone, control, stream, memory
        }) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                if (failed == null) {
                    failed = e instanceof RuntimeException r ? r : new IllegalStateException(e);
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    private void closeLaunches() {
        launches.forEach(KernelLaunch::close);
        launches.clear();
    }
}
