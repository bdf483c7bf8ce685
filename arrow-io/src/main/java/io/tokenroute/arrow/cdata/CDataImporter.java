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
package io.tokenroute.arrow.cdata;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.ForeignAllocation;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.TypeLayout;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Imports a C Data record batch into Java vectors, honouring the {@code offset} of every array in the tree. Arrow Java
 * 19's importer ignores offsets: a batch sliced by its producer (what a sliced {@code pyarrow.RecordBatch} exports)
 * would come in as its first rows.
 *
 * <p><b>How offsets are taken.</b> Offsets accumulate down the tree as the format defines them: row {@code i} of a
 * struct at offset {@code o} is row {@code o + i} of each child (before the child's own offset), and row {@code i} of a
 * fixed-size list of size {@code w} is elements {@code [(o + i) w, (o + i + 1) w)} of its child. Every buffer is then
 * taken as a view of the producer's memory starting at the first element used (zero copy): fixed-width data at
 * {@code offset × width}, offsets buffers at {@code offset × 4} (or 8; their values stay absolute, as Arrow allows),
 * bitmaps at {@code offset / 8}. The one layout no view can express is a bitmap (validity, or boolean data) whose
 * first bit is not the first bit of a byte: a validity bitmap whose array has {@code null_count == 0} is then dropped
 * (all valid), any other such bitmap is copied, {@code ⌈length / 8⌉} bytes shifted to start at bit 0.
 *
 * <p><b>Cost.</b> Nothing is read or copied per element, with one exception that comes from Arrow Java's vectors,
 * which always hold a validity bitmap: for an array sent without one (pyarrow sends none for arrays without nulls),
 * or whose null-free bitmap had to be dropped, Arrow Java allocates an all-valid bitmap, 1 bit per element (1/16 of a
 * bf16 buffer).
 *
 * <p><b>Types.</b> Null, fixed-width primitives (and extension types over them), booleans, (large) binary and utf8,
 * structs, (large) lists, maps and fixed-size lists. A batch holding any other type (unions, views, run-end encoded) is
 * handed to Arrow's importer when every array in it has offset 0, and refused naming the column otherwise.
 *
 * <p><b>Checks before anything is taken.</b> Buffer and child counts, NULL pointers, and that every child holds the
 * elements its parent's rows need (Arrow's importer zero-extends a short child silently). On failure the array is
 * left untouched with its owner; after the checks it is moved, and its release callback runs when the last imported
 * buffer is released.
 */
final class CDataImporter {
    private final BufferAllocator allocator;
    /** Whether the producer's null counts (or absent bitmaps) show every array to be free of nulls. */
    private boolean nullFree = true;

    private CDataImporter(BufferAllocator allocator) {
        this.allocator = allocator;
    }

    /** A root and whether the producer's null counts showed it to be free of nulls at every level. */
    record Imported(VectorSchemaRoot root, boolean nullFree) {}

    /**
     * Imports the struct array at {@code arrayAddress} with the (already imported) {@code schema}.
     *
     * @throws IllegalArgumentException for a layout that does not match the schema or cannot be taken; the array is
     *     then left to its owner
     */
    static Imported importBatch(BufferAllocator allocator, long arrayAddress, Schema schema) {
        ArrowArrayView batch = ArrowArrayView.at(arrayAddress);
        Field record = new Field("record batch", FieldType.notNullable(ArrowType.Struct.INSTANCE), schema.getFields());
        check(record, batch, 0, batch.length(), "record batch", Layout.STRUCT);
        requireNoNullRows(batch);
        if (!supported(record)) {
            return new Imported(delegateToArrow(allocator, batch, schema), false);
        }
        CDataImporter importer = new CDataImporter(allocator);
        List<Plan> columns = new ArrayList<>();
        for (int c = 0; c < schema.getFields().size(); c++) {
            Field column = schema.getFields().get(c);
            columns.add(importer.plan(
                    column, batch.child(c), batch.offset(), batch.length(), "column '" + column.getName() + "'"));
        }
        return new Imported(importer.load(arrayAddress, schema, columns, (int) batch.length()), importer.nullFree);
    }

