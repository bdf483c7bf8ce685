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

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.Memcpy;
import io.tokenroute.device.PinnedHostBuffer;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.cuda.CudaPrefillBuffers.RowArray;
import io.tokenroute.routing.cuda.CudaPrefillLaunches.Arg;
import io.tokenroute.routing.cuda.CudaPrefillLaunches.Kernel;
import io.tokenroute.routing.cuda.CudaPrefillLaunches.Wait;
import io.tokenroute.routing.transport.InputChecks;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The prefill (high-throughput) mode of one GPU rank (docs/contract.md §3b), driven by the rank's thread: the host
 * checks the inputs (the text every transport uses), queues the kernels of {@code prefill*.cuh} on the rank's stream in
 * chunk rounds, and synchronises twice per dispatch (after the notify, to learn the receive counts and size the
 * receive memory, as DeepEP's normal dispatch does; after the handle, to publish the result) and once per combine.
 *
 * <p>The listener hears {@code PREFILL_NOTIFY} once per dispatch and {@code PREFILL_DISPATCH} /
 * {@code PREFILL_COMBINE} once per chunk the rank writes in a round (the stream is synchronised first, so a rank
 * stopped there has written exactly the chunks of the earlier rounds).
 *
 * <p>Owns its launches, events, pinned scratch and traffic-sized device memory; the rank closes it.
 */
final class CudaPrefillEngine implements AutoCloseable {
    static final String DISPATCH = "prefillDispatch";
    static final String COMBINE = "prefillCombine";

    /** Hears the phases of a call (the buffer's listener, or nothing). */
    interface Teller {
        void tell(Phase phase, long step);
    }

    private final CudaRankEngine rank;
    private final BufferConfig config;
    private final CudaPrefillLayout layout;
    private final CudaPrefillLaunches launches;
    private final CudaPrefillBuffers buffers;
    private final CudaEvent dispatchReady;
    private final CudaEvent combineReady;
    private final PinnedHostBuffer pinnedIdx;
    private final CudaPrefillDispatched dispatched;
    private final CudaCombined combined;
    private final VectorSchemaRoot output;
    private final long[] routed;
    /** The ids of a dispatch being checked; they replace {@link #routed} once every check passed. */
    private final long[] checking;

    private final int[] summary;
    private final int[] destCount;
    private final int[] sourceCount;
    private final boolean[] newly;

    private long step;
    private int tokens;
    private int topK;
    private boolean stepOpen;
    /** Host address of the ids checked last (the batch's, or the pinned copy of a device batch's). */
    private long checkedIdx;

    CudaPrefillEngine(CudaRankEngine rank, KernelModule module, BufferAllocator allocator, int sharers) {
        this.rank = rank;
        this.config = rank.config;
        this.layout = rank.layout.prefill;
        this.routed = new long[layout.maxTokens * layout.maxTopK];
        this.checking = new long[routed.length];
        this.summary = new int[layout.summaryInts];
        this.destCount = new int[layout.ranks];
        this.sourceCount = new int[layout.ranks];
        this.newly = new boolean[layout.ranks];
        CudaPrefillLaunches made = null;
        CudaPrefillBuffers memory = null;
        CudaEvent dispatchEvent = null;
        CudaEvent combineEvent = null;
        PinnedHostBuffer pinned = null;
        VectorSchemaRoot out = null;
        try {
            made = new CudaPrefillLaunches(module, rank.desc(), sharers);
            memory = new CudaPrefillBuffers(allocator, rank.stream, layout.hidden, layout.maxTopK, layout.localExperts);
            dispatchEvent = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            combineEvent = CudaEvent.create(CudaEvent.DISABLE_TIMING);
            pinned = PinnedHostBuffer.allocate(Math.max(8, 8L * layout.maxTokens * layout.maxTopK));
            out = outputView(allocator);
        } catch (RuntimeException | Error e) {
            Closeables.closeAll(out, pinned, combineEvent, dispatchEvent, memory, made);
            throw e;
        }
        this.launches = made;
        this.buffers = memory;
        this.dispatchReady = dispatchEvent;
        this.combineReady = combineEvent;
        this.pinnedIdx = pinned;
        this.output = out;
        this.dispatched = new CudaPrefillDispatched(rank, layout, buffers, dispatchReady);
        this.combined = new CudaCombined(
                rank, layout.offOut, layout.offLost, layout.maxTokens, this::resized, this::combineEvent);
    }

    /** The combine output over the prefill output area: {@code hidden} bf16 [Tp][H], {@code lost_weight} float32. */
    private VectorSchemaRoot outputView(BufferAllocator allocator) {
        Schema schema = new Schema(List.of(
                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, layout.hidden),
                new Field(
                        CudaRankViews.LOST_WEIGHT,
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null)));
        org.apache.arrow.memory.ArrowBuf device = rank.memory.toArrowBuf(allocator);
        try {
            return ColumnViews.load(
                    schema,
                    allocator,
                    layout.maxTokens,
                    List.of(
                            device.slice(layout.offOut, 2L * layout.hidden * layout.maxTokens),
                            device.slice(layout.offLost, 4L * layout.maxTokens)),
                    rank.device.location());
        } finally {
            device.close();
        }
    }

    private CudaEvent combineEvent() {
        return combineReady;
    }

    private VectorSchemaRoot resized(int rows) {
        if (output.getRowCount() != rows) {
            output.setRowCount(rows);
        }
        return output;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /** Checks, then runs one prefill dispatch; see the class comment. */
    PrefillDispatched dispatch(TokenBatch batch, DispatchOptions options, Teller teller, boolean listening) {
        rank.ensureWorking();
        checkTokens(batch, DISPATCH, checking);
        if (stepOpen) {
            throw new IllegalStateException("rank " + rank.id + ": " + DISPATCH + ": prefill step " + step
                    + " is not combined yet; call prefillCombine (or cleanBuffer) first");
        }
        InputChecks.checkFp8Hidden(rank.id, DISPATCH, options.fp8(), layout.hidden);
        if (options.fp8() && !CudaRankEngine.isHost(batch) && batch.hiddenAddress() % 16 != 0) {
            throw InputChecks.refuse(
                    rank.id,
                    DISPATCH,
                    "fp8 dispatch reads rows with 16-byte loads; the batch's hidden data at 0x"
                            + Long.toHexString(batch.hiddenAddress()) + " is not 16-byte aligned");
        }
        int n = batch.numTokens();
        int k = batch.topK();
        System.arraycopy(checking, 0, routed, 0, n * k);
        long next = step + 1;
        teller.tell(Phase.PREFILL_NOTIFY, next);
        dispatched.closeViews();
        stage(batch, n, k);
        launches.set(Arg.N, n)
                .set(Arg.K, k)
                .set(Arg.DTYPE, CudaLaunches.dtypeCode(batch.dtype()))
                .set(Arg.FORMAT, options.formatCode())
                .set(Arg.STEP, next)
                .set(Arg.TIMEOUT_NS, rank.timeoutNanos());
        launches.launch(Kernel.NOTIFY, 0, rank.stream);
        readSummary();
        step = next;
        tokens = n;
        topK = k;
        buffers.ensureRows(Math.max(1, summary[CudaPrefillLayout.SUM_ROWS]));
        buffers.ensurePartials(Math.max(1, summary[CudaPrefillLayout.SUM_SENT]));
        setBufferArgs();
        int[] recvFrom = new int[layout.ranks];
        for (int p = 0; p < layout.ranks; p++) {
            destCount[p] = summary[layout.summaryDestCount(p)];
            recvFrom[p] = summary[layout.summaryKept(p)] != 0 ? summary[layout.summaryRecvFrom(p)] : 0;
        }
        int rounds = CudaPrefillSchedule.rounds(destCount, recvFrom, layout.chunkRows);
        long rowsPerRound = (long) layout.ranks * layout.chunkRows;
        for (int c = 0; c < rounds; c++) {
            launches.set(Arg.ROUND, c);
            if (CudaPrefillSchedule.waitsForCredit(c, layout.chunks)) {
                launches.await(Wait.DISPATCH_CREDIT, rank.stream);
            }
            send(Kernel.PACK, Phase.PREFILL_DISPATCH, c, destCount, teller, listening);
            launches.await(Wait.DISPATCH_TAIL, rank.stream);
            launches.launch(Kernel.COPY, rowsPerRound, rank.stream);
        }
        launches.launch(Kernel.HANDLE, 0, rank.stream);
        dispatchReady.record(rank.stream);
        readSummary();
        RuntimeException fault = rank.faultOf(Phase.PREFILL_DISPATCH);
        buffers.ensureEntries(Math.max(1, summary[CudaPrefillLayout.SUM_ENTRIES]));
        launches.set(Arg.EXPERT_OUT, buffers.expertOutAddress());
        rank.report.copyNewly(CudaRankLayout.CALL_DISPATCH, newly);
        rank.completedCalls++;
        stepOpen = fault == null;
        dispatched.publish(step, n, options.fp8(), options.ue8m0(), summary, newly);
        if (fault != null) {
            dispatched.markCombined();
            throw fault;
        }
        for (int p = 0; p < layout.ranks; p++) {
            sourceCount[p] = dispatched.sourceCount(p);
        }
        return dispatched;
    }

    /** Copies a host batch into the input area (a device batch is read in place) and points the kernels at it. */
    private void stage(TokenBatch batch, int n, int k) {
        if (CudaRankEngine.isHost(batch)) {
            long x = rank.base + layout.offInputX;
            long idx = rank.base + layout.offInputIdx;
            long weights = rank.base + layout.offInputW;
            Memcpy.hostToDevice(x, batch.hiddenAddress(), n * batch.hiddenRowBytes(), rank.stream);
            Memcpy.hostToDevice(idx, batch.topkIdxAddress(), 8L * n * k, rank.stream);
            Memcpy.hostToDevice(weights, batch.topkWeightsAddress(), 4L * n * k, rank.stream);
            launches.set(Arg.X, x).set(Arg.IDX, idx).set(Arg.WEIGHTS, weights);
        } else {
            launches.set(Arg.X, batch.hiddenAddress())
                    .set(Arg.IDX, batch.topkIdxAddress())
                    .set(Arg.WEIGHTS, batch.topkWeightsAddress());
        }
    }

    private void setBufferArgs() {
        launches.set(Arg.RECV_ROWS, buffers.rowAddress(RowArray.ROWS))
                .set(Arg.RECV_SCALES, buffers.rowAddress(RowArray.SCALES))
                .set(Arg.RECV_IDS, buffers.rowAddress(RowArray.IDS))
                .set(Arg.RECV_WEIGHTS, buffers.rowAddress(RowArray.WEIGHTS))
                .set(Arg.RECV_SRC_RANK, buffers.rowAddress(RowArray.SRC_RANK))
                .set(Arg.RECV_SRC_TOKEN, buffers.rowAddress(RowArray.SRC_TOKEN))
                .set(Arg.RECV_EXPERT_POS, buffers.rowAddress(RowArray.EXPERT_POS))
                .set(Arg.EXPERT_ROWS, buffers.rowAddress(RowArray.EXPERT_ROWS))
                .set(Arg.PARTIALS, buffers.partialsAddress());
    }

    /**
     * Queues the writing kernel of round {@code c} ({@code tr_pf_pack} or {@code tr_pf_reduce}) for every peer with a
     * chunk in it. With a listener, the earlier rounds finish first and each peer's chunk is one launch after the
     * listener heard of it, so a rank stopped there has written exactly the chunks before.
     */
    private void send(Kernel kernel, Phase phase, int c, int[] rows, Teller teller, boolean listening) {
        long rowsPerRound = (long) layout.ranks * layout.chunkRows;
        if (!listening) {
            launches.set(Arg.KIND, -1).launch(kernel, rowsPerRound, rank.stream);
            return;
        }
        rank.stream.synchronize();
        for (int p = 0; p < rows.length; p++) {
            if (c < CudaPrefillSchedule.chunksOf(rows[p], layout.chunkRows)) {
                teller.tell(phase, step);
                launches.set(Arg.KIND, p).launch(kernel, layout.chunkRows, rank.stream);
            }
        }
    }

    /** Copies the summary back after the work queued so far on the rank's stream. */
    private void readSummary() {
        Memcpy.toHost(summary, rank.base + layout.offSummary, rank.stream);
    }

    // ------------------------------------------------------------------------------------------------ combine

    /** Checks, then runs the combine of the open step with the experts' outputs in the result's views. */
    CudaCombined combine(PrefillDispatched result, TokenBatch routing, Teller teller, boolean listening) {
        rank.ensureWorking();
        if (result != dispatched || !stepOpen || !dispatched.isCurrent()) {
            throw InputChecks.refuse(
                    rank.id, COMBINE, "needs this buffer's latest prefill dispatch result, not yet combined");
        }
        checkTokens(routing, COMBINE, null);
        InputChecks.checkCombineRouting(rank.id, routing, tokens, topK, checkedIdx, i -> routed[(int) i]);
        dispatched.markCombined();
        stepOpen = false;
        if (CudaRankEngine.isHost(routing)) {
            long weights = rank.base + layout.offInputW;
            Memcpy.hostToDevice(weights, routing.topkWeightsAddress(), 4L * tokens * topK, rank.stream);
            launches.set(Arg.WEIGHTS, weights);
        } else {
            launches.set(Arg.WEIGHTS, routing.topkWeightsAddress());
        }
        launches.set(Arg.N, tokens).set(Arg.K, topK).set(Arg.TIMEOUT_NS, rank.timeoutNanos());
        launches.launch(Kernel.COMBINE_START, 0, rank.stream);
        int rounds = CudaPrefillSchedule.rounds(sourceCount, destCount, layout.chunkRows);
        long rowsPerRound = (long) layout.ranks * layout.chunkRows;
        for (int c = 0; c < rounds; c++) {
            launches.set(Arg.ROUND, c);
            if (CudaPrefillSchedule.waitsForCredit(c, layout.chunks)) {
                launches.await(Wait.COMBINE_CREDIT, rank.stream);
            }
            send(Kernel.REDUCE, Phase.PREFILL_COMBINE, c, sourceCount, teller, listening);
            launches.await(Wait.COMBINE_TAIL, rank.stream);
            launches.launch(Kernel.GATHER, rowsPerRound, rank.stream);
        }
        launches.launch(Kernel.MERGE, tokens, rank.stream);
        combineReady.record(rank.stream);
        combineReady.synchronize();
        rank.completedCalls++;
        RuntimeException fault = rank.faultOf(Phase.PREFILL_COMBINE);
        combined.publish(tokens);
        if (fault != null) {
            throw fault;
        }
        return combined;
    }

    // ------------------------------------------------------------------------------------------------ state

    /** A rendezvous restarted the steps (cleanBuffer, readmit): an open step is discarded. */
    void reset() {
        step = 0;
        stepOpen = false;
        dispatched.markCombined();
    }

    /** The batch checks of every transport with the prefill token limit, plus where its memory is. */
    private void checkTokens(TokenBatch batch, String op, long[] save) {
        InputChecks.checkBatch(rank.id, op, config, batch, layout.maxTokens, "prefillMaxTokensPerRank");
        MemoryLocation where = batch.location();
        boolean host = where.isCpuAccessible();
        if (!host && (where.type() != DeviceType.CUDA || where.deviceId() != rank.device.ordinal())) {
            throw InputChecks.refuse(
                    rank.id,
                    op,
                    "the batch lives in " + where + " memory; this transport runs on " + rank.device.location()
                            + " (host batches are copied in)");
        }
        if (host) {
            checkedIdx = batch.topkIdxAddress();
        } else {
            checkedIdx = pinnedIdx.address();
            rank.control.copyToHost(checkedIdx, batch.topkIdxAddress(), 8L * batch.numTokens() * batch.topK());
        }
        InputChecks.checkExpertIds(rank.id, op, config.experts(), checkedIdx, batch.numTokens(), batch.topK(), save);
    }

    @Override
    public void close() {
        Closeables.closeAll(dispatched, combined, output, buffers, pinnedIdx, combineReady, dispatchReady, launches);
    }
}
