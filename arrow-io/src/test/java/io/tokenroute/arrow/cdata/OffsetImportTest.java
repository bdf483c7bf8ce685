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

import static io.tokenroute.arrow.cdata.CStructs.BUFFERS;
import static io.tokenroute.arrow.cdata.CStructs.LENGTH;
import static io.tokenroute.arrow.cdata.CStructs.NULL_COUNT;
import static io.tokenroute.arrow.cdata.CStructs.OFFSET;
import static io.tokenroute.arrow.cdata.CStructs.buffer;
import static io.tokenroute.arrow.cdata.CStructs.child;
import static io.tokenroute.arrow.cdata.CStructs.field;
import static io.tokenroute.arrow.cdata.CStructs.set;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.complex.UnionVector;
import org.apache.arrow.vector.complex.impl.UnionListWriter;
import org.apache.arrow.vector.types.Types.MinorType;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * C Data import honours offsets at every level. Each test builds the C structs itself: Arrow's exporter writes them
 * over a batch of N rows, then the test rewrites {@code offset}, {@code length} and {@code null_count} fields (which no
 * release callback reads) to describe a slice, exactly as a slicing producer would. The imported values are compared
 * with the source arrays through the offsets' definition, computed here in plain loops.
 */
class OffsetImportTest {
    private static final int ROWS = 40;
    private final Random rng = new Random(20261217);

    // ------------------------------------------------------------------------------------------------ token batches

    @ParameterizedTest(name = "{0}: struct offset {1}, column offset {2}, rows {3}")
    @CsvSource({
        "BF16, 0, 5, 7", // pyarrow's RecordBatch.slice(5, 7): columns at offset 5
        "BF16, 5, 0, 7", // a sliced StructArray: the struct at offset 5
        "FP32, 2, 3, 9",
        "FP16, 3, 0, 0",
        "BF16, 0, 0, 40"
    })
    void slicedTokenBatchImportsExactlyItsRowsWithoutCopying(
            HiddenDtype dtype, int structOffset, int columnOffset, int rows) {
        int h = 24;
        int k = 3;
        float[] x = RandomTokenBatches.floats(rng, ROWS * h);
        long[] idx = RandomTokenBatches.idx(rng, ROWS * k, 64);
        float[] w = RandomTokenBatches.weights(rng, ROWS * k);
        try (BufferAllocator a = new RootAllocator();
                BufferAllocator producer = a.newChildAllocator("producer", 0, Long.MAX_VALUE);
                BufferAllocator consumer = a.newChildAllocator("consumer", 0, Long.MAX_VALUE)) {
            TokenBatch source = TokenBatch.fromFloats(producer, dtype, h, x, k, idx, w);
            float[] stored = source.hiddenAsFloats();
            long hiddenAddress = source.hiddenAddress();
            long idxAddress = source.topkIdxAddress();
            ExportedBatch exported = HostExport.export(producer, source);
            source.close();
            long struct = exported.arrayAddress();
            slice(struct, structOffset, rows);
            for (int c = 0; c < 3; c++) {
                set(child(struct, c), OFFSET, columnOffset);
                set(child(struct, c), LENGTH, ROWS - columnOffset);
            }
            int first = structOffset + columnOffset;
            try (TokenBatch imported = HostExport.importBatch(consumer, struct, exported.schemaAddress())) {
                exported.close();
                assertEquals(rows, imported.numTokens());
                assertEquals(dtype, imported.dtype());
                if (rows > 0) {
                    assertEquals(
                            hiddenAddress + first * imported.hiddenRowBytes(),
                            imported.hiddenAddress(),
                            "hidden is a view of the producer's rows from row " + first);
                    assertEquals(idxAddress + 8L * first * k, imported.topkIdxAddress());
                }
                assertArrayEquals(
                        bits(Arrays.copyOfRange(stored, first * h, (first + rows) * h)),
                        bits(imported.hiddenAsFloats()));
                assertArrayEquals(Arrays.copyOfRange(idx, first * k, (first + rows) * k), imported.topkIdx());
                assertArrayEquals(
                        bits(Arrays.copyOfRange(w, first * k, (first + rows) * k)), bits(imported.topkWeights()));
                assertEquals(
                        rows > 0,
                        producer.getAllocatedMemory() > 0,
                        "the producer's buffers live while viewed (an empty slice views none)");
            }
            assertEquals(0, producer.getAllocatedMemory(), "closing the import released the producer's array");
        }
    }