    /** A record batch's rows are never null: a struct validity bitmap must be all set over the batch's rows. */
    private static void requireNoNullRows(ArrowArrayView batch) {
        long bitmap = batch.buffer(0);
        if (bitmap == 0 || batch.nullCount() == 0) {
            return;
        }
        long nulls = 0;
        for (long i = batch.offset(); i < batch.offset() + batch.length(); i++) {
            nulls += (MemoryUtil.getByte(bitmap + (i >>> 3)) >>> (i & 7)) & 1 ^ 1;
        }
        if (nulls != 0) {
            throw new IllegalArgumentException("the record batch's struct array has " + nulls + " null rows; a record "
                    + "batch row cannot be null");
        }
    }

    // ------------------------------------------------------------------------------------------------ plan

    /** What to load into one vector: its row count, null count hint and buffers, then its children's plans. */
    private static final class Plan {
        final int length;
        /** -1 lets Arrow keep the given validity buffer; 0 makes it allocate an all-valid one. */
        long nullCountHint;

        final List<Span> buffers = new ArrayList<>();
        final List<Plan> children = new ArrayList<>();

        Plan(long length, String where) {
            if (length > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(
                        where + ": " + length + " elements exceed what Arrow Java vectors " + "hold (2^31 - 1)");
            }
            this.length = (int) length;
        }
    }

    /** A buffer to view ({@code copyFromBit < 0}) or a bitmap to copy from bit {@code copyFromBit}. */
    private record Span(long address, long bytes, long copyFromBit, int bits) {
        static Span view(long address, long bytes) {
            return new Span(address, bytes, -1, 0);
        }

        static Span bitmap(long address, long firstBit, int bits) {
            return firstBit % 8 == 0
                    ? view(address + firstBit / 8, (bits + 7) / 8)
                    : new Span(address, (bits + 7) / 8, firstBit, bits);
        }
    }

    private enum Layout {
        NULL,
        FIXED,
        BITS,
        VARIABLE,
        LARGE_VARIABLE,
        LIST,
        LARGE_LIST,
        FIXED_LIST,
        STRUCT
    }

    private static ArrowType storage(Field field) {
        return field.getType() instanceof ArrowType.ExtensionType ext ? ext.storageType() : field.getType();
    }

    private static Layout layout(Field field) {
        return switch (storage(field).getTypeID()) {
            case Null -> Layout.NULL;
            case Int, FloatingPoint, Decimal, Date, Time, Timestamp, Interval, Duration, FixedSizeBinary ->
                Layout.FIXED;
            case Bool -> Layout.BITS;
            case Binary, Utf8 -> Layout.VARIABLE;
            case LargeBinary, LargeUtf8 -> Layout.LARGE_VARIABLE;
            case List, Map -> Layout.LIST;
            case LargeList -> Layout.LARGE_LIST;
            case FixedSizeList -> Layout.FIXED_LIST;
            case Struct -> Layout.STRUCT;
            default -> null;
        };
    }

    private static boolean supported(Field field) {
        return layout(field) != null && field.getChildren().stream().allMatch(CDataImporter::supported);
    }

    private static int bufferCount(Layout layout) {
        return switch (layout) {
            case NULL -> 0;
            case STRUCT, FIXED_LIST -> 1;
            case FIXED, BITS, LIST, LARGE_LIST -> 2;
            case VARIABLE, LARGE_VARIABLE -> 3;
        };
    }

