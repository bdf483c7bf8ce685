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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class CudaDeviceGpuTest extends GpuTestBase {

    /** The kernels' __launch_bounds__ in tokenroute_config.cuh; the module must report them back. */
    private static final int CONFIGURED_THREADS = 256;

    @Test
    void reportsPropertiesOfASupportedDevice() {
        try (RootAllocator allocator = new RootAllocator()) {
            System.out.println("device: " + device + "; " + Cuda.versions());
            assertFalse(device.name().isBlank());
            assertTrue(device.smCount() > 0);
            assertTrue(device.smClockKHz() > 100_000, device.smClockKHz() + " kHz");
            assertTrue(
                    device.computeCapabilityMajor() * 10 + device.computeCapabilityMinor() >= 90,
                    "the kernels are built for sm_90: " + device);
            assertEquals(MemoryLocation.cuda(0), device.location());
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void everyKernelResolvesWithItsConfiguredBlockSize() {
        try (RootAllocator allocator = new RootAllocator()) {
            for (String name : new String[] {
                "tr_fill",
                "tr_cast_bf16_to_fp32",
                "tr_cast_fp32_to_bf16",
                "tr_cast_fp16_to_bf16",
                "tr_fp8_quantize_bf16"
            }) {
                KernelFunction function = module.function(name);
                System.out.println(function);
                assertSame(function, module.function(name), "cached");
                assertEquals(CONFIGURED_THREADS, function.maxThreadsPerBlock(), name);
                assertTrue(function.residentBlocksPerSm() >= 1, name);
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void unknownKernelsAndBadArgumentsAreRejected() {
        try (RootAllocator allocator = new RootAllocator()) {
            CudaException missing = assertThrows(CudaException.class, () -> module.function("tr_no_such_kernel"));
            assertEquals("CUDA_ERROR_NOT_FOUND", missing.errorName());
            KernelFunction function = module.function("tr_fill");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> module.launch(function, 1, 32, 0, stream, 0L, 0L, 0L, "four"));
            assertThrows(
                    IllegalArgumentException.class, () -> module.launch(function, 1, 2048, 0, stream, 0L, 0L, 0L, 1));
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void aSecondHandleOnTheSameDeviceWorksAndClosesIndependently() {
        try (RootAllocator allocator = new RootAllocator()) {
            try (CudaDevice again = CudaDevice.open(0)) {
                assertEquals(device.name(), again.name());
            }
            device.makeCurrent();
            try (DeviceBuffer buffer = DeviceBuffer.allocate(1024)) {
                fill.fill(buffer.address(), 256, 4, 0x01020304, stream);
                stream.synchronize();
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void aDeviceIsNotItsOwnPeer() {
        assertThrows(IllegalArgumentException.class, () -> device.enablePeerAccess(device));
    }

    @Test
    void peerAccessCopiesBetweenTwoGpusExactly() {
        assumeTrue(Cuda.deviceCount() >= 2, "one GPU: no peer to reach");
        int n = 1 << 20;
        int[] sent = new Random(7).ints(n).toArray();
        int[] back = new int[n];
        Arrays.fill(back, 0xA5A5A5A5);
        try (CudaDevice other = CudaDevice.open(1)) {
            assertTrue(device.enablePeerAccess(other), "H200s of one host reach each other over NVLink");
            assertTrue(device.enablePeerAccess(other), "enabling twice is harmless");
            other.makeCurrent();
            try (DeviceBuffer remote = DeviceBuffer.allocate(4L * n)) {
                device.makeCurrent();
                try (DeviceBuffer local = DeviceBuffer.allocate(4L * n);
                        DeviceBuffer again = DeviceBuffer.allocate(4L * n)) {
                    Memcpy.toDevice(local.address(), sent, stream);
                    Memcpy.deviceToDevice(remote.address(), local.address(), 4L * n, stream);
                    Memcpy.deviceToDevice(again.address(), remote.address(), 4L * n, stream);
                    Memcpy.toHost(back, again.address(), stream);
                    stream.synchronize();
                }
            }
        }
        assertArrayEquals(sent, back, "GPU 0 -> GPU 1 -> GPU 0 round trip");
    }
}
