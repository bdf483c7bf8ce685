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
import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.Ue8m0Type;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.protocol.RankProtocol;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The Arrow record batches a buffer hands out, built once over its receive, send and output memory at full capacity;
 * each call only sets row counts, so the hot path allocates nothing.
 */
final class ResultViews implements AutoCloseable {
    static final String SRC_RANK = "src_rank";
    static final String SRC_TOKEN = "src_token";
    static final String FP8 = "fp8";
    static final String SCALES = "scales";
    static final String LOST_WEIGHT = "lost_weight";

    final VectorSchemaRoot[] bf16Experts;
    final VectorSchemaRoot[] fp8Experts;
    final VectorSchemaRoot[] ue8m0Experts;
    final VectorSchemaRoot[] expertOutputs;
    final VectorSchemaRoot layout;
    final VectorSchemaRoot combined;
    private final ArrowBuf layoutData;
    private final ArrowBuf combineSend;
    private final List<VectorSchemaRoot> all = new ArrayList<>();

    ResultViews(BufferConfig config, RankProtocol protocol, BufferAllocator allocator) {
        int experts = config.localExperts();
        int ranks = config.ranks();
        int hidden = config.hidden();
        int capacity = protocol.layout().recvCapacity();
        long rowBytes = 2L * hidden;
        long expertBytes = rowBytes * capacity;
        this.bf16Experts = new VectorSchemaRoot[experts];
        this.fp8Experts = new VectorSchemaRoot[experts];
        this.ue8m0Experts = new VectorSchemaRoot[experts];
        this.expertOutputs = new VectorSchemaRoot[experts];
        this.layoutData = allocator.buffer(4L * 4 * experts * ranks);
        this.combineSend =
                ExternalMemory.wrap(allocator, protocol.combineSendAddress(0), expertBytes * experts, () -> {});
        try {
            Field srcRank = intField(SRC_RANK);
            Field srcToken = intField(SRC_TOKEN);
            Schema bf16 = new Schema(List.of(
                    TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden),
                    srcRank,
                    srcToken));
            int groups = hidden % Fp8Quantizer.GROUP == 0 ? hidden / Fp8Quantizer.GROUP : 0;
            for (int l = 0; l < experts; l++) {
                long rowIndex = (long) l * capacity;
                ArrowBuf ranksCol = protocol.srcRank().slice(4 * rowIndex, 4L * capacity);
                ArrowBuf tokensCol = protocol.srcToken().slice(4 * rowIndex, 4L * capacity);
                ArrowBuf rows = protocol.recvRows().slice(l * expertBytes, expertBytes);
                bf16Experts[l] = keep(ColumnViews.load(bf16, allocator, capacity, List.of(rows, ranksCol, tokensCol)));
                expertOutputs[l] = keep(ColumnViews.load(
                        new Schema(List.of(
                                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden))),
                        allocator,
                        capacity,
                        List.of(combineSend.slice(l * expertBytes, expertBytes))));
                if (groups > 0) {
                    Field fp8 = TokenBatchSchema.hiddenField(FP8, HiddenDtype.FP8_E4M3, hidden);
                    Schema fp8Schema = new Schema(List.of(
                            fp8,
                            TokenBatchSchema.listField(
                                    SCALES,
                                    new Field(
                                            TokenBatchSchema.ITEM,
                                            FieldType.notNullable(
                                                    new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                                            null),
                                    groups),
                            srcRank,
                            srcToken));
                    Schema ue8m0Schema = new Schema(List.of(
                            fp8,
                            TokenBatchSchema.listField(
                                    SCALES,
                                    new Field(TokenBatchSchema.ITEM, FieldType.notNullable(Ue8m0Type.INSTANCE), null),
                                    groups),
                            srcRank,
                            srcToken));
                    ArrowBuf fp8Rows = protocol.recvRows().slice(l * expertBytes, (long) hidden * capacity);
                    fp8Experts[l] = keep(ColumnViews.load(
                            fp8Schema,
                            allocator,
                            capacity,
                            List.of(
                                    fp8Rows,
                                    protocol.recvScales().slice(4 * rowIndex * groups, 4L * capacity * groups),
                                    ranksCol,
                                    tokensCol)));
                    ue8m0Experts[l] = keep(ColumnViews.load(
                            ue8m0Schema,
                            allocator,
                            capacity,
                            List.of(
                                    fp8Rows,
                                    protocol.recvScales().slice(rowIndex * groups, (long) capacity * groups),
                                    ranksCol,
                                    tokensCol)));
                }
            }
            long column = 4L * experts * ranks;
            Schema layoutSchema = new Schema(
                    List.of(intField("local_expert"), intField(SRC_RANK), intField("begin"), intField("count")));
            layout = keep(ColumnViews.load(
                    layoutSchema,
                    allocator,
                    experts * ranks,
                    List.of(
                            layoutData.slice(0, column), layoutData.slice(column, column),
                            layoutData.slice(2 * column, column), layoutData.slice(3 * column, column))));
            Schema combinedSchema = new Schema(List.of(
                    TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden),
                    new Field(
                            LOST_WEIGHT,
                            FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                            null)));
            combined = keep(ColumnViews.load(
                    combinedSchema,
                    allocator,
                    config.maxTokensPerRank(),
                    List.of(protocol.combineOut(), protocol.lostWeight())));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private VectorSchemaRoot keep(VectorSchemaRoot root) {
        all.add(root);
        return root;
    }

    private static Field intField(String name) {
        return new Field(name, FieldType.notNullable(new ArrowType.Int(32, true)), null);
    }

    /** Writes the layout batch's values from the protocol's current step. */
    void fillLayout(RankProtocol protocol, int experts, int ranks) {
        long column = 4L * experts * ranks;
        long a = layoutData.memoryAddress();
        for (int l = 0; l < experts; l++) {
            for (int p = 0; p < ranks; p++) {
                long i = 4L * (l * ranks + p);
                org.apache.arrow.memory.util.MemoryUtil.putInt(a + i, l);
                org.apache.arrow.memory.util.MemoryUtil.putInt(a + column + i, p);
                org.apache.arrow.memory.util.MemoryUtil.putInt(a + 2 * column + i, protocol.layoutBegin(l, p));
                org.apache.arrow.memory.util.MemoryUtil.putInt(a + 3 * column + i, protocol.layoutCount(l, p));
            }
        }
    }

    @Override
    public void close() {
        try {
            Closeables.closeAll(all.toArray(new AutoCloseable[0]));
        } finally {
            all.clear();
            Closeables.closeAll(layoutData, combineSend);
        }
    }
}