    @Test
    void fixedSizeListAndChildOffsetsAddUp() {
        int w = 4;
        try (BufferAllocator a = new RootAllocator();
                FixedSizeListVector pairs = FixedSizeListVector.empty("pairs", w, a)) {
            pairs.addOrGetVector(FieldType.nullable(new ArrowType.Int(32, true)));
            IntVector items = (IntVector) pairs.getDataVector();
            int[] values = new int[ROWS * w];
            pairs.allocateNew();
            for (int r = 0; r < ROWS; r++) {
                pairs.setNotNull(r);
            }
            for (int i = 0; i < values.length; i++) {
                values[i] = 1 + rng.nextInt(1 << 30);
                items.setSafe(i, values[i]);
            }
            items.setValueCount(values.length);
            pairs.setValueCount(ROWS);
            VectorSchemaRoot root = new VectorSchemaRoot(List.<FieldVector>of(pairs));
            try (ExportedBatch exported = HostExport.export(a, root)) {
                long struct = exported.arrayAddress();
                long list = child(struct, 0);
                long elements = child(list, 0);
                int structOffset = 2;
                int listOffset = 3;
                int elementOffset = 5;
                int rows = 6;
                slice(struct, structOffset, rows);
                set(list, OFFSET, listOffset);
                set(list, LENGTH, ROWS - listOffset - 1);
                set(elements, OFFSET, elementOffset);
                set(elements, LENGTH, ROWS * w - elementOffset);
                try (VectorSchemaRoot imported = HostExport.importRoot(a, struct, exported.schemaAddress())) {
                    FixedSizeListVector got = (FixedSizeListVector) imported.getVector("pairs");
                    IntVector gotItems = (IntVector) got.getDataVector();
                    assertEquals(rows, imported.getRowCount());
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < w; j++) {
                            int want = values[elementOffset + (structOffset + listOffset + r) * w + j];
                            assertEquals(want, gotItems.get(r * w + j), "row " + r + ", element " + j);
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ nullable

    /** Every nullable layout TokenRoute loads, with random nulls, at every struct/column offset combination given. */
    @ParameterizedTest(name = "struct offset {0}, column offset {1}, element offset {2}")
    @CsvSource({"3, 2, 1", "0, 8, 0", "8, 0, 16", "1, 0, 3", "0, 0, 0"})
    void nullableColumnsKeepTheirValuesAndNullsAtAnyBit(int structOffset, int columnOffset, int elementOffset) {
        int rows = 17;
        int first = structOffset + columnOffset;
        try (BufferAllocator a = new RootAllocator();
                Nullables source = new Nullables(a, rng)) {
            long validityAddress = source.ints.getValidityBuffer().memoryAddress();
            try (ExportedBatch exported = HostExport.export(a, source.root)) {
                long struct = exported.arrayAddress();
                slice(struct, structOffset, rows);
                for (int c = 0; c < source.root.getFieldVectors().size(); c++) {
                    long column = child(struct, c);
                    set(column, OFFSET, columnOffset);
                    set(column, LENGTH, ROWS - columnOffset);
                    set(column, NULL_COUNT, -1);
                }
                long listElements = child(child(struct, 4), 0);
                set(listElements, OFFSET, elementOffset);
                set(listElements, LENGTH, field(listElements, LENGTH) - elementOffset);
                try (VectorSchemaRoot imported = HostExport.importRoot(a, struct, exported.schemaAddress())) {
                    assertEquals(rows, imported.getRowCount());
                    source.check(imported, first, rows, elementOffset);
                    if (first % 8 == 0) {
                        assertEquals(
                                validityAddress + first / 8,
                                imported.getVector("ints").getValidityBuffer().memoryAddress(),
                                "a byte-aligned validity bitmap is viewed, not copied");
                    }
                }
            }
        }
    }

    @Test
    void anUnalignedBitmapWithoutNullsIsDroppedNotCopied() {
        try (BufferAllocator a = new RootAllocator();
                IntVector v = new IntVector("v", a)) {
            int[] values = new int[ROWS];
            v.allocateNew(ROWS);
            for (int i = 0; i < ROWS; i++) {
                values[i] = 1 + rng.nextInt(1000);
                v.set(i, values[i]);
            }
            v.setValueCount(ROWS);
            VectorSchemaRoot root = new VectorSchemaRoot(List.<FieldVector>of(v));
            try (ExportedBatch exported = HostExport.export(a, root)) {
                long column = child(exported.arrayAddress(), 0);
                assertTrue(buffer(column, 0) != 0, "Arrow exports the validity bitmap");
                assertEquals(0, field(column, NULL_COUNT));
                set(column, OFFSET, 3);
                set(column, LENGTH, 11);
                slice(exported.arrayAddress(), 0, 11);
                try (VectorSchemaRoot imported =
                        HostExport.importRoot(a, exported.arrayAddress(), exported.schemaAddress())) {
                    IntVector got = (IntVector) imported.getVector("v");
                    for (int i = 0; i < 11; i++) {
                        assertFalse(got.isNull(i));
                        assertEquals(values[3 + i], got.get(i));
                    }
                    assertEquals(0, got.getNullCount());
                }
            }
        }
    }

    @Test
    void aByteAlignedNullFreeBitmapIsViewedAndNotScanned() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch source = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, ROWS, 8, 2);
                ExportedBatch exported = HostExport.export(a, source)) {
            long items = child(child(exported.arrayAddress(), 0), 0);
            long bitmap = buffer(items, 0);
            assertEquals(0, field(items, NULL_COUNT), "a token batch exports null counts of 0");
            slice(exported.arrayAddress(), 16, 9);
            try (TokenBatch imported = HostExport.importBatch(a, exported.arrayAddress(), exported.schemaAddress())) {
                FieldVector got = imported.root()
                        .getVector("hidden")
                        .getChildrenFromFields()
                        .get(0);
                assertEquals(
                        bitmap + 16 * 8 / 8,
                        got.getValidityBuffer().memoryAddress(),
                        "rows from 16 on: the producer's bitmap from byte 16");
                assertEquals(0, got.getNullCount());
                assertArrayEquals(
                        Arrays.copyOfRange(source.hiddenBf16Bits(), 16 * 8, 25 * 8), imported.hiddenBf16Bits());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ refusals

    @Test
    void aChildTooShortForTheSlicedRowsIsRefusedAndLeftToItsOwner() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch batch = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 10, 8, 2);
                ExportedBatch exported = HostExport.export(a, batch)) {
            long struct = exported.arrayAddress();
            slice(struct, 4, 6);
            set(child(child(struct, 0), 0), LENGTH, 10 * 8 - 1);
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class, () -> HostExport.importBatch(a, struct, exported.schemaAddress()));
            assertEquals(
                    "hidden holds 79 values for 6 rows of list size 8 (need 80: the rows start at row 4)",
                    e.getMessage());
            assertFalse(exported.isArrayReleased(), "nothing was taken");
        }
    }

