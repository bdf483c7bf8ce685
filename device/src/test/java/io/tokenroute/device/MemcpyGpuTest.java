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
package io.tokenroute.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class MemcpyGpuTest extends GpuTestBase {

    private static final int N = 100_003;

    @Test
    void javaArraysRoundTripThroughTheDevice() {
        Random random = new Random(11);
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(8L * N)) {
            byte[] bytes = new byte[N];
            random.nextBytes(bytes);
            byte[] bytesBack = new byte[N];
            Memcpy.toDevice(buffer.address(), bytes, stream);
            Memcpy.toHost(bytesBack, buffer.address(), stream);
            assertArrayEquals(bytes, bytesBack);

            short[] shorts = new short[N];
            for (int i = 0; i < N; i++) {
                shorts[i] = (short) random.nextInt();
            }
            short[] shortsBack = new short[N];
            Memcpy.toDevice(buffer.address(), shorts, stream);
            Memcpy.toHost(shortsBack, buffer.address(), stream);
            assertArrayEquals(shorts, shortsBack);

            int[] ints = random.ints(N).toArray();
            int[] intsBack = new int[N];
            Memcpy.toDevice(buffer.address(), ints, stream);
            Memcpy.toHost(intsBack, buffer.address(), stream);
            assertArrayEquals(ints, intsBack);

            long[] longs = random.longs(N).toArray();
            long[] longsBack = new long[N];
            Memcpy.toDevice(buffer.address(), longs, stream);
            Memcpy.toHost(longsBack, buffer.address(), stream);
            assertArrayEquals(longs, longsBack);

            float[] floats = new float[N];
            for (int i = 0; i < N; i++) {
                floats[i] = Float.intBitsToFloat(random.nextInt());
            }
            float[] floatsBack = new float[N];
            Memcpy.toDevice(buffer.address(), floats, stream);
            Memcpy.toHost(floatsBack, buffer.address(), stream);
            for (int i = 0; i < N; i++) {
                assertEquals(Float.floatToRawIntBits(floats[i]), Float.floatToRawIntBits(floatsBack[i]), "at " + i);
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void rawAddressesSyncAndAsyncThroughPinnedMemory() {
        long bytes = 4L * N;
        try (RootAllocator allocator = new RootAllocator();
                PinnedHostBuffer source = PinnedHostBuffer.allocate(bytes);
                PinnedHostBuffer target = PinnedHostBuffer.allocate(bytes);
                DeviceBuffer a = DeviceBuffer.allocate(bytes);
                DeviceBuffer b = DeviceBuffer.allocate(bytes + 64)) {
            try (ArrowBuf in = source.toArrowBuf(allocator);
                    ArrowBuf out = target.toArrowBuf(allocator)) {
                for (int i = 0; i < N; i++) {
                    in.setInt(4L * i, i * 0x9E3779B9);
                }
                // Synchronous: host -> a -> b (at an odd offset) -> host.
                Memcpy.hostToDevice(a.address(), source.address(), bytes);
                Memcpy.deviceToDevice(b.address() + 12, a.address(), bytes);
                out.setZero(0, bytes);
                Memcpy.deviceToHost(target.address(), b.address() + 12, bytes);
                assertBytesEqual(in, out, bytes);

                // The same on the stream.
                out.setZero(0, bytes);
                Memcpy.hostToDevice(b.address(), source.address(), bytes, stream);
                Memcpy.deviceToDevice(a.address(), b.address(), bytes, stream);
                Memcpy.deviceToHost(target.address(), a.address(), bytes, stream);
                stream.synchronize();
                assertBytesEqual(in, out, bytes);
            }
        }
    }

    private static void assertBytesEqual(ArrowBuf expected, ArrowBuf actual, long bytes) {
        for (long i = 0; i < bytes; i += 4) {
            assertEquals(expected.getInt(i), actual.getInt(i), "at byte " + i);
        }
    }
}
