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

import static io.tokenroute.arrow.cdata.CStructs.exportedBuffers;
import static io.tokenroute.arrow.cdata.CStructs.sourceBuffers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;

/**
 * Device exports over fake CUDA addresses: the JVM would crash on any CPU read of them, so every test passing also
 * proves that no buffer content was read.
 */
class DeviceExportTest {
    private static final long FAKE_HIDDEN = 0x7f30_0000_0000L;
    private static final long FAKE_IDX = FAKE_HIDDEN + (1 << 20);
    private static final long FAKE_WEIGHTS = FAKE_HIDDEN + (2 << 20);
    private static final long SYNC_EVENT = 0x5eed_0000_1230L;
    private static final int N = 5;
    private static final int H = 16;
    private static final int K = 2;

    /** A bf16 batch on cuda:3 over fake addresses whose ForeignAllocations count their releases in {@code frees}. */
    private static TokenBatch fakeCudaBatch(BufferAllocator a, AtomicInteger frees) {
        try (ArrowBuf h = ExternalMemory.wrap(a, FAKE_HIDDEN, 2L * N * H, frees::incrementAndGet);
                ArrowBuf idx = ExternalMemory.wrap(a, FAKE_IDX, 8L * N * K, frees::incrementAndGet);
                ArrowBuf w = ExternalMemory.wrap(a, FAKE_WEIGHTS, 4L * N * K, frees::incrementAndGet)) {
            return TokenBatch.fromBuffers(a, MemoryLocation.cuda(3), HiddenDtype.BF16, N, H, K, h, idx, w);
        }
    }

    @Test
    void layoutConstantsAreThoseOfAbiH() {
        assertEquals(128, DeviceArrayView.SIZE);
        assertEquals(80, ArrowArrayView.SIZE);
        assertEquals(48, DeviceArrayView.STREAM_SIZE);
        assertEquals(
                List.of(80, 88, 96, 104),
                List.of(
                        DeviceArrayView.DEVICE_ID_OFFSET,
                        DeviceArrayView.DEVICE_TYPE_OFFSET,
                        DeviceArrayView.SYNC_EVENT_OFFSET,
                        DeviceArrayView.RESERVED_OFFSET));
        assertEquals(
                List.of(0, 8, 16, 24, 32, 40, 48, 56, 64, 72),
                List.of(
                        ArrowArrayView.LENGTH_OFFSET,
                        ArrowArrayView.NULL_COUNT_OFFSET,
                        ArrowArrayView.OFFSET_OFFSET,
                        ArrowArrayView.N_BUFFERS_OFFSET,
                        ArrowArrayView.N_CHILDREN_OFFSET,
                        ArrowArrayView.BUFFERS_OFFSET,
                        ArrowArrayView.CHILDREN_OFFSET,
                        ArrowArrayView.DICTIONARY_OFFSET,
                        ArrowArrayView.RELEASE_OFFSET,
                        ArrowArrayView.PRIVATE_DATA_OFFSET));
    }