    @Test
    void aStructSliceBeyondItsChildrenIsRefused() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch batch = RandomTokenBatches.batch(a, rng, HiddenDtype.FP32, 10, 4, 2);
                ExportedBatch exported = HostExport.export(a, batch)) {
            slice(exported.arrayAddress(), 6, 5);
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> HostExport.importBatch(a, exported.arrayAddress(), exported.schemaAddress()));
            assertTrue(
                    e.getMessage().contains("column 'hidden' holds 10 elements, its parent's rows need 11"),
                    e.getMessage());
            assertFalse(exported.isArrayReleased());
        }
    }

    @Test
    void nullRecordBatchRowsAreRefused() {
        try (BufferAllocator a = new RootAllocator();
                IntVector v = new IntVector("v", a);
                BitVectorBuffer rowsValid = new BitVectorBuffer(a, ROWS)) {
            v.allocateNew(ROWS);
            for (int i = 0; i < ROWS; i++) {
                v.set(i, i + 1);
            }
            v.setValueCount(ROWS);
            try (ArrowArray array = ArrowArray.allocateNew(a);
                    ArrowSchema schema = ArrowSchema.allocateNew(a)) {
                Data.exportVectorSchemaRoot(a, new VectorSchemaRoot(List.<FieldVector>of(v)), null, array, schema);
                // Rows 0..39 valid except row 9; the slice [8, 12) contains it.
                rowsValid.clear(9);
                long pointers = field(array.memoryAddress(), BUFFERS);
                long original = MemoryUtil.getLong(pointers);
                MemoryUtil.putLong(pointers, rowsValid.address());
                set(array.memoryAddress(), NULL_COUNT, -1);
                slice(array.memoryAddress(), 8, 4);
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class,
                        () -> HostExport.importRoot(a, array.memoryAddress(), schema.memoryAddress()));
                assertTrue(e.getMessage().contains("1 null rows"), e.getMessage());
                MemoryUtil.putLong(pointers, original);
                array.release();
            }
        }
    }

    @Test
    void anOffsetOnATypeImportedOnlyWithoutOffsetsIsRefusedNamingIt() {
        try (BufferAllocator a = new RootAllocator();
                UnionVector union = UnionVector.empty("mixed", a)) {
            union.allocateNew();
            org.apache.arrow.vector.holders.NullableIntHolder holder =
                    new org.apache.arrow.vector.holders.NullableIntHolder();
            holder.isSet = 1;
            for (int i = 0; i < 10; i++) {
                holder.value = 100 + i;
                union.setType(i, MinorType.INT);
                union.setSafe(i, holder);
            }
            union.setValueCount(10);
            VectorSchemaRoot root = new VectorSchemaRoot(List.<FieldVector>of(union));
            try (ArrowArray array = ArrowArray.allocateNew(a);
                    ArrowSchema schema = ArrowSchema.allocateNew(a)) {
                Data.exportVectorSchemaRoot(a, root, null, array, schema);
                set(child(array.memoryAddress(), 0), OFFSET, 2);
                set(child(array.memoryAddress(), 0), LENGTH, 8);
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class,
                        () -> HostExport.importRoot(a, array.memoryAddress(), schema.memoryAddress()));
                assertTrue(
                        e.getMessage().contains("has offset 2")
                                && e.getMessage().contains("'mixed'"),
                        e.getMessage());
                assertFalse(field(array.memoryAddress(), CStructs.RELEASE) == 0, "left to its owner");
                array.release();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ lifetime

    @Test
    void slicesOfAnImportKeepTheProducersMemoryUntilTheLastGoes() {
        try (BufferAllocator a = new RootAllocator();
                BufferAllocator producer = a.newChildAllocator("producer", 0, Long.MAX_VALUE)) {
            float[] x = RandomTokenBatches.floats(rng, ROWS * 8);
            TokenBatch source = TokenBatch.fromFloats(
                    producer,
                    HiddenDtype.FP32,
                    8,
                    x,
                    1,
                    RandomTokenBatches.idx(rng, ROWS, 64),
                    RandomTokenBatches.weights(rng, ROWS));
            ExportedBatch exported = HostExport.export(producer, source);
            source.close();
            slice(exported.arrayAddress(), 10, 20);
            VectorSchemaRoot imported = HostExport.importRoot(a, exported.arrayAddress(), exported.schemaAddress());
            exported.close();
            VectorSchemaRoot slice = imported.slice(3, 5);
            imported.close();
            assertTrue(producer.getAllocatedMemory() > 0, "the slice still views the producer's memory");
            FixedSizeListVector hidden = (FixedSizeListVector) slice.getVector("hidden");
            Float4Vector items = (Float4Vector) hidden.getDataVector();
            for (int i = 0; i < 5 * 8; i++) {
                assertEquals(Float.floatToRawIntBits(x[(13) * 8 + i]), Float.floatToRawIntBits(items.get(i)));
            }
            slice.close();
            assertEquals(0, producer.getAllocatedMemory(), "released once, after the last view");
        }
    }

    @Test
    void copyBitsShiftsAnyBitRange() {
        byte[] source = new byte[9];
        rng.nextBytes(source);
        try (BufferAllocator a = new RootAllocator();
                org.apache.arrow.memory.ArrowBuf from = a.buffer(source.length);
                org.apache.arrow.memory.ArrowBuf to = a.buffer(source.length)) {
            from.setBytes(0, source);
            for (int first = 0; first < 16; first++) {
                for (int bits = 0; first + bits <= 8 * source.length; bits += 7) {
                    MemoryUtil.setMemory(to.memoryAddress(), to.capacity(), (byte) 0xA5);
                    CDataImporter.copyBits(from.memoryAddress(), first, bits, to.memoryAddress());
                    for (int i = 0; i < bits; i++) {
                        int want = (source[(first + i) / 8] >> ((first + i) % 8)) & 1;
                        int got = (to.getByte(i / 8) >> (i % 8)) & 1;
                        assertEquals(want, got, "bit " + i + " of a copy from bit " + first);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** Makes the record batch struct at {@code struct} describe rows {@code [offset, offset + rows)}. */
    private static void slice(long struct, long offset, long rows) {
        set(struct, OFFSET, offset);
        set(struct, LENGTH, rows);
    }

    private static int[] bits(float[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Float.floatToRawIntBits(values[i]);
        }
        return out;
    }

    /** A host validity bitmap of {@code bits} set bits. */
    private static final class BitVectorBuffer implements AutoCloseable {
        private final org.apache.arrow.memory.ArrowBuf buf;

        BitVectorBuffer(BufferAllocator a, int bits) {
            buf = a.buffer((bits + 7) / 8);
            MemoryUtil.setMemory(buf.memoryAddress(), buf.capacity(), (byte) 0xFF);
        }

        long address() {
            return buf.memoryAddress();
        }

        void clear(int bit) {
            buf.setByte(bit / 8, buf.getByte(bit / 8) & ~(1 << (bit % 8)));
        }

        @Override
        public void close() {
            buf.close();
        }
    }

    /**
     * A root of every nullable layout the importer loads, with random values and about one null in three, and the
     * same values as Java arrays ({@code null} for a null).
     */
    private static final class Nullables implements AutoCloseable {
        final VectorSchemaRoot root;
        final IntVector ints;
        final Integer[] intValues = new Integer[ROWS];
        final Float[] floatValues = new Float[ROWS];
        final Boolean[] flagValues = new Boolean[ROWS];
        final byte[][] payloadValues = new byte[ROWS][];
        /** Per row the list's elements, {@code null} for a null list; element values {@code null} for nulls. */
        final List<List<Long>> listValues = new ArrayList<>();

        final List<Long> listElements = new ArrayList<>();
        final int[] listStarts = new int[ROWS + 1];

        Nullables(BufferAllocator a, Random rng) {
            ints = new IntVector("ints", a);
            Float4Vector floats = new Float4Vector("floats", a);
            BitVector flags = new BitVector("flags", a);
            VarBinaryVector payload = new VarBinaryVector("payload", a);
            ListVector lists = ListVector.empty("lists", a);
            ints.allocateNew(ROWS);
            floats.allocateNew(ROWS);
            flags.allocateNew(ROWS);
            payload.allocateNew(ROWS);
            UnionListWriter writer = lists.getWriter();
            for (int r = 0; r < ROWS; r++) {
                if (rng.nextInt(3) != 0) {
                    intValues[r] = 1 + rng.nextInt(1 << 20);
                    ints.set(r, intValues[r]);
                }
                if (rng.nextInt(3) != 0) {
                    floatValues[r] = 0.5f + rng.nextFloat();
                    floats.set(r, floatValues[r]);
                }
                if (rng.nextInt(3) != 0) {
                    flagValues[r] = rng.nextBoolean();
                    flags.set(r, flagValues[r] ? 1 : 0);
                }
                if (rng.nextInt(3) != 0) {
                    payloadValues[r] = new byte[1 + rng.nextInt(9)];
                    rng.nextBytes(payloadValues[r]);
                    payload.setSafe(r, payloadValues[r]);
                }
                writer.setPosition(r);
                listStarts[r] = listElements.size();
                // The last rows hold 4 elements each, so a list child shifted by up to 16 still holds every row.
                boolean tail = r >= ROWS - 6;
                if (tail || rng.nextInt(4) != 0) {
                    List<Long> row = new ArrayList<>();
                    writer.startList();
                    for (int j = tail ? 3 : rng.nextInt(4); j >= 0; j--) {
                        long value = 1 + rng.nextInt(1 << 30);
                        if (rng.nextInt(5) == 0) {
                            writer.writeNull();
                            row.add(null);
                            listElements.add(null);
                        } else {
                            writer.bigInt().writeBigInt(value);
                            row.add(value);
                            listElements.add(value);
                        }
                    }
                    writer.endList();
                    listValues.add(row);
                } else {
                    listValues.add(null);
                }
            }
            listStarts[ROWS] = listElements.size();
            writer.setValueCount(ROWS);
            ints.setValueCount(ROWS);
            floats.setValueCount(ROWS);
            flags.setValueCount(ROWS);
            payload.setValueCount(ROWS);
            root = new VectorSchemaRoot(List.<FieldVector>of(ints, floats, flags, payload, lists));
        }

        /** The import holds source rows {@code [first, first + rows)}, list elements shifted by elementOffset. */
        void check(VectorSchemaRoot imported, int first, int rows, int elementOffset) {
            IntVector i = (IntVector) imported.getVector("ints");
            Float4Vector f = (Float4Vector) imported.getVector("floats");
            BitVector b = (BitVector) imported.getVector("flags");
            VarBinaryVector p = (VarBinaryVector) imported.getVector("payload");
            ListVector l = (ListVector) imported.getVector("lists");
            BigIntVector elements = (BigIntVector) l.getDataVector();
            int nulls = 0;
            for (int r = 0; r < rows; r++) {
                int s = first + r;
                String where = "row " + r + " (source row " + s + ")";
                assertEquals(intValues[s], i.getObject(r), where);
                assertEquals(floatValues[s], f.getObject(r), where);
                assertEquals(flagValues[s], b.getObject(r), where);
                if (payloadValues[s] == null) {
                    assertNull(p.getObject(r), where);
                } else {
                    assertArrayEquals(payloadValues[s], p.getObject(r), where);
                }
                nulls += intValues[s] == null ? 1 : 0;
                if (listValues.get(s) == null) {
                    assertTrue(l.isNull(r), where);
                    continue;
                }
                int start = l.getElementStartIndex(r);
                int end = l.getElementEndIndex(r);
                assertEquals(listValues.get(s).size(), end - start, where);
                for (int j = start; j < end; j++) {
                    // The list's offsets index its elements array, which now starts elementOffset further in.
                    int sourceElement = listStarts[s] + (j - start) + elementOffset;
                    assertEquals(
                            listElements.get(sourceElement), elements.getObject(j), where + ", element " + (j - start));
                }
            }
            assertEquals(nulls, i.getNullCount());
        }

        @Override
        public void close() {
            root.close();
        }
    }
}
