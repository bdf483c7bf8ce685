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
package io.tokenroute.arrow.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Each kind of malformed token batch gives a clear exception naming the problem. */
class TokenBatchBadInputTest {
    private static final ArrowType INT32 = new ArrowType.Int(32, true);
    private static final ArrowType INT64 = new ArrowType.Int(64, true);
    private static final ArrowType FLOAT32 = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
    private static final int N = 4;
    private static final int H = 8;
    private static final int K = 3;

    private final Random rng = new Random(31);

    /** A column to build by hand: {@code FixedSizeList<element>[width]} named {@code name}. */
    private record Column(String name, ArrowType element, int width) {}

    private static List<Column> goodColumns() {
        return List.of(
                new Column(TokenBatchSchema.HIDDEN, FLOAT32, H),
                new Column(TokenBatchSchema.TOPK_IDX, INT64, K),
                new Column(TokenBatchSchema.TOPK_WEIGHTS, FLOAT32, K));
    }

    /** A root built with Arrow's vectors directly, filled with random non-zero values, no nulls yet. */
    private VectorSchemaRoot handBuilt(BufferAllocator a, List<Column> columns) {
        List<FieldVector> vectors = new ArrayList<>();
        for (Column c : columns) {
            FixedSizeListVector list = FixedSizeListVector.empty(c.name(), c.width(), a);
            list.addOrGetVector(FieldType.nullable(c.element()));
            list.setInitialCapacity(N);
            list.allocateNew();
            FieldVector items = list.getDataVector();
            for (int i = 0; i < N * c.width(); i++) {
                if (items instanceof Float4Vector f) {
                    f.set(i, 0.25f + rng.nextFloat());
                } else if (items instanceof BigIntVector l) {
                    l.set(i, 1 + rng.nextInt(63));
                } else {
                    ((IntVector) items).set(i, 1 + rng.nextInt(63));
                }
            }
            for (int row = 0; row < N; row++) {
                list.setNotNull(row);
            }
            list.setValueCount(N);
            vectors.add(list);
        }
        VectorSchemaRoot root = new VectorSchemaRoot(vectors);
        root.setRowCount(N);
        return root;
    }

    private static FieldVector items(VectorSchemaRoot root, String column) {
        return ((FixedSizeListVector) root.getVector(column)).getDataVector();
    }