    /**
     * Plans the import of elements {@code [first, first + count)} of {@code array} (logical indices, before the array's
     * own offset), checking that the array holds them.
     */
    private Plan plan(Field field, ArrowArrayView array, long first, long count, String where) {
        Layout layout = layout(field);
        check(field, array, first, count, where, layout);
        long start = array.offset() + first;
        Plan plan = new Plan(count, where);
        if (layout != Layout.NULL) {
            planValidity(plan, array, start, count, where);
        }
        switch (layout) {
            case NULL, STRUCT -> {
                // Struct children are indexed by the struct's own positions.
            }
            case FIXED -> {
                int bits = TypeLayout.getTypeLayout(storage(field))
                        .getBufferLayouts()
                        .get(1)
                        .getTypeBitWidth();
                long bytes = bits / 8;
                long address = data(array, 1, count, where);
                plan.buffers.add(Span.view(address + bytes * start, bytes * count));
            }
            case BITS -> plan.buffers.add(Span.bitmap(data(array, 1, count, where), start, (int) count));
            case VARIABLE, LARGE_VARIABLE, LIST, LARGE_LIST ->
                planOffsets(plan, field, array, layout, start, count, where);
            case FIXED_LIST -> {
                int width = ((ArrowType.FixedSizeList) storage(field)).getListSize();
                ArrowArrayView items = array.child(0);
                long need = (start + count) * width;
                if (!items.isReleased() && items.length() < need) {
                    throw new IllegalArgumentException(field.getName() + " holds " + items.length() + " values for "
                            + count + " rows of list size " + width + " (need " + need
                            + (start == 0 ? "" : ": the rows start at row " + start) + ")");
                }
                plan.children.add(plan(
                        field.getChildren().get(0),
                        array.child(0),
                        start * width,
                        count * width,
                        where + "." + field.getChildren().get(0).getName()));
            }
        }
        if (layout == Layout.STRUCT) {
            for (int c = 0; c < field.getChildren().size(); c++) {
                Field child = field.getChildren().get(c);
                plan.children.add(plan(child, array.child(c), start, count, where + "." + child.getName()));
            }
        }
        return plan;
    }

    /** The checks every array gets before anything is taken: counts, pointers, and enough elements. */
    private static void check(Field field, ArrowArrayView array, long first, long count, String where, Layout layout) {
        if (array.isReleased()) {
            throw new IllegalArgumentException(where + ": the ArrowArray was released or moved already");
        }
        if (array.offset() < 0 || array.length() < 0) {
            throw new IllegalArgumentException(
                    where + ": negative offset " + array.offset() + " or length " + array.length());
        }
        if (array.length() < first + count) {
            throw new IllegalArgumentException(where + " holds " + array.length() + " elements, its parent's rows "
                    + "need " + (first + count) + " (" + first + " before the rows and " + count + " rows)");
        }
        if (array.childCount() != field.getChildren().size()) {
            throw new IllegalArgumentException(where + " (" + field.getType() + ") has " + array.childCount()
                    + " children, the schema " + field.getChildren().size());
        }
        if (array.dictionaryAddress() != 0) {
            throw new IllegalArgumentException(where + " is dictionary-encoded, which TokenRoute does not support");
        }
        if (array.childCount() > 0 && array.childrenAddress() == 0) {
            throw new IllegalArgumentException(
                    where + ": NULL children pointer for " + array.childCount() + " children");
        }
        if (layout == null) {
            return;
        }
        int buffers = bufferCount(layout);
        if (array.bufferCount() != buffers) {
            throw new IllegalArgumentException(where + " (" + field.getType() + ") has " + array.bufferCount()
                    + " buffers, the format has " + buffers);
        }
        if (buffers > 0 && array.buffersAddress() == 0) {
            throw new IllegalArgumentException(where + ": NULL buffers pointer for " + buffers + " buffers");
        }
    }

    private void planValidity(Plan plan, ArrowArrayView array, long start, long count, String where) {
        long bitmap = array.buffer(0);
        long nulls = array.nullCount();
        if (bitmap == 0 && nulls > 0) {
            throw new IllegalArgumentException(where + " reports " + nulls + " nulls but has no validity bitmap");
        }
        // Without a bitmap to view (none sent, or a null-free one starting inside a byte), Arrow Java allocates an
        // all-valid one: 1 bit per element, the one cost of an import that grows with the rows.
        if (bitmap == 0 || count == 0 || (nulls == 0 && start % 8 != 0)) {
            plan.nullCountHint = 0;
            plan.buffers.add(Span.view(0, 0));
            return;
        }
        nullFree &= nulls == 0;
        plan.nullCountHint = -1;
        plan.buffers.add(Span.bitmap(bitmap, start, (int) count));
    }

