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
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.Ue8m0Type;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.cuda.CudaPrefillBuffers.RowArray;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * A rank's prefill dispatch result on the GPU transports: the receive batch and the expert-output views in <b>CUDA
 * device memory</b> of the group's device (rank-private, {@link CudaPrefillBuffers}), ready after
 * {@link #readyEvent()} (recorded on {@link #stream()}, which the dispatch already waited for). Columns as
 * {@link PrefillDispatched}: {@code hidden} bf16 (or {@code fp8} + {@code scales}), {@code topk_idx} int64 [maxTopK]
 * (local ids, -1 elsewhere), {@code topk_weights} float32 [maxTopK], {@code src_rank}, {@code src_token} int32. The
 * counts come from the device with CUDA copies; {@link #expertRow} reads a host copy of the handle's row list, made
 * once per dispatch on first use. The CPU never reads device memory.
 *
 * <p>Owned by the rank's buffer and reused: valid until the next prefill dispatch. Do not close it or its batches.
 */
public final class CudaPrefillDispatched extends PrefillDispatched implements AutoCloseable {
    private final CudaRankEngine rank;
    private final CudaPrefillLayout layout;
    private final CudaPrefillBuffers buffers;
    private final CudaEvent ready;
    private final List<VectorSchemaRoot> views = new ArrayList<>();
    private VectorSchemaRoot batch;
    private VectorSchemaRoot[] outputs;
    private long step;
    private int tokens;
    private boolean fp8;
    private int received;
    private final int[] sourceCount;
    private final int[] sourceBegin;
    private final int[] expertCount;
    private final int[] expertBegin;
    private int[] expertRows;
    private boolean combined = true;

    CudaPrefillDispatched(CudaRankEngine rank, CudaPrefillLayout layout, CudaPrefillBuffers buffers, CudaEvent ready) {
        super(layout.ranks);
        this.rank = rank;
        this.layout = layout;
        this.buffers = buffers;
        this.ready = ready;
        this.sourceCount = new int[layout.ranks];
        this.sourceBegin = new int[layout.ranks];
        this.expertCount = new int[layout.localExperts];
        this.expertBegin = new int[layout.localExperts + 1];
    }

    /**
     * Takes a finished dispatch from its summary (host copy of the device's) and rebuilds the views.
     *
     * @param summary the {@link CudaPrefillLayout} summary words after the handle
     * @param newly the newly-masked flags of the call
     */
    void publish(long stepNumber, int n, boolean fp8Rows, boolean ue8m0, int[] summary, boolean[] newly) {
        closeViews();
        step = stepNumber;
        tokens = n;
        fp8 = fp8Rows;
        received = summary[CudaPrefillLayout.SUM_ROWS];
        int begin = 0;
        for (int p = 0; p < layout.ranks; p++) {
            sourceCount[p] = summary[layout.summaryRecvFrom(p)];
            sourceBegin[p] = begin;
            begin += sourceCount[p];
        }
        for (int l = 0; l < layout.localExperts; l++) {
            expertCount[l] = summary[layout.summaryExpertCount(l)];
            expertBegin[l] = summary[layout.summaryExpertBegin(l)];
        }
        expertBegin[layout.localExperts] = summary[layout.summaryExpertBegin(layout.localExperts)];
        expertRows = null;
        combined = false;
        buildViews(ue8m0);
        reportNewlyMasked(newly);
    }

    private void buildViews(boolean ue8m0) {
        int hidden = layout.hidden;
        int maxTopK = layout.maxTopK;
        int groups = hidden / 128;
        MemoryLocation where = location();
        List<Field> fields = new ArrayList<>();
        List<ArrowBuf> data = new ArrayList<>();
        if (!fp8) {
            fields.add(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden));
            data.add(buffers.rowView(RowArray.ROWS, 2L * hidden, received));
        } else {
            fields.add(TokenBatchSchema.hiddenField(CudaRankViews.FP8, HiddenDtype.FP8_E4M3, hidden));
            data.add(buffers.rowView(RowArray.ROWS, hidden, received));
            ArrowType scale = ue8m0 ? Ue8m0Type.INSTANCE : new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
            fields.add(TokenBatchSchema.listField(
                    CudaRankViews.SCALES,
                    new Field(TokenBatchSchema.ITEM, FieldType.notNullable(scale), null),
                    groups));
            data.add(buffers.rowView(RowArray.SCALES, (ue8m0 ? 1L : 4L) * groups, received));
        }
        fields.add(TokenBatchSchema.listField(
                "topk_idx",
                new Field(TokenBatchSchema.ITEM, FieldType.notNullable(new ArrowType.Int(64, true)), null),
                maxTopK));
        data.add(buffers.rowView(RowArray.IDS, 8L * maxTopK, received));
        fields.add(TokenBatchSchema.listField(
                "topk_weights",
                new Field(
                        TokenBatchSchema.ITEM,
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null),
                maxTopK));
        data.add(buffers.rowView(RowArray.WEIGHTS, 4L * maxTopK, received));
        fields.add(intField(CudaRankViews.SRC_RANK));
        data.add(buffers.rowView(RowArray.SRC_RANK, 4, received));
        fields.add(intField(CudaRankViews.SRC_TOKEN));
        data.add(buffers.rowView(RowArray.SRC_TOKEN, 4, received));
        batch = keep(ColumnViews.load(new Schema(fields), rank.views.allocator(), received, data, where));
        Schema output =
                new Schema(List.of(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden)));
        outputs = new VectorSchemaRoot[layout.localExperts];
        for (int l = 0; l < layout.localExperts; l++) {
            outputs[l] = keep(ColumnViews.load(
                    output,
                    rank.views.allocator(),
                    expertCount[l],
                    List.of(buffers.expertOutView(expertBegin[l], expertCount[l])),
                    where));
        }
    }

    private static Field intField(String name) {
        return new Field(name, FieldType.notNullable(new ArrowType.Int(32, true)), null);
    }

    private VectorSchemaRoot keep(VectorSchemaRoot root) {
        views.add(root);
        return root;
    }

    /** Whether this is the latest dispatch and not combined yet. */
    boolean isCurrent() {
        return !combined;
    }

    void markCombined() {
        combined = true;
    }

    /** This result's rank. */
    public int rank() {
        return rank.id;
    }

    @Override
    public long step() {
        return step;
    }

    @Override
    public boolean isFp8() {
        return fp8;
    }

    @Override
    public int numTokens() {
        return tokens;
    }

    @Override
    public int numReceived() {
        return received;
    }

    /** The receive batch over device memory (addresses and row count only). */
    @Override
    public VectorSchemaRoot batch() {
        ensureReadable();
        return batch;
    }

    @Override
    public int sourceBegin(int p) {
        ensureReadable();
        return sourceBegin[checkRank(p)];
    }

    @Override
    public int sourceCount(int p) {
        ensureReadable();
        return sourceCount[checkRank(p)];
    }

    @Override
    public int numLocalExperts() {
        return layout.localExperts;
    }

    @Override
    public int expertCount(int l) {
        return expertCount[checkExpert(l)];
    }

    @Override
    public int expertBegin(int l) {
        return expertBegin[checkExpert(l)];
    }

    /** From a host copy of the handle's row list, made on the first call after the dispatch. */
    @Override
    public int expertRow(int l, int i) {
        if (i < 0 || i >= expertCount(l)) {
            throw new IndexOutOfBoundsException("entry " + i + " outside [0, " + expertCount(l) + ") of expert " + l);
        }
        if (expertRows == null) {
            int[] copy = new int[expertBegin[layout.localExperts]];
            if (copy.length > 0) {
                rank.device.makeCurrent();
                Memcpy.toHost(copy, buffers.rowAddress(RowArray.EXPERT_ROWS), rank.stream);
            }
            expertRows = copy;
        }
        return expertRows[expertBegin[l] + i];
    }

    /** A writable bf16 view (device memory) of local expert {@code l}'s output rows, one per entry. */
    @Override
    public VectorSchemaRoot expertOutput(int l) {
        return outputs[checkExpert(l)];
    }

    /** Device address of local expert {@code l}'s first output row. */
    @Override
    public long expertOutputAddress(int l) {
        return buffers.expertOutAddress() + 2L * layout.hidden * expertBegin[checkExpert(l)];
    }

    /** CUDA memory of the group's device. */
    @Override
    public MemoryLocation location() {
        return rank.device.location();
    }

    /** The event recorded after the dispatch's last kernel. */
    @Override
    public CudaEvent readyEvent() {
        return ready;
    }

    /** The rank's stream: expert kernels queued here need no event, and results copied on it are ordered. */
    public CudaStream stream() {
        return rank.stream;
    }

    private int checkRank(int p) {
        if (p < 0 || p >= layout.ranks) {
            throw new IndexOutOfBoundsException("rank " + p + " outside [0, " + layout.ranks + ")");
        }
        return p;
    }

    private int checkExpert(int l) {
        ensureReadable();
        if (l < 0 || l >= layout.localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + layout.localExperts + ")");
        }
        return l;
    }

    private void ensureReadable() {
        if (rank.closed) {
            throw new IllegalStateException("this prefill dispatch result belongs to a closed buffer");
        }
        if (batch == null) {
            throw new IllegalStateException("no prefill dispatch ran yet");
        }
    }

    /** Closes the views (before the memory under them grows, and at close). */
    void closeViews() {
        views.forEach(VectorSchemaRoot::close);
        views.clear();
        batch = null;
    }

    @Override
    public void close() {
        closeViews();
    }
}
