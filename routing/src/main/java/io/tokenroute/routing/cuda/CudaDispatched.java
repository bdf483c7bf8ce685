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

import io.tokenroute.arrow.cdata.DeviceExport;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.arrow.cdata.NullCounts;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.routing.Dispatched;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * A rank's dispatch result on the GPU transports ({@code cuda-local}, {@code nvshmem}): what the rank received, in
 * <b>CUDA device memory</b>, as {@link Dispatched} describes it (rows per local expert grouped by source rank
 * ascending, then source token ascending; bf16 {@code hidden}, or {@code fp8} + {@code scales}; {@code src_rank},
 * {@code src_token}). Counts and layout were copied to the host after the receive phase, so reading them costs
 * nothing; the rows themselves must never be read by the CPU: wait on {@link #readyEvent()} and hand them to device
 * code (the addresses below, the Arrow views with device-aware consumers, {@link #exportExpert}), or copy them with
 * {@link io.tokenroute.device.Memcpy}.
 *
 * <p>Owned by the rank's buffer and reused: valid until the rank's next dispatch. Do not close it or its batches.
 */
public final class CudaDispatched extends Dispatched {
    private final CudaRankEngine rank;
    private final CudaRankLayout layout;
    private final boolean[] newly;
    private long step;
    private int tokens;
    private boolean fp8;
    private boolean ue8m0;

    CudaDispatched(CudaRankEngine rank) {
        super(rank.layout.ranks);
        this.rank = rank;
        this.layout = rank.layout;
        this.newly = new boolean[layout.ranks];
    }

    /**
     * Takes the rank's report after its receive phase completed. Counts and layout are read from the report when
     * asked for (nothing else writes them before the rank's next dispatch), so publishing costs R reads.
     */
    void publish(long newStep, int n, boolean isFp8, boolean isUe8m0) {
        step = newStep;
        tokens = n;
        fp8 = isFp8;
        ue8m0 = isUe8m0;
        rank.report.copyNewly(CudaRankLayout.CALL_DISPATCH, newly);
        reportNewlyMasked(newly);
    }

    /** This result's rank. */
    public int rank() {
        return rank.id;
    }

    /** The dispatch's step number in the rank's current generation (1, 2, ... after each cleanBuffer). */
    @Override
    public long step() {
        return step;
    }

    @Override
    public boolean isFp8() {
        return fp8;
    }

    /** Whether fp8 scales are UE8M0 bytes rather than float32. */
    public boolean isUe8m0() {
        return ue8m0;
    }

    @Override
    public int numLocalExperts() {
        return layout.localExperts;
    }

    @Override
    public int numTokens() {
        return tokens;
    }

    @Override
    public int recvCount(int l) {
        return rank.report.recvCount(checkExpert(l));
    }

    @Override
    public int layoutBegin(int l, int srcRank) {
        return rank.report.layoutBegin(checkExpert(l), checkRank(srcRank));
    }

    @Override
    public int layoutCount(int l, int srcRank) {
        return rank.report.layoutCount(checkExpert(l), checkRank(srcRank));
    }

    /**
     * Local expert {@code l}'s received rows as an Arrow record batch over device memory (columns as
     * {@link Dispatched#expert}). Only addresses, schema and row count may be used on the CPU.
     */
    @Override
    public VectorSchemaRoot expert(int l) {
        return rank.views.expert(checkExpert(l), fp8, ue8m0, recvCount(l));
    }

    /** The layout batch in host memory: {@code L × R} rows of {@code local_expert, src_rank, begin, count}. */
    @Override
    public VectorSchemaRoot layout() {
        ensureReadable();
        return rank.views.layout(rank.report);
    }

    /**
     * Zero-copy combine target: local expert {@code l}'s combine-send rows ({@code hidden} bf16, one row per received
     * row) over device memory. Write expert outputs there on {@link #stream()} (or synchronise first), then combine.
     */
    @Override
    public VectorSchemaRoot expertOutput(int l) {
        return rank.views.output(checkExpert(l), recvCount(l));
    }

    /** Device address of local expert {@code l}'s first combine-send row ({@code recvCount(l) × H} bf16). */
    @Override
    public long expertOutputAddress(int l) {
        return rank.base + layout.offCombRows + checkExpert(l) * layout.expertRowBytes();
    }

    /**
     * Device address of local expert {@code l}'s first received row (bf16 {@code [rows][H]} or fp8 {@code [rows][H]}).
     */
    public long rowsAddress(int l) {
        return rank.base + layout.offRecvX + checkExpert(l) * layout.expertRowBytes();
    }

    /** Device address of local expert {@code l}'s scales ({@code [rows][H / 128]} float32, or bytes for UE8M0). */
    public long scalesAddress(int l) {
        return rank.base
                + layout.offRecvScales
                + (long) checkExpert(l) * layout.recvCapacity * layout.scaleGroups * (ue8m0 ? 1 : 4);
    }

    /** Device address of local expert {@code l}'s {@code src_rank} int32 column. */
    public long srcRankAddress(int l) {
        return rank.base + layout.offSrcRank + 4L * checkExpert(l) * layout.recvCapacity;
    }

    /** Device address of local expert {@code l}'s {@code src_token} int32 column. */
    public long srcTokenAddress(int l) {
        return rank.base + layout.offSrcToken + 4L * checkExpert(l) * layout.recvCapacity;
    }

    /** CUDA memory of the group's device. */
    @Override
    public MemoryLocation location() {
        return rank.device.location();
    }

    /**
     * The event recorded after the receive phase: a consumer's stream waits on it before reading the rows; the C
     * Device Data sync event of {@link #exportExpert}. Owned by the group; re-recorded by the rank's next dispatch.
     */
    @Override
    public CudaEvent readyEvent() {
        return rank.lastDispatchEvent;
    }

    /**
     * The stream the rank's kernels ran on: queue expert kernels that write {@link #expertOutput} here and combine
     * needs no host synchronisation in between.
     */
    public CudaStream stream() {
        return rank.resultStream;
    }

    /**
     * Exports local expert {@code l}'s rows through the Arrow C Device Data Interface ({@code ArrowDeviceArray} with
     * {@code device_type} CUDA, this device's id and {@link #readyEvent()} as sync event). Zero-copy: the exported
     * buffer addresses are the receive buffer's. Valid until the rank's next dispatch.
     *
     * @param allocator allocates the host-side C structs
     * @return the export; the caller closes it
     */
    public ExportedDeviceBatch exportExpert(int l, BufferAllocator allocator) {
        return DeviceExport.export(
                allocator, expert(l), location(), NullCounts.KNOWN_ZERO, rank.lastDispatchEvent.syncEventSlotAddress());
    }

    /** The views point into the rank's memory: once its buffer is closed, using them would touch freed memory. */
    private void ensureReadable() {
        if (rank.closed) {
            throw new IllegalStateException("this dispatch result belongs to a closed buffer");
        }
    }

    private int checkExpert(int l) {
        ensureReadable();
        if (l < 0 || l >= layout.localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + layout.localExperts + ")");
        }
        return l;
    }

    private int checkRank(int r) {
        if (r < 0 || r >= layout.ranks) {
            throw new IndexOutOfBoundsException("rank " + r + " outside [0, " + layout.ranks + ")");
        }
        return r;
    }
}
