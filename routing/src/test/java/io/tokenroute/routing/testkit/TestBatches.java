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
package io.tokenroute.routing.testkit;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.BFloat16Type;
import io.tokenroute.arrow.types.BFloat16Vector;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/** Odd-shaped and malformed batches for bad-input tests. */
public final class TestBatches {
    /** A made-up device pointer: only ever carried as a number, never dereferenced. */
    public static final long FAKE_DEVICE_ADDRESS = 0x7f5e_0000_0000L;

    private TestBatches() {}

    /** A root with one zeroed {@code hidden} column {@code FixedSizeList<dtype>[width]} of {@code rows} rows. */
    public static VectorSchemaRoot hiddenRoot(BufferAllocator allocator, HiddenDtype dtype, int width, int rows) {
        return zeroedRoot(allocator, TokenBatchSchema.HIDDEN, dtype, width, rows);
    }

    /** A root with one zeroed column {@code name}: {@code FixedSizeList<dtype>[width]} of {@code rows} rows. */
    public static VectorSchemaRoot zeroedRoot(
            BufferAllocator allocator, String name, HiddenDtype dtype, int width, int rows) {
        long bytes = (long) rows * width * dtype.bytes();
        try (ArrowBuf data = allocator.buffer(Math.max(1, bytes))) {
            data.setZero(0, data.capacity());
            return ColumnViews.load(
                    new Schema(List.of(TokenBatchSchema.hiddenField(name, dtype, width))),
                    allocator,
                    rows,
                    List.of(data));
        }
    }

    /** Address of the first value of a root's {@code hidden} column. */
    public static long hiddenAddress(VectorSchemaRoot root) {
        return ((FixedSizeListVector) root.getVector(TokenBatchSchema.HIDDEN))
                .getDataVector()
                .getDataBuffer()
                .memoryAddress();
    }

    /**
     * A token-batch root built with Arrow's own vectors (validity buffers included), holding {@code in}'s values with
     * {@code weightsK} weight slots per token (normally {@code in.topK()}). The caller closes it.
     */
    public static VectorSchemaRoot handBuilt(BufferAllocator allocator, RankInput in, int weightsK) {
        TokenRouteTypes.register();
        int n = in.n();
        List<FieldVector> vectors = new ArrayList<>();
        try {
            FixedSizeListVector hidden =
                    list(allocator, TokenBatchSchema.HIDDEN, in.hidden(), BFloat16Type.INSTANCE, n);
            vectors.add(hidden);
            BFloat16Vector bits = (BFloat16Vector) hidden.getDataVector();
            for (int i = 0; i < n * in.hidden(); i++) {
                bits.getUnderlyingVector().set(i, (char) in.bits()[i]);
            }
            FixedSizeListVector idx =
                    list(allocator, TokenBatchSchema.TOPK_IDX, in.topK(), new ArrowType.Int(64, true), n);
            vectors.add(idx);
            for (int i = 0; i < n * in.topK(); i++) {
                ((BigIntVector) idx.getDataVector()).set(i, in.idx()[i]);
            }
            FixedSizeListVector w = list(
                    allocator,
                    TokenBatchSchema.TOPK_WEIGHTS,
                    weightsK,
                    new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE),
                    n);
            vectors.add(w);
            for (int t = 0; t < n; t++) {
                for (int j = 0; j < weightsK; j++) {
                    ((Float4Vector) w.getDataVector())
                            .set(t * weightsK + j, j < in.topK() ? in.weights()[t * in.topK() + j] : 0.5f);
                }
            }
            for (FieldVector v : vectors) {
                FixedSizeListVector list = (FixedSizeListVector) v;
                for (int row = 0; row < n; row++) {
                    list.setNotNull(row);
                }
                list.setValueCount(n);
            }
        } catch (RuntimeException | Error e) {
            vectors.forEach(FieldVector::close);
            throw e;
        }
        VectorSchemaRoot root = new VectorSchemaRoot(vectors);
        root.setRowCount(n);
        return root;
    }

    /** The data vector ({@code item}) of a list column. */
    public static FieldVector items(VectorSchemaRoot root, String column) {
        return ((FixedSizeListVector) root.getVector(column)).getDataVector();
    }

    private static FixedSizeListVector list(
            BufferAllocator allocator, String name, int width, ArrowType element, int rows) {
        FixedSizeListVector list = FixedSizeListVector.empty(name, width, allocator);
        try {
            list.addOrGetVector(FieldType.nullable(element));
            list.setInitialCapacity(Math.max(1, rows));
            list.allocateNew();
            return list;
        } catch (RuntimeException | Error e) {
            list.close();
            throw e;
        }
    }

    /**
     * A bf16 batch of {@code n} tokens that claims to live in CUDA device 0 memory at {@link #FAKE_DEVICE_ADDRESS}.
     * Nothing may read its data (the CPU would fault): it only tests that host-only paths refuse it up front.
     */
    public static TokenBatch fakeDeviceBatch(BufferAllocator allocator, int n, int hidden, int topK) {
        return fakeDeviceBatch(allocator, MemoryLocation.cuda(0), n, hidden, topK);
    }

    /** {@link #fakeDeviceBatch(BufferAllocator, int, int, int)} claiming to live in {@code location}. */
    public static TokenBatch fakeDeviceBatch(
            BufferAllocator allocator, MemoryLocation location, int n, int hidden, int topK) {
        long hiddenBytes = 2L * n * hidden;
        long idxBytes = 8L * n * topK;
        try (ArrowBuf h = ExternalMemory.wrap(allocator, FAKE_DEVICE_ADDRESS, hiddenBytes, () -> {});
                ArrowBuf idx =
                        ExternalMemory.wrap(allocator, FAKE_DEVICE_ADDRESS + align(hiddenBytes), idxBytes, () -> {});
                ArrowBuf w = ExternalMemory.wrap(
                        allocator,
                        FAKE_DEVICE_ADDRESS + align(hiddenBytes) + align(idxBytes),
                        4L * n * topK,
                        () -> {})) {
            return TokenBatch.fromBuffers(allocator, location, HiddenDtype.BF16, n, hidden, topK, h, idx, w);
        }
    }

    private static long align(long bytes) {
        return (bytes + 255) & ~255L;
    }
}
