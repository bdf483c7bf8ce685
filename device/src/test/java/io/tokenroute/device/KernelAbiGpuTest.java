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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.device.DeviceMemoryTracker.HandleKind;
import io.tokenroute.device.DeviceMemoryTracker.LiveHandle;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The Java ↔ CUDA contract on a real module: the kernels' parameter sizes as the driver reports them, launches whose
 * arguments do not fit refused before the driver sees them, the module's ABI fingerprint, and streams and events
 * tracked like device memory.
 */
class KernelAbiGpuTest extends GpuTestBase {

    @Test
    void theModuleCarriesTheFingerprintOfThisBuildsAbi() {
        assertEquals(OptionalLong.of(KernelAbi.bundled().fingerprint()), module.abiFingerprint());
    }

    @Test
    void everyKernelReportsTheParameterSizesOfItsSignature() {
        KernelAbi abi = KernelAbi.bundled();
        long batch = abi.value("batch.bytes");
        Map<String, long[]> signatures = Map.ofEntries(
                Map.entry("tr_fill", new long[] {8, 8, 8, 4}),
                Map.entry("tr_cast_bf16_to_fp32", new long[] {8, 8, 8}),
                Map.entry("tr_cast_fp32_to_bf16", new long[] {8, 8, 8}),
                Map.entry("tr_cast_fp16_to_bf16", new long[] {8, 8, 8}),
                Map.entry("tr_fp8_quantize_bf16", new long[] {8, 8, 8, 8, 4, 4}),
                Map.entry("tr_ep_dispatch_send", new long[] {abi.value("batch.send.bytes"), 4}),
                Map.entry("tr_ep_dispatch_wait", new long[] {batch, 8, 4}),
                Map.entry("tr_ep_dispatch_copy", new long[] {batch}),
                Map.entry("tr_ep_combine_send", new long[] {batch}),
                Map.entry("tr_ep_combine_wait", new long[] {batch, 8}),
                Map.entry("tr_ep_combine_reduce", new long[] {abi.value("batch.reduce.bytes")}),
                Map.entry("tr_ep_sync_arrive", new long[] {8, 8}),
                Map.entry("tr_ep_sync_wait", new long[] {8, 8, 4, 4}),
                Map.entry("tr_ep_clean", new long[] {8, 8}),
                Map.entry("tr_ep_spin", new long[] {8, 8}));
        for (Map.Entry<String, long[]> kernel : signatures.entrySet()) {
            assertArrayEquals(
                    kernel.getValue(), module.function(kernel.getKey()).parameterSizes(), kernel.getKey());
        }
    }

    @Test
    void launchesThatDoNotFitTheKernelAreRefused() {
        try (RootAllocator allocator = new RootAllocator()) {
            KernelFunction reduce = module.function("tr_ep_combine_reduce");
            long struct = reduce.parameterSizes()[0];
            IllegalArgumentException size =
                    assertThrows(IllegalArgumentException.class, () -> new KernelLaunch(reduce, struct + 16));
            assertTrue(size.getMessage().contains("tr_ep_combine_reduce"), size.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new KernelLaunch(reduce, struct, 8L));

            KernelFunction fill = module.function("tr_fill");
            try (KernelLaunch launch = new KernelLaunch(fill, 4)) {
                IllegalArgumentException half =
                        assertThrows(IllegalArgumentException.class, () -> launch.setInt(1, 16));
                assertTrue(half.getMessage().contains("parameter 1 of tr_fill is 8 bytes"), half.getMessage());
                assertThrows(IllegalArgumentException.class, () -> launch.setLong(3, 4L));
                launch.setLong(0, 0L).setLong(1, 0L).setLong(2, 0L).setInt(3, 4);
            }
            assertThrows(
                    IllegalArgumentException.class,
                    () -> module.launch(fill, 1, 32, 0, stream, 0L, 16, 0L, 4),
                    "an Integer for int64_t count");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> module.launch(fill, 1, 32, 0, stream, 0L, 16L, 0L),
                    "three arguments for four parameters");
        }
    }

    @Test
    void streamsAndEventsAreListedWithTheirCreationSiteUntilClosed() {
        long before = DeviceMemoryTracker.liveHandles().size();
        try (CudaStream other = CudaStream.create(CudaStream.NON_BLOCKING);
                CudaEvent event = CudaEvent.create()) {
            List<LiveHandle> live = DeviceMemoryTracker.liveHandles();
            assertEquals(before + 2, live.size());
            LiveHandle streamHandle = find(live, other.address());
            LiveHandle eventHandle = find(live, event.address());
            assertEquals(HandleKind.STREAM, streamHandle.kind());
            assertEquals(HandleKind.EVENT, eventHandle.kind());
            assertEquals(device.ordinal(), streamHandle.deviceId());
            assertFalse(eventHandle.leaked());
            assertEquals(
                    "streamsAndEventsAreListedWithTheirCreationSiteUntilClosed",
                    streamHandle.creationSite().get(0).getMethodName(),
                    streamHandle.describe());
        }
        assertEquals(before, DeviceMemoryTracker.liveHandles().size());
    }

    private static LiveHandle find(List<LiveHandle> handles, long address) {
        return handles.stream()
                .filter(h -> h.address() == address)
                .findFirst()
                .orElseThrow(() -> new AssertionError("0x" + Long.toHexString(address) + " not in " + handles));
    }
}
