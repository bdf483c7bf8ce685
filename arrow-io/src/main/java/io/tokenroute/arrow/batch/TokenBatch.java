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

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.util.List;
import java.util.Objects;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.Float16;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * A batch of {@code n} tokens as an Arrow record batch (docs/contract.md §5): {@code hidden [n][H]} of a
 * {@link HiddenDtype}, {@code topk_idx [n][k]} int64 ({@code -1} = no expert) and {@code topk_weights [n][k]} float32.
 *
 * <p>Rows are contiguous: token {@code t}'s hidden values start at {@link #hiddenAddress()} {@code + t × rowBytes}.
 *
 * <p><b>Memory location.</b> A batch knows where its data buffers live ({@link #location()}). A batch in CUDA device
 * memory keeps its validity buffers on the host, and refuses every CPU accessor here with a
 * {@link io.tokenroute.arrow.memory.DeviceMemoryAccessException}, since a CPU read of device memory crashes the JVM.
 *
 * <p><b>Ownership.</b> A batch made by a factory here (or by {@link #adopt}) owns its root and frees it on
 * {@link #close()}. A batch from {@link #wrap} borrows the caller's root: closing the batch leaves the root alone.
 * Views from {@link #sliceRows} hold their own references to the parent's buffers and must be closed too.
 * Not thread-safe.
 */
public final class TokenBatch implements AutoCloseable {
    private final VectorSchemaRoot root;
    private final boolean ownsRoot;
    private final MemoryLocation location;
    private final HiddenDtype dtype;
    private final int hidden;
    private final int topK;
    private boolean closed;

    private TokenBatch(VectorSchemaRoot root, boolean ownsRoot, MemoryLocation location, boolean nullsChecked) {
        this.root = root;
        this.ownsRoot = ownsRoot;
        this.location = location;
        Schema schema = root.getSchema();
        Field hiddenField = requireList(schema, TokenBatchSchema.HIDDEN);
        Field idxField = requireList(schema, TokenBatchSchema.TOPK_IDX);
        Field weightsField = requireList(schema, TokenBatchSchema.TOPK_WEIGHTS);
        this.dtype = HiddenDtype.of(hiddenField.getChildren().get(0).getType());
        this.hidden = listSize(hiddenField);
        int kIdx = listSize(idxField);
        int kWeights = listSize(weightsField);
        if (kIdx != kWeights) {
            throw new IllegalArgumentException(
                    "top-k mismatch: topk_idx has k = " + kIdx + " but topk_weights has k = " + kWeights);
        }
        this.topK = kIdx;
        requireElementType(idxField, new ArrowType.Int(64, true), "int64");
        requireElementType(
                weightsField,
                new ArrowType.FloatingPoint(org.apache.arrow.vector.types.FloatingPointPrecision.SINGLE),
                "float32");
        if (location.isCpuAccessible() && !nullsChecked) {
            requireNoNulls();
        }
    }

    // ------------------------------------------------------------------------------------------------ factories

    /**
     * Borrows a host-resident root after validating it: column names and types, matching k, and no nulls.
     * The root stays the caller's; close the returned batch before the root.
     *
     * @throws IllegalArgumentException on a wrong schema, a k mismatch or a null value
     */
    public static TokenBatch wrap(VectorSchemaRoot root) {
        TokenRouteTypes.register();
        return new TokenBatch(Objects.requireNonNull(root, "root"), false, MemoryLocation.HOST, false);
    }

    /**
     * Takes ownership of a host-resident root after the same validation as {@link #wrap}: for roots that an importer
     * produced (IPC reader, C Data import) and nobody else closes. Closing the batch closes the root.
     *
     * @param root a root whose ownership passes to the batch; on failure it is closed before the exception propagates
     * @throws IllegalArgumentException on a wrong schema, a k mismatch or a null value
     */
    public static TokenBatch adopt(VectorSchemaRoot root) {
        TokenRouteTypes.register();
        return owning(Objects.requireNonNull(root, "root"), MemoryLocation.HOST, false);
    }

    /**
     * As {@link #adopt}, for a root the caller already knows to hold no nulls (an importer that read the producer's
     * null counts, say): the schema is validated, but the validity bitmaps are not scanned, so the cost does not grow
     * with the batch. Adopting a root that does hold nulls this way hands wrong data on.
     *
     * @param root a host-resident root whose ownership passes to the batch; on failure it is closed
     * @throws IllegalArgumentException on a wrong schema or a k mismatch
     */
    public static TokenBatch adoptNullFree(VectorSchemaRoot root) {
        TokenRouteTypes.register();
        return owning(Objects.requireNonNull(root, "root"), MemoryLocation.HOST, true);
    }

    /**
     * A batch of {@code n = topkIdx.length / k} tokens from Java arrays, converted to {@code dtype}.
     *
     * @param allocator allocates the batch's off-heap buffers
     * @param dtype the hidden dtype to store ({@link HiddenDtype#BF16}, {@link HiddenDtype#FP16} or
     *     {@link HiddenDtype#FP32}); bf16 conversion rounds to nearest even
     * @param hidden H, the row width
     * @param x row-major {@code [n][H]} values
     * @param topK k
     * @param topkIdx row-major {@code [n][k]} expert ids ({@code -1} = none)
     * @param topkWeights row-major {@code [n][k]} weights
     */
    public static TokenBatch fromFloats(
            BufferAllocator allocator,
            HiddenDtype dtype,
            int hidden,
            float[] x,
            int topK,
            long[] topkIdx,
            float[] topkWeights) {
        int n = checkShapes(hidden, x.length, topK, topkIdx.length, topkWeights.length);
        if (dtype == HiddenDtype.FP8_E4M3) {
            throw new IllegalArgumentException("fp8 token batches are produced by dispatch, not built from floats");
        }
        try (ArrowBuf h = allocator.buffer((long) x.length * dtype.bytes())) {
            long a = h.memoryAddress();
            for (int i = 0; i < x.length; i++) {
                switch (dtype) {
                    case BF16 -> MemoryUtil.putShort(a + 2L * i, floatToBf16(x[i]));
                    case FP16 -> MemoryUtil.putShort(a + 2L * i, Float16.toFloat16(x[i]));
                    default -> MemoryUtil.putInt(a + 4L * i, Float.floatToRawIntBits(x[i]));
                }
            }
            return withRouting(allocator, dtype, n, hidden, topK, h, topkIdx, topkWeights);
        }
    }

    /**
     * A bf16 batch from raw bf16 bit patterns ({@code [n][H]} row-major), copied bit for bit.
     *
     * @see #fromFloats
     */
    public static TokenBatch fromBf16Bits(
            BufferAllocator allocator, int hidden, short[] bits, int topK, long[] topkIdx, float[] topkWeights) {
        int n = checkShapes(hidden, bits.length, topK, topkIdx.length, topkWeights.length);
        try (ArrowBuf h = allocator.buffer(2L * bits.length)) {
            long a = h.memoryAddress();
            for (int i = 0; i < bits.length; i++) {
                MemoryUtil.putShort(a + 2L * i, bits[i]);
            }
            return withRouting(allocator, HiddenDtype.BF16, n, hidden, topK, h, topkIdx, topkWeights);
        }
    }

    /**
     * A batch over existing data buffers, host or device, without copying or reading them.
     *
     * @param allocator allocates the vectors and their host validity buffers
     * @param location where the three data buffers live
     * @param dtype hidden dtype
     * @param n number of tokens
     * @param hidden H
     * @param topK k
     * @param hiddenData at least {@code n × H × dtype.bytes()} bytes
     * @param topkIdxData at least {@code n × k × 8} bytes of int64
     * @param topkWeightsData at least {@code n × k × 4} bytes of float32
     * @return a batch holding its own references to the buffers (the caller keeps and releases theirs)
     */
    public static TokenBatch fromBuffers(
            BufferAllocator allocator,
            MemoryLocation location,
            HiddenDtype dtype,
            int n,
            int hidden,
            int topK,
            ArrowBuf hiddenData,
            ArrowBuf topkIdxData,
            ArrowBuf topkWeightsData) {
        checkBufferSize("hidden", hiddenData, (long) n * hidden * dtype.bytes());
        checkBufferSize("topk_idx", topkIdxData, (long) n * topK * 8);
        checkBufferSize("topk_weights", topkWeightsData, (long) n * topK * 4);
        VectorSchemaRoot root = ColumnViews.load(
                TokenBatchSchema.schema(dtype, hidden, topK),
                allocator,
                n,
                List.of(hiddenData, topkIdxData, topkWeightsData),
                location);
        // ColumnViews loads fresh all-valid bitmaps: there is nothing to scan.
        return owning(root, location, true);
    }

    private static TokenBatch withRouting(
            BufferAllocator allocator,
            HiddenDtype dtype,
            int n,
            int hidden,
            int topK,
            ArrowBuf hiddenData,
            long[] topkIdx,
            float[] topkWeights) {
        try (ArrowBuf idx = allocator.buffer(8L * topkIdx.length);
                ArrowBuf w = allocator.buffer(4L * topkWeights.length)) {
            for (int i = 0; i < topkIdx.length; i++) {
                MemoryUtil.putLong(idx.memoryAddress() + 8L * i, topkIdx[i]);
                MemoryUtil.putInt(w.memoryAddress() + 4L * i, Float.floatToRawIntBits(topkWeights[i]));
            }
            return fromBuffers(allocator, MemoryLocation.HOST, dtype, n, hidden, topK, hiddenData, idx, w);
        }
    }

    private static TokenBatch owning(VectorSchemaRoot root, MemoryLocation location, boolean nullsChecked) {
        try {
            return new TokenBatch(root, true, location, nullsChecked);
        } catch (RuntimeException e) {
            root.close();
            throw e;
        }
    }

    // ------------------------------------------------------------------------------------------------ shape

    /** n, the number of tokens. */
    public int numTokens() {
        ensureOpen();
        return root.getRowCount();
    }

    /** H, the hidden size. */
    public int hiddenSize() {
        return hidden;
    }

    /** k, the number of routing slots per token. */
    public int topK() {
        return topK;
    }

    /** The element type of {@code hidden}. */
    public HiddenDtype dtype() {
        return dtype;
    }

    /** Where the data buffers live. */
    public MemoryLocation location() {
        return location;
    }

    /** Bytes of one hidden row: {@code H × dtype.bytes()}. */
    public long hiddenRowBytes() {
        return (long) hidden * dtype.bytes();
    }

    /** Whether {@link #close()} ran. */
    public boolean isClosed() {
        return closed;
    }

    // ------------------------------------------------------------------------------------------------ buffers

    /** Address of row 0 of {@code hidden} (a device pointer for device batches; never dereference those). */
    public long hiddenAddress() {
        ensureOpen();
        return dataVector(TokenBatchSchema.HIDDEN).getDataBuffer().memoryAddress();
    }

    /** Address of {@code topk_idx[0][0]} (int64). */
    public long topkIdxAddress() {
        ensureOpen();
        return dataVector(TokenBatchSchema.TOPK_IDX).getDataBuffer().memoryAddress();
    }

    /** Address of {@code topk_weights[0][0]} (float32). */
    public long topkWeightsAddress() {
        ensureOpen();
        return dataVector(TokenBatchSchema.TOPK_WEIGHTS).getDataBuffer().memoryAddress();
    }

    /**
     * The underlying record batch of a host batch, for Arrow consumers (IPC, C Data export).
     *
     * @throws io.tokenroute.arrow.memory.DeviceMemoryAccessException for device batches: use {@link #deviceRoot()}
     */
    public VectorSchemaRoot root() {
        ensureOpen();
        location.requireCpuAccessible("TokenBatch.root()");
        return root;
    }

    /**
     * The underlying record batch whatever the location. For device batches, only buffer addresses, field metadata
     * and value counts may be used: any value getter, {@code toString} or IPC writer reads device memory from the CPU
     * and crashes the JVM.
     */
    public VectorSchemaRoot deviceRoot() {
        ensureOpen();
        return root;
    }

    // ------------------------------------------------------------------------------------------------ readers

    /** {@code hidden} widened to float32, row-major {@code [n][H]}; host batches only. */
    public float[] hiddenAsFloats() {
        requireHost("hiddenAsFloats");
        int count = numTokens() * hidden;
        float[] out = new float[count];
        long a = hiddenAddress();
        for (int i = 0; i < count; i++) {
            out[i] = switch (dtype) {
                case BF16 -> bf16ToFloat(MemoryUtil.getShort(a + 2L * i));
                case FP16 -> Float16.toFloat(MemoryUtil.getShort(a + 2L * i));
                case FP32 -> Float.intBitsToFloat(MemoryUtil.getInt(a + 4L * i));
                case FP8_E4M3 -> throw new IllegalStateException("fp8 batches carry scales: read them per expert");
            };
        }
        return out;
    }

    /** The raw bf16 bit patterns of {@code hidden}, row-major {@code [n][H]}; bf16 host batches only. */
    public short[] hiddenBf16Bits() {
        requireHost("hiddenBf16Bits");
        if (dtype != HiddenDtype.BF16) {
            throw new IllegalStateException("hiddenBf16Bits needs a bf16 batch, this one is " + dtype);
        }
        short[] out = new short[numTokens() * hidden];
        long a = hiddenAddress();
        for (int i = 0; i < out.length; i++) {
            out[i] = MemoryUtil.getShort(a + 2L * i);
        }
        return out;
    }

    /** {@code topk_idx}, row-major {@code [n][k]}; host batches only. */
    public long[] topkIdx() {
        requireHost("topkIdx");
        long[] out = new long[numTokens() * topK];
        long a = topkIdxAddress();
        for (int i = 0; i < out.length; i++) {
            out[i] = MemoryUtil.getLong(a + 8L * i);
        }
        return out;
    }

    /** {@code topk_weights}, row-major {@code [n][k]}; host batches only. */
    public float[] topkWeights() {
        requireHost("topkWeights");
        float[] out = new float[numTokens() * topK];
        long a = topkWeightsAddress();
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat(MemoryUtil.getInt(a + 4L * i));
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ views

    /**
     * A zero-copy view of rows {@code [begin, begin + count)}: same buffers, same location, its own vectors. Close the
     * view when done; the parent may be closed first (the view keeps the buffers alive).
     *
     * @param allocator allocates the view's vectors and host validity buffers
     */
    public TokenBatch sliceRows(BufferAllocator allocator, int begin, int count) {
        ensureOpen();
        int n = numTokens();
        if (begin < 0 || count < 0 || begin > n - count) {
            throw new IndexOutOfBoundsException(
                    "rows [" + begin + ", " + begin + "+" + count + ") outside [0, " + n + ")");
        }
        ArrowBuf h = dataVector(TokenBatchSchema.HIDDEN).getDataBuffer();
        ArrowBuf idx = dataVector(TokenBatchSchema.TOPK_IDX).getDataBuffer();
        ArrowBuf w = dataVector(TokenBatchSchema.TOPK_WEIGHTS).getDataBuffer();
        return fromBuffers(
                allocator,
                location,
                dtype,
                count,
                hidden,
                topK,
                h.slice(begin * hiddenRowBytes(), count * hiddenRowBytes()),
                idx.slice(8L * begin * topK, 8L * count * topK),
                w.slice(4L * begin * topK, 4L * count * topK));
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (ownsRoot) {
                root.close();
            }
        }
    }

    @Override
    public String toString() {
        return closed
                ? "TokenBatch[closed]"
                : "TokenBatch[n=" + root.getRowCount() + ", H=" + hidden + ", k=" + topK + ", dtype=" + dtype
                        + ", location=" + location + "]";
    }

    // ------------------------------------------------------------------------------------------------ internals

    /** float → bf16 bits, round to nearest even; NaN stays a quiet NaN with its sign. */
    static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    private FieldVector dataVector(String column) {
        return ((FixedSizeListVector) root.getVector(column)).getDataVector();
    }

    private void requireNoNulls() {
        for (String column :
                List.of(TokenBatchSchema.HIDDEN, TokenBatchSchema.TOPK_IDX, TokenBatchSchema.TOPK_WEIGHTS)) {
            FieldVector list = root.getVector(column);
            if (list.getNullCount() != 0) {
                throw new IllegalArgumentException(
                        column + " has " + list.getNullCount() + " null rows; token batches allow no nulls");
            }
            FieldVector items = dataVector(column);
            if (items.getNullCount() != 0) {
                throw new IllegalArgumentException(
                        column + " has " + items.getNullCount() + " null elements; token batches allow no nulls");
            }
        }
    }

    private void requireHost(String what) {
        ensureOpen();
        location.requireCpuAccessible("TokenBatch." + what + "()");
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("TokenBatch is closed");
        }
    }

    private static Field requireList(Schema schema, String name) {
        Field field;
        try {
            field = schema.findField(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "token batch has no column '" + name + "'; columns: "
                            + schema.getFields().stream().map(Field::getName).toList(),
                    e);
        }
        if (!(field.getType() instanceof ArrowType.FixedSizeList)) {
            throw new IllegalArgumentException("column '" + name + "' must be a FixedSizeList, got " + field.getType());
        }
        return field;
    }

    private static int listSize(Field field) {
        return ((ArrowType.FixedSizeList) field.getType()).getListSize();
    }

    private static void requireElementType(Field field, ArrowType expected, String what) {
        ArrowType actual = field.getChildren().get(0).getType();
        if (!actual.equals(expected)) {
            throw new IllegalArgumentException(
                    "column '" + field.getName() + "' must hold " + what + ", got " + actual);
        }
    }

    private static int checkShapes(int hidden, int xLength, int topK, int idxLength, int weightsLength) {
        if (hidden < 1 || topK < 1) {
            throw new IllegalArgumentException("hidden and topK must be >= 1, got H = " + hidden + ", k = " + topK);
        }
        if (xLength % hidden != 0 || idxLength % topK != 0) {
            throw new IllegalArgumentException("array lengths must be multiples of H and k: x " + xLength + ", H "
                    + hidden + ", topk_idx " + idxLength + ", k " + topK);
        }
        int n = xLength / hidden;
        if (idxLength != n * topK || weightsLength != n * topK) {
            throw new IllegalArgumentException("shape mismatch: x has " + n + " rows of H = " + hidden
                    + ", topk_idx has " + idxLength + " and topk_weights " + weightsLength + " values (need n*k = "
                    + (n * topK) + ")");
        }
        return n;
    }

    private static void checkBufferSize(String column, ArrowBuf buf, long needed) {
        if (buf.capacity() < needed) {
            throw new IllegalArgumentException(column + " buffer holds " + buf.capacity() + " bytes, needs " + needed);
        }
    }
}