    @Test
    void everyFieldOfTheDeviceArrayAndReleaseThroughTheApi() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator()) {
            ExportedDeviceBatch exported;
            try (TokenBatch batch = fakeCudaBatch(a, frees)) {
                exported = DeviceExport.export(a, batch, SYNC_EVENT);
            }
            try (exported) {
                long address = exported.deviceArrayAddress();
                DeviceArrayView view = exported.view();
                assertEquals(3, view.deviceId());
                assertEquals(3, MemoryUtil.getLong(address + 80));
                assertEquals(2, view.deviceTypeCode());
                assertEquals(2, MemoryUtil.getInt(address + 88));
                assertEquals(DeviceType.CUDA, view.deviceType());
                assertEquals(MemoryLocation.cuda(3), view.location());
                assertEquals(0, MemoryUtil.getInt(address + 92), "padding");
                assertEquals(SYNC_EVENT, view.syncEvent());
                assertEquals(SYNC_EVENT, MemoryUtil.getLong(address + 96));
                for (int i = 0; i < DeviceArrayView.RESERVED_COUNT; i++) {
                    assertEquals(0, view.reserved(i));
                    assertEquals(0, MemoryUtil.getLong(address + 104 + 8L * i));
                }

                ArrowArrayView array = view.array();
                assertEquals(address, array.address());
                assertEquals(N, array.length());
                assertEquals(0, array.nullCount());
                assertEquals(0, array.offset());
                assertEquals(1, array.bufferCount());
                assertEquals(3, array.childCount());
                assertEquals(0, array.buffer(0));
                assertEquals(0, array.dictionaryAddress());
                assertNotEquals(0, array.releaseCallback());
                assertNotEquals(0, MemoryUtil.getLong(address + 64));
                assertNotEquals(0, array.privateData());
                long[] widths = {H, K, K};
                long[] data = {FAKE_HIDDEN, FAKE_IDX, FAKE_WEIGHTS};
                for (int c = 0; c < 3; c++) {
                    ArrowArrayView list = array.child(c);
                    assertEquals(N, list.length());
                    assertEquals(0, list.nullCount());
                    assertEquals(0, list.offset());
                    assertEquals(1, list.bufferCount());
                    assertEquals(0, list.buffer(0), "no host validity pointer inside a CUDA array");
                    assertEquals(1, list.childCount());
                    ArrowArrayView items = list.child(0);
                    assertEquals(N * widths[c], items.length());
                    assertEquals(0, items.nullCount());
                    assertEquals(0, items.offset());
                    assertEquals(2, items.bufferCount());
                    assertEquals(0, items.buffer(0));
                    assertEquals(data[c], items.buffer(1), "the device address itself");
                    assertEquals(0, items.childCount());
                    assertFalse(items.isReleased());
                }

                assertEquals(0, frees.get(), "the source batch is closed, the export keeps the device memory");
                exported.releaseArray();
                assertTrue(view.isReleased());
                assertEquals(3, frees.get(), "each ForeignAllocation's onLastRelease ran once");
                exported.releaseArray();
            }
            exported.close();
            assertEquals(3, frees.get());
        }
    }

    @Test
    void aCConsumerReleasesThroughTheStructsFunctionPointer() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator()) {
            ExportedDeviceBatch exported;
            try (TokenBatch batch = fakeCudaBatch(a, frees)) {
                exported = DeviceExport.export(a, batch, 0);
            }
            try (exported) {
                assertEquals(0, exported.view().syncEvent());
                ArrowArray.wrap(exported.deviceArrayAddress()).release();
                assertTrue(exported.view().isReleased());
                assertEquals(3, frees.get());
            }
            assertEquals(3, frees.get(), "close does not release again");
        }
    }

    @Test
    void aConsumerThatMovesTheStructReleasesFromItsCopy() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator();
                ArrowBuf consumerCopy = a.buffer(DeviceArrayView.SIZE)) {
            try (TokenBatch batch = fakeCudaBatch(a, frees);
                    ExportedDeviceBatch exported = DeviceExport.export(a, batch, SYNC_EVENT)) {
                // A C consumer's move: shallow copy, then mark the source released.
                MemoryUtil.copyMemory(
                        exported.deviceArrayAddress(), consumerCopy.memoryAddress(), DeviceArrayView.SIZE);
                MemoryUtil.putLong(exported.deviceArrayAddress() + ArrowArrayView.RELEASE_OFFSET, 0);
            }
            assertEquals(0, frees.get(), "the producer's close left the moved array alone");
            DeviceArrayView moved = DeviceArrayView.at(consumerCopy.memoryAddress());
            assertEquals(FAKE_HIDDEN, moved.array().child(0).child(0).buffer(1));
            assertEquals(MemoryLocation.cuda(3), moved.location());
            ArrowArray.wrap(moved.address()).release();
            assertTrue(moved.isReleased());
            assertEquals(3, frees.get());
        }
    }

    @Test
    void cpuLocationKeepsHostValidityAndRefusesASyncEvent() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch batch = RandomTokenBatches.batch(a, new Random(99), HiddenDtype.FP32, 7, 12, 3)) {
            try (ExportedDeviceBatch exported = DeviceExport.export(a, batch, 0)) {
                DeviceArrayView view = exported.view();
                assertEquals(DeviceType.CPU, view.deviceType());
                assertEquals(-1, view.deviceId());
                List<FieldVector> columns = batch.root().getFieldVectors();
                for (int c = 0; c < columns.size(); c++) {
                    assertEquals(
                            sourceBuffers(columns.get(c)),
                            exportedBuffers(view.array().child(c).address()),
                            "validity and data addresses of " + columns.get(c).getName());
                }
            }
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> DeviceExport.export(a, batch, SYNC_EVENT));
            assertTrue(e.getMessage().contains("sync event"), e.getMessage());
        }
    }

    @Test
    void aDeviceRootWithANullIsRefusedWhenNullsAreCounted() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator()) {
            try (ArrowBuf h = ExternalMemory.wrap(a, FAKE_HIDDEN, 4L * N * H, frees::incrementAndGet);
                    ArrowBuf idx = ExternalMemory.wrap(a, FAKE_IDX, 8L * N * K, frees::incrementAndGet);
                    ArrowBuf w = ExternalMemory.wrap(a, FAKE_WEIGHTS, 4L * N * K, frees::incrementAndGet);
                    VectorSchemaRoot root = ColumnViews.load(
                            TokenBatchSchema.schema(HiddenDtype.FP32, H, K), a, N, List.of(h, idx, w))) {
                // Validity bitmaps are host memory, so this write is safe; the data stays untouched.
                root.getVector(TokenBatchSchema.TOPK_IDX).setNull(2);
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class, () -> DeviceExport.export(a, root, MemoryLocation.cuda(3), 0));
                assertTrue(e.getMessage().contains("topk_idx") && e.getMessage().contains("1 nulls"), e.getMessage());
            }
            assertEquals(3, frees.get(), "a refused export leaves no reference behind");
        }
    }
}