    private static long data(ArrowArrayView array, int index, long count, String where) {
        long address = array.buffer(index);
        if (address == 0 && count > 0) {
            throw new IllegalArgumentException(where + ": buffer " + index + " is NULL for " + count + " elements");
        }
        return address;
    }

    /** Offsets stay absolute: the data (or child) is taken from its start up to the last row's end offset. */
    private void planOffsets(
            Plan plan, Field field, ArrowArrayView array, Layout layout, long start, long count, String where) {
        int width = layout == Layout.LARGE_VARIABLE || layout == Layout.LARGE_LIST ? 8 : 4;
        long offsets = data(array, 1, 1, where);
        long end = width == 8
                ? MemoryUtil.getLong(offsets + 8 * (start + count))
                : MemoryUtil.getInt(offsets + 4 * (start + count));
        long begin = width == 8 ? MemoryUtil.getLong(offsets + 8 * start) : MemoryUtil.getInt(offsets + 4 * start);
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException(
                    where + ": offsets [" + begin + ", " + end + "] of its rows are not " + "ascending from 0 or more");
        }
        plan.buffers.add(Span.view(offsets + width * start, width * (count + 1)));
        if (layout == Layout.VARIABLE || layout == Layout.LARGE_VARIABLE) {
            plan.buffers.add(Span.view(data(array, 2, end, where), end));
        } else {
            plan.children.add(plan(
                    field.getChildren().get(0),
                    array.child(0),
                    0,
                    end,
                    where + "." + field.getChildren().get(0).getName()));
        }
    }

    // ------------------------------------------------------------------------------------------------ load

    /** Moves the array out of the producer's struct, then loads the planned views; releases it on failure. */
    private VectorSchemaRoot load(long arrayAddress, Schema schema, List<Plan> columns, int rows) {
        ArrowArray source = ArrowArray.wrap(arrayAddress);
        ArrowArray owned = ArrowArray.allocateNew(allocator);
        owned.save(source.snapshot());
        source.markReleased();
        MovedArray moved = new MovedArray(owned);
        VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
        try {
            List<FieldVector> vectors = root.getFieldVectors();
            for (int c = 0; c < vectors.size(); c++) {
                load(vectors.get(c), columns.get(c), moved);
            }
            root.setRowCount(rows);
            return root;
        } catch (RuntimeException e) {
            root.close();
            throw e;
        } finally {
            // The importer's own reference: from here on the vectors' buffers keep the array alive.
            moved.release();
        }
    }

    private void load(FieldVector vector, Plan plan, MovedArray moved) {
        List<FieldVector> children = vector.getChildrenFromFields();
        for (int c = 0; c < plan.children.size(); c++) {
            load(children.get(c), plan.children.get(c), moved);
        }
        List<ArrowBuf> buffers = new ArrayList<>();
        try {
            for (Span span : plan.buffers) {
                buffers.add(take(span, moved));
            }
            vector.loadFieldBuffers(new ArrowFieldNode(plan.length, plan.nullCountHint), buffers);
        } finally {
            // loadFieldBuffers took its own references.
            buffers.forEach(ArrowBuf::close);
        }
    }

    private ArrowBuf take(Span span, MovedArray moved) {
        if (span.bytes() == 0) {
            return allocator.getEmpty();
        }
        if (span.copyFromBit() < 0) {
            moved.retain();
            return allocator.wrapForeignAllocation(new ProducerMemory(span.address(), span.bytes(), moved));
        }
        ArrowBuf copy = allocator.buffer(span.bytes());
        copyBits(span.address(), span.copyFromBit(), span.bits(), copy.memoryAddress());
        return copy;
    }

    /** Copies {@code bits} bits starting at bit {@code firstBit} of {@code source} to bit 0 of {@code target}. */
    static void copyBits(long source, long firstBit, int bits, long target) {
        long byteIndex = firstBit >>> 3;
        int shift = (int) (firstBit & 7);
        int bytes = (bits + 7) / 8;
        long sourceBytes = (firstBit + bits + 7) / 8;
        for (int j = 0; j < bytes; j++) {
            int low = (MemoryUtil.getByte(source + byteIndex + j) & 0xFF) >>> shift;
            int high = byteIndex + j + 1 < sourceBytes ? MemoryUtil.getByte(source + byteIndex + j + 1) & 0xFF : 0;
            MemoryUtil.putByte(target + j, (byte) (low | (high << (8 - shift))));
        }
        int tail = bits & 7;
        if (tail != 0) {
            long last = target + bytes - 1;
            MemoryUtil.putByte(last, (byte) (MemoryUtil.getByte(last) & ((1 << tail) - 1)));
        }
    }

    // ------------------------------------------------------------------------------------------------ ownership

    /** The moved array, released (producer's callback) and freed when its last buffer view goes. */
    private static final class MovedArray {
        private final ArrowArray array;
        private final AtomicInteger references = new AtomicInteger(1);

        MovedArray(ArrowArray array) {
            this.array = array;
        }

        void retain() {
            references.incrementAndGet();
        }

        void release() {
            if (references.decrementAndGet() == 0) {
                try {
                    array.release();
                } finally {
                    array.close();
                }
            }
        }
    }

    /** A view of producer memory, holding one reference on the moved array. */
    private static final class ProducerMemory extends ForeignAllocation {
        private final MovedArray owner;

        ProducerMemory(long address, long bytes, MovedArray owner) {
            super(bytes, address);
            this.owner = owner;
        }

        @Override
        protected void release0() {
            owner.release();
        }
    }

    // ------------------------------------------------------------------------------------------------ fallback

    /**
     * Types this class does not load go through Arrow's importer, which ignores offsets: only batches whose every array
     * has offset 0 are handed to it. The list-children check applies there too.
     */
    private static VectorSchemaRoot delegateToArrow(BufferAllocator allocator, ArrowArrayView batch, Schema schema) {
        String sliced = batch.offset() != 0 ? "the record batch has offset " + batch.offset() : null;
        for (int c = 0; sliced == null && c < batch.childCount(); c++) {
            sliced = firstOffset(
                    batch.child(c), "column '" + schema.getFields().get(c).getName() + "'");
        }
        if (sliced != null) {
            throw new IllegalArgumentException(sliced + ", and the batch holds a type that TokenRoute imports only "
                    + "without offsets (" + unsupportedTypes(schema.getFields()) + ")");
        }
        for (int c = 0; c < schema.getFields().size() && c < batch.childCount(); c++) {
            requireFullListChildren(schema.getFields().get(c), batch.child(c));
        }
        VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
        try {
            org.apache.arrow.c.Data.importIntoVectorSchemaRoot(allocator, ArrowArray.wrap(batch.address()), root, null);
        } catch (RuntimeException e) {
            root.close();
            throw e;
        }
        return root;
    }

    private static String firstOffset(ArrowArrayView array, String where) {
        if (array.offset() != 0) {
            return where + " has offset " + array.offset();
        }
        for (int c = 0; c < array.childCount(); c++) {
            String found = firstOffset(array.child(c), where + " (child " + c + ")");
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    private static String unsupportedTypes(List<Field> fields) {
        List<String> out = new ArrayList<>();
        for (Field f : fields) {
            if (layout(f) == null) {
                out.add("'" + f.getName() + "': " + f.getType());
            }
            String inner = unsupportedTypes(f.getChildren());
            if (!inner.isEmpty()) {
                out.add(inner);
            }
        }
        return String.join(", ", out);
    }

    /** Structural mismatches are left to Arrow's importer, which reports them. */
    private static void requireFullListChildren(Field field, ArrowArrayView array) {
        List<Field> children = field.getChildren();
        if (array.childCount() != children.size()) {
            return;
        }
        for (int i = 0; i < children.size(); i++) {
            requireFullListChildren(children.get(i), array.child(i));
        }
        if (field.getType() instanceof ArrowType.FixedSizeList list) {
            long need = (array.offset() + array.length()) * list.getListSize();
            long have = array.child(0).length();
            if (have < need) {
                throw new IllegalArgumentException(field.getName() + " holds " + have + " values for " + array.length()
                        + " rows of list size " + list.getListSize() + " (need " + need + ")");
            }
        }
    }
}