    private static <T extends Throwable> void assertMessage(Class<T> type, Executable call, String... parts) {
        T e = assertThrows(type, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
    }

    @Test
    void wrongListSizes() {
        try (BufferAllocator a = new RootAllocator()) {
            float[] x = RandomTokenBatches.floats(rng, N * H + 3);
            assertMessage(
                    IllegalArgumentException.class,
                    () -> TokenBatch.fromFloats(
                            a,
                            HiddenDtype.BF16,
                            H,
                            x,
                            K,
                            RandomTokenBatches.idx(rng, N * K, 16),
                            RandomTokenBatches.weights(rng, N * K)),
                    "multiples of H and k",
                    "x " + (N * H + 3));
            assertMessage(
                    IllegalArgumentException.class,
                    () -> TokenBatch.fromFloats(
                            a,
                            HiddenDtype.BF16,
                            H,
                            RandomTokenBatches.floats(rng, N * H),
                            K,
                            RandomTokenBatches.idx(rng, N * K, 16),
                            RandomTokenBatches.weights(rng, N * K - K)),
                    "shape mismatch",
                    "need n*k = " + (N * K));
            try (ArrowBuf hidden = a.buffer(2L * N * H);
                    ArrowBuf idx = a.buffer(8L * N * K);
                    ArrowBuf w = a.buffer(4L * N * K)) {
                // Allocations round their capacity up: a slice is exactly one bf16 value short of n × H.
                ArrowBuf shortHidden = hidden.slice(0, 2L * N * H - 2);
                assertMessage(
                        IllegalArgumentException.class,
                        () -> TokenBatch.fromBuffers(
                                a, MemoryLocation.HOST, HiddenDtype.BF16, N, H, K, shortHidden, idx, w),
                        "hidden buffer holds 62 bytes, needs 64");
            }
        }
    }

    @Test
    void nullsInTopkIdx() {
        try (BufferAllocator a = new RootAllocator()) {
            try (VectorSchemaRoot root = handBuilt(a, goodColumns())) {
                root.getVector(TokenBatchSchema.TOPK_IDX).setNull(2);
                assertMessage(IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_idx has 1 null rows");
            }
            try (VectorSchemaRoot root = handBuilt(a, goodColumns())) {
                items(root, TokenBatchSchema.TOPK_IDX).setNull(5);
                assertMessage(
                        IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_idx has 1 null elements");
            }
        }
    }

    @Test
    void nullsInTopkWeights() {
        try (BufferAllocator a = new RootAllocator();
                VectorSchemaRoot root = handBuilt(a, goodColumns())) {
            items(root, TokenBatchSchema.TOPK_WEIGHTS).setNull(0);
            items(root, TokenBatchSchema.TOPK_WEIGHTS).setNull(N * K - 1);
            assertMessage(
                    IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_weights has 2 null elements");
        }
    }

    @Test
    void unknownHiddenDtype() {
        try (BufferAllocator a = new RootAllocator();
                VectorSchemaRoot root = handBuilt(
                        a,
                        List.of(
                                new Column(TokenBatchSchema.HIDDEN, INT32, H),
                                new Column(TokenBatchSchema.TOPK_IDX, INT64, K),
                                new Column(TokenBatchSchema.TOPK_WEIGHTS, FLOAT32, K)))) {
            assertMessage(
                    IllegalArgumentException.class,
                    () -> TokenBatch.wrap(root),
                    "unknown hidden dtype",
                    "Int(32, true)");
        }
    }

    @Test
    void mismatchedKBetweenIdxAndWeights() {
        try (BufferAllocator a = new RootAllocator();
                VectorSchemaRoot root = handBuilt(
                        a,
                        List.of(
                                new Column(TokenBatchSchema.HIDDEN, FLOAT32, H),
                                new Column(TokenBatchSchema.TOPK_IDX, INT64, K),
                                new Column(TokenBatchSchema.TOPK_WEIGHTS, FLOAT32, K + 1)))) {
            assertMessage(
                    IllegalArgumentException.class,
                    () -> TokenBatch.wrap(root),
                    "top-k mismatch",
                    "topk_idx has k = 3",
                    "topk_weights has k = 4");
        }
    }

    @Test
    void missingColumn() {
        try (BufferAllocator a = new RootAllocator();
                VectorSchemaRoot root = handBuilt(a, goodColumns().subList(0, 2))) {
            assertMessage(IllegalArgumentException.class, () -> TokenBatch.wrap(root), "no column 'topk_weights'");
        }
    }

    @Test
    void wrongTopkIdxElementType() {
        try (BufferAllocator a = new RootAllocator();
                VectorSchemaRoot root = handBuilt(
                        a,
                        List.of(
                                new Column(TokenBatchSchema.HIDDEN, FLOAT32, H),
                                new Column(TokenBatchSchema.TOPK_IDX, INT32, K),
                                new Column(TokenBatchSchema.TOPK_WEIGHTS, FLOAT32, K)))) {
            assertMessage(
                    IllegalArgumentException.class, () -> TokenBatch.wrap(root), "column 'topk_idx' must hold int64");
        }
    }

    @Test
    void closedBatch() {
        try (BufferAllocator a = new RootAllocator()) {
            TokenBatch batch = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, N, H, K);
            batch.close();
            assertMessage(IllegalStateException.class, batch::numTokens, "TokenBatch is closed");
            assertMessage(IllegalStateException.class, batch::hiddenAddress, "TokenBatch is closed");
            assertMessage(IllegalStateException.class, batch::root, "TokenBatch is closed");
            assertEquals("TokenBatch[closed]", batch.toString());
        }
    }
}
