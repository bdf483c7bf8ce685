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

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.Ue8m0Type;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.protocol.PrefillEngine;
import io.tokenroute.routing.protocol.RankProtocol;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The {@link PrefillDispatched} of a {@link HostElasticBuffer}: views of the prefill engine's receive and expert-output
 * memory (host, off-heap), rebuilt after each dispatch (the receive memory grows with the traffic; prefill steps are
 * large, so a few views per step cost nothing that matters).
 */
public final class HostPrefillDispatched extends PrefillDispatched implements AutoCloseable {
    static final String TOPK_IDX = "topk_idx";
    static final String TOPK_WEIGHTS = "topk_weights";

    private final RankProtocol protocol;
    private final PrefillEngine engine;
    private final BufferAllocator allocator;
    private final int hidden;
    private final int maxTopK;
    private final int localExperts;
    private final List<VectorSchemaRoot> views = new ArrayList<>();
    private VectorSchemaRoot batch;
    private VectorSchemaRoot[] expertOutputs;
    private boolean fp8;
    private boolean combined = true;

    HostPrefillDispatched(
            RankProtocol protocol, BufferAllocator allocator, int ranks, int hidden, int maxTopK, int localExperts) {
        super(ranks);
        this.protocol = protocol;
        this.engine = protocol.prefill();
        this.allocator = allocator;
        this.hidden = hidden;
        this.maxTopK = maxTopK;
        this.localExperts = localExperts;
    }

    /** Rebuilds the views over what the engine received in its latest dispatch. */
    void publish(boolean fp8Rows, boolean ue8m0) {
        closeViews();
        fp8 = fp8Rows;
        combined = false;
        int rows = engine.received();
        int capacity = engine.receive().rowCapacity();
        int groups = hidden / Fp8Quantizer.GROUP;
        List<Field> fields = new ArrayList<>();
        List<ArrowBuf> data = new ArrayList<>();
        if (!fp8Rows) {
            fields.add(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden));
            data.add(engine.receive().rows().slice(0, 2L * hidden * capacity));
        } else {
            fields.add(TokenBatchSchema.hiddenField(ResultViews.FP8, HiddenDtype.FP8_E4M3, hidden));
            data.add(engine.receive().rows().slice(0, (long) hidden * capacity));
            ArrowType scale = ue8m0 ? Ue8m0Type.INSTANCE : new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
            fields.add(TokenBatchSchema.listField(
                    ResultViews.SCALES, new Field(TokenBatchSchema.ITEM, FieldType.notNullable(scale), null), groups));
            data.add(engine.receive().scales().slice(0, (ue8m0 ? 1L : 4L) * groups * capacity));
        }
        fields.add(TokenBatchSchema.listField(
                TOPK_IDX,
                new Field(TokenBatchSchema.ITEM, FieldType.notNullable(new ArrowType.Int(64, true)), null),
                maxTopK));
        data.add(engine.receive().ids().slice(0, 8L * maxTopK * capacity));
        fields.add(TokenBatchSchema.listField(
                TOPK_WEIGHTS,
                new Field(
                        TokenBatchSchema.ITEM,
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null),
                maxTopK));
        data.add(engine.receive().weights().slice(0, 4L * maxTopK * capacity));
        fields.add(new Field(ResultViews.SRC_RANK, FieldType.notNullable(new ArrowType.Int(32, true)), null));
        data.add(engine.receive().srcRank().slice(0, 4L * capacity));
        fields.add(new Field(ResultViews.SRC_TOKEN, FieldType.notNullable(new ArrowType.Int(32, true)), null));
        data.add(engine.receive().srcToken().slice(0, 4L * capacity));
        batch = keep(ColumnViews.load(new Schema(fields), allocator, rows, data));
        Schema output =
                new Schema(List.of(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden)));
        expertOutputs = new VectorSchemaRoot[localExperts];
        for (int l = 0; l < localExperts; l++) {
            int count = engine.expertCount(l);
            ArrowBuf rowsOfExpert = engine.receive()
                    .expertOut()
                    .slice(2L * hidden * engine.expertBegin(l), Math.max(1, 2L * hidden * count));
            expertOutputs[l] = keep(ColumnViews.load(output, allocator, count, List.of(rowsOfExpert)));
        }
        reportNewlyMasked(protocol.mask().newlyFlags());
    }

    private VectorSchemaRoot keep(VectorSchemaRoot root) {
        views.add(root);
        return root;
    }

    boolean isCurrent() {
        return !combined && engine.stepOpen();
    }

    void markCombined() {
        combined = true;
    }

    @Override
    public long step() {
        return engine.step();
    }

    @Override
    public boolean isFp8() {
        return fp8;
    }

    @Override
    public int numTokens() {
        return engine.tokens();
    }

    @Override
    public int numReceived() {
        return engine.received();
    }

    @Override
    public VectorSchemaRoot batch() {
        ensureReadable();
        return batch;
    }

    @Override
    public int sourceBegin(int p) {
        ensureReadable();
        return engine.sourceBegin(p);
    }

    @Override
    public int sourceCount(int p) {
        ensureReadable();
        return engine.sourceCount(p);
    }

    @Override
    public int numLocalExperts() {
        return localExperts;
    }

    @Override
    public int expertCount(int l) {
        return engine.expertCount(checkExpert(l));
    }

    @Override
    public int expertBegin(int l) {
        return engine.expertBegin(checkExpert(l));
    }

    @Override
    public int expertRow(int l, int i) {
        if (i < 0 || i >= expertCount(l)) {
            throw new IndexOutOfBoundsException("entry " + i + " outside [0, " + expertCount(l) + ") of expert " + l);
        }
        return MemoryUtil.getInt(engine.receive().expertRowList().memoryAddress() + 4L * (engine.expertBegin(l) + i));
    }

    @Override
    public VectorSchemaRoot expertOutput(int l) {
        return expertOutputs[checkExpert(l)];
    }

    @Override
    public long expertOutputAddress(int l) {
        return engine.expertOutputAddress(checkExpert(l));
    }

    @Override
    public MemoryLocation location() {
        return MemoryLocation.HOST;
    }

    /** Host results are complete when the dispatch returns. */
    @Override
    public CudaEvent readyEvent() {
        return null;
    }

    private int checkExpert(int l) {
        ensureReadable();
        if (l < 0 || l >= localExperts) {
            throw new IndexOutOfBoundsException("local expert " + l + " outside [0, " + localExperts + ")");
        }
        return l;
    }

    private void ensureReadable() {
        if (protocol.isClosed()) {
            throw new IllegalStateException("this prefill dispatch result belongs to a closed buffer");
        }
        if (batch == null) {
            throw new IllegalStateException("no prefill dispatch ran yet");
        }
    }

    private void closeViews() {
        views.forEach(VectorSchemaRoot::close);
        views.clear();
    }

    @Override
    public void close() {
        closeViews();
    }
}
