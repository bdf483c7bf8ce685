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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.memory.DeviceMemoryAccessException;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.BFloat16Type;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.junit.jupiter.api.Test;

class TokenBatchTest {
    private static final Random RNG = new Random(7);

    static float[] randomFloats(int count) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) RNG.nextGaussian() * 3f;
        }
        return x;
    }

    static long[] randomIdx(int count, int experts) {
        long[] idx = new long[count];
        for (int i = 0; i < count; i++) {
            idx[i] = RNG.nextInt(experts + 1) - 1;
        }
        return idx;
    }

    @Test
    void bf16BatchRoundTripsArraysAndIsTaggedBfloat16() {
        int n = 37, h = 64, k = 4;
        float[] x = randomFloats(n * h);
        long[] idx = randomIdx(n * k, 16);
        float[] w = randomFloats(n * k);
        try (BufferAllocator a = new RootAllocator();
                TokenBatch b = TokenBatch.fromFloats(a, HiddenDtype.BF16, h, x, k, idx, w)) {
            assertEquals(n, b.numTokens());
            assertEquals(h, b.hiddenSize());
            assertEquals(k, b.topK());
            assertEquals(MemoryLocation.HOST, b.location());
            assertArrayEquals(idx, b.topkIdx());
            assertArrayEquals(w, b.topkWeights());
            float[] back = b.hiddenAsFloats();
            short[] bits = b.hiddenBf16Bits();
            for (int i = 0; i < x.length; i++) {
                float ref = referenceBf16(x[i]);
                assertEquals(ref, back[i], 0f, "value " + i);
                assertEquals(Float.floatToIntBits(ref) >>> 16, bits[i] & 0xFFFF);
            }
            ArrowType element = b.root()
                    .getSchema()
                    .findField("hidden")
                    .getChildren()
                    .get(0)
                    .getType();
            assertEquals(BFloat16Type.INSTANCE, element);
            FixedSizeListVector hv = (FixedSizeListVector) b.root().getVector("hidden");
            assertEquals(back[h + 1], ((List<?>) hv.getObject(1)).get(1));
        }
    }

    /** Rounding to nearest even on the dropped 16 bits, by exact integer comparison. */
    private static float referenceBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int lower = bits & 0xFFFF;
        int upper = bits & 0xFFFF0000;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 0x10000) != 0)) {
            upper += 0x10000;
        }
        return Float.intBitsToFloat(upper);
    }

    @Test
    void fp16AndFp32BatchesKeepTheirDtype() {
        int n = 5, h = 8, k = 2;
        float[] x = randomFloats(n * h);
        try (BufferAllocator a = new RootAllocator();
                TokenBatch f32 =
                        TokenBatch.fromFloats(a, HiddenDtype.FP32, h, x, k, randomIdx(n * k, 4), randomFloats(n * k));
                TokenBatch f16 =
                        TokenBatch.fromFloats(a, HiddenDtype.FP16, h, x, k, randomIdx(n * k, 4), randomFloats(n * k))) {
            assertArrayEquals(x, f32.hiddenAsFloats());
            assertEquals(HiddenDtype.FP16, f16.dtype());
            float[] half = f16.hiddenAsFloats();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], half[i], Math.abs(x[i]) * 1e-3f + 1e-4f);
            }
        }
    }

    @Test
    void sliceRowsIsAZeroCopyView() {
        int n = 20, h = 16, k = 3;
        try (BufferAllocator a = new RootAllocator()) {
            TokenBatch b = TokenBatch.fromFloats(
                    a, HiddenDtype.BF16, h, randomFloats(n * h), k, randomIdx(n * k, 8), randomFloats(n * k));
            try (TokenBatch view = b.sliceRows(a, 5, 9)) {
                assertEquals(9, view.numTokens());
                assertEquals(b.hiddenAddress() + 5 * b.hiddenRowBytes(), view.hiddenAddress());
                assertEquals(b.topkIdxAddress() + 5L * k * 8, view.topkIdxAddress());
                long[] all = b.topkIdx();
                long[] part = view.topkIdx();
                for (int i = 0; i < part.length; i++) {
                    assertEquals(all[5 * k + i], part[i]);
                }
                b.close();
                assertEquals(all[5 * k], view.topkIdx()[0], "view outlives its parent");
            }
            assertThrows(IndexOutOfBoundsException.class, () -> {
                try (TokenBatch c = TokenBatch.fromFloats(
                        a, HiddenDtype.BF16, h, randomFloats(n * h), k, randomIdx(n * k, 8), randomFloats(n * k))) {
                    c.sliceRows(a, 15, 6);
                }
            });
        }
    }

    @Test
    void deviceBatchRefusesCpuAccessorsAndFreesOnce() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator()) {
            // Fake device addresses: never dereferenced, which is exactly what the test proves.
            long fake = 0x7f00_0000_0000L;
            ArrowBuf h = ExternalMemory.wrap(a, fake, 4 * 8 * 2, frees::incrementAndGet);
            ArrowBuf idx = ExternalMemory.wrap(a, fake + 4096, 4 * 2 * 8, frees::incrementAndGet);
            ArrowBuf w = ExternalMemory.wrap(a, fake + 8192, 4 * 2 * 4, frees::incrementAndGet);
            try (TokenBatch b =
                    TokenBatch.fromBuffers(a, MemoryLocation.cuda(0), HiddenDtype.BF16, 4, 8, 2, h, idx, w)) {
                h.close();
                idx.close();
                w.close();
                assertEquals(0, frees.get());
                assertEquals(fake, b.hiddenAddress());
                assertEquals(4, b.numTokens());
                DeviceMemoryAccessException e = assertThrows(DeviceMemoryAccessException.class, b::hiddenAsFloats);
                assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
                assertThrows(DeviceMemoryAccessException.class, b::topkIdx);
                assertThrows(DeviceMemoryAccessException.class, b::root);
                VectorSchemaRoot raw = b.deviceRoot();
                assertEquals(0, raw.getVector("hidden").getNullCount(), "validity is host memory");
            }
            assertEquals(3, frees.get());
        }
    }

    @Test
    void closedBatchThrows() {
        try (BufferAllocator a = new RootAllocator()) {
            TokenBatch b = TokenBatch.fromFloats(
                    a, HiddenDtype.BF16, 4, randomFloats(8), 1, new long[] {0, 1}, new float[] {1, 1});
            b.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, b::topkIdx);
            assertTrue(e.getMessage().contains("closed"));
            b.close();
        }
    }
}
