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

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.protocol.RankProtocol;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The {@link Dispatched} of a {@link HostElasticBuffer}: views of the rank's private receive memory (host, off-heap)
 * and of its combine-send rows in the group's symmetric memory, built once and re-counted per step.
 */
public final class HostDispatched extends Dispatched {
    private final RankProtocol protocol;
    private final ResultViews views;
    private final int localExperts;
    private final int ranks;
    private long step;
    private boolean fp8;
    private boolean ue8m0;
    private boolean combined;

    HostDispatched(RankProtocol protocol, ResultViews views, int localExperts, int ranks) {
        super(ranks);
        this.protocol = protocol;
        this.views = views;
        this.localExperts = localExperts;
        this.ranks = ranks;
        this.combined = true;
    }

    void publish(long newStep, DispatchOptions options) {
        step = newStep;
        fp8 = options.fp8();
        ue8m0 = options.ue8m0();
        combined = false;
        for (int l = 0; l < localExperts; l++) {
            int count = protocol.recvCount(l);
            expertRoot(l).setRowCount(count);
            views.expertOutputs[l].setRowCount(count);
        }
        views.fillLayout(protocol, localExperts, ranks);
        views.layout.setRowCount(localExperts * ranks);
        reportNewlyMasked(protocol.mask().newlyFlags());
    }

    private VectorSchemaRoot expertRoot(int l) {
        return !fp8 ? views.bf16Experts[l] : ue8m0 ? views.ue8m0Experts[l] : views.fp8Experts[l];
    }

    /** The step's sequence number (dispatch and its combine share it). */
    @Override
    public long step() {
        return step;
    }

    /** Whether rows are fp8 (with scales) rather than bf16. */
    @Override
    public boolean isFp8() {
        return fp8;
    }

    /** L, local experts on this rank. */
    @Override
    public int numLocalExperts() {
        return localExperts;
    }

    /** n, the number of tokens this rank dispatched (the row count of its combine output). */
    @Override
    public int numTokens() {
        return protocol.tokens();
    }

    /** Rows received for local expert {@code l}. */
    @Override
    public int recvCount(int l) {
        return protocol.recvCount(checkExpert(l));
    }

    /** The received rows of local expert {@code l} (see the class comment for columns). */
    @Override
    public VectorSchemaRoot expert(int l) {
        return expertRoot(checkExpert(l));
    }

    /**
     * The layout batch: {@code L × R} rows of {@code local_expert}, {@code src_rank}, {@code begin}, {@code count}
     * (int32): the rows of {@code expert(local_expert)} that came from {@code src_rank}.
     */
    @Override
    public VectorSchemaRoot layout() {
        ensureReadable();
        return views.layout;
    }

    /** First row of local expert {@code l} that came from {@code srcRank}. */
    @Override
    public int layoutBegin(int l, int srcRank) {
        return protocol.layoutBegin(checkExpert(l), srcRank);
    }

    /** Rows of local expert {@code l} that came from {@code srcRank} (0 if that rank was masked). */
    @Override
    public int layoutCount(int l, int srcRank) {
        return protocol.layoutCount(checkExpert(l), srcRank);
    }

    /**
     * Zero-copy combine: a writable view ({@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H], one row per
     * received row of expert {@code l}) over this rank's combine-send memory. Write the expert's outputs here, then
     * call combine.
     */
    @Override
    public VectorSchemaRoot expertOutput(int l) {
        return views.expertOutputs[checkExpert(l)];
    }

    /** Address of the first combine-send row of expert {@code l} ({@code recvCount(l) × H} bf16, row-major). */
    @Override
    public long expertOutputAddress(int l) {
        return protocol.combineSendAddress(checkExpert(l));
    }

    @Override
    public MemoryLocation location() {
        return MemoryLocation.HOST;
    }

    /** Host results are complete when dispatch returns. */
    @Override
    public CudaEvent readyEvent() {
        return null;
    }

    /** The views point into the buffer's memory: once it is closed, reading them would touch freed memory. */
    private void ensureReadable() {
        if (protocol.isClosed()) {
            throw new IllegalStateException("this dispatch result belongs to a closed buffer");
        }
    }

    boolean isCurrent(RankProtocol p) {
        return p == protocol && !combined && step == p.seq() && p.stepOpen();
    }

    void markCombined() {
        combined = true;
    }

    private int checkExpert(int l) {
        ensureReadable();
        if (l < 0 || l >= localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + localExperts + ")");
        }
        return l;
    }
}
