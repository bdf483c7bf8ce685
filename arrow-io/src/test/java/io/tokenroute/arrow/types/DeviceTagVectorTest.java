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
package io.tokenroute.arrow.types;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.DeviceMemoryAccessException;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.hash.SimpleHasher;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.compare.TypeEqualsVisitor;
import org.apache.arrow.vector.compare.VectorEqualsVisitor;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.TransferPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Extension vectors over device memory refuse every CPU read of their values with a
 * {@link DeviceMemoryAccessException} naming the memory, while operations that only move buffer references (slices,
 * transfers) and host-side validity keep working. The "device" is an address no process maps: a CPU read of it would
 * crash the JVM, so each refusal is also a proof that nothing was read.
 */
class DeviceTagVectorTest {
    private static final long FAKE_DEVICE = 0x7f20_0000_0000L;
    private static final int ROWS = 12;
    private static final int WIDTH = 16;

    /** The extension element types a device result can hold. */
    enum Tag {
        BF16(BFloat16Type.INSTANCE, 2),
        FP8_E4M3(Float8E4M3Type.INSTANCE, 1),
        UE8M0(Ue8m0Type.INSTANCE, 1);

        final TagExtensionType type;
        final int bytes;

        Tag(TagExtensionType type, int bytes) {
            this.type = type;
            this.bytes = bytes;
        }
    }

    @ParameterizedTest
    @EnumSource(Tag.class)
    void valueReadsAreRefusedAndReferenceMovesWork(Tag tag) {
        TokenRouteTypes.register();
        Schema schema = new Schema(List.of(
                TokenBatchSchema.listField("rows", new Field("item", FieldType.notNullable(tag.type), null), WIDTH)));
        long bytes = (long) ROWS * WIDTH * tag.bytes;
        try (BufferAllocator a = new RootAllocator();
                ArrowBuf device = ExternalMemory.wrap(a, FAKE_DEVICE, bytes, () -> {});
                VectorSchemaRoot root = ColumnViews.load(schema, a, ROWS, List.of(device), MemoryLocation.cuda(0))) {
            TagVector<?> items = (TagVector<?>) ((FixedSizeListVector) root.getVector("rows")).getDataVector();
            assertEquals(MemoryLocation.cuda(0), items.location());
            assertFalse(items.isNull(3), "validity is host memory");
            assertEquals(0, items.getNullCount());
            assertTrue(items.toString().contains("cuda:0"), items.toString());
            assertTrue(new TypeEqualsVisitor(items).equals(items), "type comparison reads no values");

            refused(() -> items.getObject(0), "getObject");
            refused(() -> items.hashCode(1), "hashCode");
            refused(() -> items.hashCode(1, SimpleHasher.INSTANCE), "hashCode");
            refused(() -> VectorEqualsVisitor.vectorEquals(items, items), "RangeEqualsVisitor");
            refused(items::reAlloc, "reAlloc");
            refused(() -> items.setValueCount(items.getValueCapacity() + 1), "setValueCount");
            refused(items::getReader, "getReader");
            try (FieldVector host = items.getField().createVector(a)) {
                refused(() -> host.copyFromSafe(0, 0, items), "copyFromSafe");
                refused(() -> items.copyFromSafe(0, 0, host), "copyFromSafe");
                TransferPair pair = items.makeTransferPair(host);
                refused(() -> pair.copyValueSafe(0, 0), "copyValueSafe");
            }

            try (VectorSchemaRoot slice = root.slice(3, 5)) {
                TagVector<?> sliced = (TagVector<?>) ((FixedSizeListVector) slice.getVector("rows")).getDataVector();
                assertEquals(MemoryLocation.cuda(0), sliced.location(), "a slice is device memory too");
                assertEquals(
                        FAKE_DEVICE + 3L * WIDTH * tag.bytes,
                        sliced.getDataBuffer().memoryAddress(),
                        "sliced by reference");
                refused(() -> sliced.getObject(0), "getObject");
            }
        }
    }

    @Test
    void deviceTokenBatchesMarkTheirExtensionVectors() {
        try (BufferAllocator a = new RootAllocator();
                ArrowBuf h = ExternalMemory.wrap(a, FAKE_DEVICE, 2L * 4 * 8, () -> {});
                ArrowBuf idx = ExternalMemory.wrap(a, FAKE_DEVICE + 4096, 8L * 4 * 2, () -> {});
                ArrowBuf w = ExternalMemory.wrap(a, FAKE_DEVICE + 8192, 4L * 4 * 2, () -> {});
                TokenBatch batch =
                        TokenBatch.fromBuffers(a, MemoryLocation.cuda(1), HiddenDtype.BF16, 4, 8, 2, h, idx, w)) {
            FixedSizeListVector hidden =
                    (FixedSizeListVector) batch.deviceRoot().getVector("hidden");
            BFloat16Vector items = (BFloat16Vector) hidden.getDataVector();
            assertEquals(MemoryLocation.cuda(1), items.location());
            DeviceMemoryAccessException e = assertThrows(DeviceMemoryAccessException.class, () -> items.getObject(0));
            assertTrue(e.getMessage().contains("cuda:1"), e.getMessage());
            assertThrows(DeviceMemoryAccessException.class, batch::root, "the existing batch-level refusal");
            try (TokenBatch view = batch.sliceRows(a, 1, 2)) {
                BFloat16Vector viewItems = (BFloat16Vector)
                        ((FixedSizeListVector) view.deviceRoot().getVector("hidden")).getDataVector();
                assertEquals(MemoryLocation.cuda(1), viewItems.location());
            }
        }
    }

    @Test
    void hostVectorsAreHostByDefault() {
        try (BufferAllocator a = new RootAllocator();
                FieldVector v = HiddenDtype.BF16.elementField("x").createVector(a)) {
            assertEquals(MemoryLocation.HOST, ((TagVector<?>) v).location());
        }
    }

    private static void refused(Executable call, String operation) {
        DeviceMemoryAccessException e = assertThrows(DeviceMemoryAccessException.class, call, operation);
        assertTrue(e.getMessage().contains(operation) && e.getMessage().contains("cuda:0"), e.getMessage());
    }
}
