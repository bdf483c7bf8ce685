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
import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.Ue8m0Type;
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
 * One rank's Arrow record batches over its device allocation (receive rows, combine-send rows, combine output), built
 * at full capacity on first use and then only resized: no CPU access to the data, no allocation per call. Validity
 * bitmaps are host buffers ({@link ColumnViews}), so row counts, null counts and C Device Data export never touch
 * device memory. The layout batch lives in host memory and is filled from the host report.
 */
final class CudaRankViews implements AutoCloseable {
    static final String SRC_RANK = "src_rank";
    static final String SRC_TOKEN = "src_token";
    static final String FP8 = "fp8";
    static final String SCALES = "scales";
    static final String LOST_WEIGHT = "lost_weight";

    private final CudaRankLayout layout;
    private final BufferAllocator allocator;
    private final ArrowBuf device;
    private final VectorSchemaRoot[] bf16Experts;
    private final VectorSchemaRoot[] fp8Experts;
    private final VectorSchemaRoot[] ue8m0Experts;
    private final VectorSchemaRoot[] outputs;
    private final ArrowBuf layoutData;
    private final VectorSchemaRoot layoutRoot;
    private VectorSchemaRoot combined;
    private final List<AutoCloseable> owned = new ArrayList<>();

    /**
     * @param device a non-owning view of the rank's whole allocation (closed here)
     */
    CudaRankViews(CudaRankLayout layout, BufferAllocator allocator, ArrowBuf device) {
        this.layout = layout;
        this.allocator = allocator;
        this.device = device;
        int experts = layout.localExperts;
        this.bf16Experts = new VectorSchemaRoot[experts];
        this.fp8Experts = new VectorSchemaRoot[experts];
        this.ue8m0Experts = new VectorSchemaRoot[experts];
        this.outputs = new VectorSchemaRoot[experts];
        int cells = experts * layout.ranks;
        this.layoutData = allocator.buffer(16L * cells);
        try {
            long column = 4L * cells;
            long a = layoutData.memoryAddress();
            for (int l = 0; l < experts; l++) {
                for (int p = 0; p < layout.ranks; p++) {
                    long i = 4L * (l * layout.ranks + p);
                    MemoryUtil.putInt(a + i, l);
                    MemoryUtil.putInt(a + column + i, p);
                    MemoryUtil.putInt(a + 2 * column + i, 0);
                    MemoryUtil.putInt(a + 3 * column + i, 0);
                }
            }
            Schema layoutSchema = new Schema(
                    List.of(intField("local_expert"), intField(SRC_RANK), intField("begin"), intField("count")));
            layoutRoot = keep(ColumnViews.load(
                    layoutSchema,
                    allocator,
                    cells,
                    List.of(
                            layoutData.slice(0, column), layoutData.slice(column, column),
                            layoutData.slice(2 * column, column), layoutData.slice(3 * column, column))));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static Field intField(String name) {
        return new Field(name, FieldType.notNullable(new ArrowType.Int(32, true)), null);
    }

    private VectorSchemaRoot keep(VectorSchemaRoot root) {
        owned.add(root);
        return root;
    }

    private ArrowBuf slice(long offset, long length) {
        return device.slice(offset, length);
    }

    /** The received rows of local expert {@code l} in the given format, resized to {@code rows}. */
    VectorSchemaRoot expert(int l, boolean fp8, boolean ue8m0, int rows) {
        VectorSchemaRoot root;
        if (!fp8) {
            if (bf16Experts[l] == null) {
                bf16Experts[l] = keep(ColumnViews.load(
                        new Schema(List.of(
                                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, layout.hidden),
                                intField(SRC_RANK),
                                intField(SRC_TOKEN))),
                        allocator,
                        layout.recvCapacity,
                        List.of(
                                slice(layout.offRecvX + l * layout.expertRowBytes(), layout.expertRowBytes()),
                                srcRanks(l),
                                srcTokens(l))));
            }
            root = bf16Experts[l];
        } else {
            VectorSchemaRoot[] cache = ue8m0 ? ue8m0Experts : fp8Experts;
            if (cache[l] == null) {
                int groups = layout.scaleGroups;
                int scaleBytes = ue8m0 ? 1 : 4;
                long cap = layout.recvCapacity;
                Field scaleItem = new Field(
                        TokenBatchSchema.ITEM,
                        FieldType.notNullable(
                                ue8m0
                                        ? Ue8m0Type.INSTANCE
                                        : new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null);
                Schema schema = new Schema(List.of(
                        TokenBatchSchema.hiddenField(FP8, HiddenDtype.FP8_E4M3, layout.hidden),
                        TokenBatchSchema.listField(SCALES, scaleItem, groups),
                        intField(SRC_RANK),
                        intField(SRC_TOKEN)));
                cache[l] = keep(ColumnViews.load(
                        schema,
                        allocator,
                        layout.recvCapacity,
                        List.of(
                                slice(layout.offRecvX + l * layout.expertRowBytes(), (long) layout.hidden * cap),
                                slice(layout.offRecvScales + l * cap * groups * scaleBytes, cap * groups * scaleBytes),
                                srcRanks(l),
                                srcTokens(l))));
            }
            root = cache[l];
        }
        if (root.getRowCount() != rows) {
            root.setRowCount(rows);
        }
        return root;
    }

    private ArrowBuf srcRanks(int l) {
        return slice(layout.offSrcRank + 4L * l * layout.recvCapacity, 4L * layout.recvCapacity);
    }

    private ArrowBuf srcTokens(int l) {
        return slice(layout.offSrcToken + 4L * l * layout.recvCapacity, 4L * layout.recvCapacity);
    }

    /** Writable rows of local expert {@code l}'s combine-send memory (zero-copy combine), resized to {@code rows}. */
    VectorSchemaRoot output(int l, int rows) {
        if (outputs[l] == null) {
            outputs[l] = keep(ColumnViews.load(
                    new Schema(List.of(
                            TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, layout.hidden))),
                    allocator,
                    layout.recvCapacity,
                    List.of(slice(layout.offCombRows + l * layout.expertRowBytes(), layout.expertRowBytes()))));
        }
        if (outputs[l].getRowCount() != rows) {
            outputs[l].setRowCount(rows);
        }
        return outputs[l];
    }

    /** Whether {@code root} is local expert {@code l}'s combine-send view (zero-copy outputs need no copy). */
    boolean isOutputView(int l, VectorSchemaRoot root) {
        return root != null && root == outputs[l];
    }

    /** The allocator the host-side buffers of these views come from. */
    BufferAllocator allocator() {
        return allocator;
    }

    /** The combine output ({@code hidden} bf16, {@code lost_weight} float32), resized to {@code rows}. */
    VectorSchemaRoot combined(int rows) {
        if (combined == null) {
            Schema schema = new Schema(List.of(
                    TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, layout.hidden),
                    new Field(
                            LOST_WEIGHT,
                            FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                            null)));
            combined = keep(ColumnViews.load(
                    schema,
                    allocator,
                    layout.maxTokens,
                    List.of(
                            slice(layout.offOut, 2L * layout.hidden * layout.maxTokens),
                            slice(layout.offLost, 4L * layout.maxTokens))));
        }
        if (combined.getRowCount() != rows) {
            combined.setRowCount(rows);
        }
        return combined;
    }

    /** The host layout batch, with begin/count taken from the rank's report. */
    VectorSchemaRoot layout(CudaReport report) {
        int ranks = layout.ranks;
        int cells = layout.localExperts * ranks;
        long column = 4L * cells;
        long a = layoutData.memoryAddress();
        for (int i = 0; i < cells; i++) {
            MemoryUtil.putInt(a + 2 * column + 4L * i, report.layoutBegin(i / ranks, i % ranks));
            MemoryUtil.putInt(a + 3 * column + 4L * i, report.layoutCount(i / ranks, i % ranks));
        }
        return layoutRoot;
    }

    @Override
    public void close() {
        try {
            Closeables.closeAll(owned.toArray(new AutoCloseable[0]));
        } finally {
            owned.clear();
            Closeables.closeAll(layoutData, device);
        }
    }
}
