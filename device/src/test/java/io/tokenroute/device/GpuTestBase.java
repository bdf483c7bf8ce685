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

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.DeviceMemoryTracker.LiveHandle;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * Shared set-up of the GPU tests: where there is no CUDA every test is skipped with {@link Cuda#unavailableReason()}
 * (per test rather than per class, because build tools report an aborted class as zero tests, hiding the reason);
 * otherwise device 0, the project's kernels and a stream are opened once per class, and after every test the stream
 * must be clean, no CUDA memory leaked and no other stream or event left open.
 */
abstract class GpuTestBase {

    static CudaDevice device;
    static KernelModule module;
    static CudaStream stream;
    static FillKernel fill;

    @BeforeAll
    static void openDevice() {
        if (!Cuda.isAvailable()) {
            return;
        }
        device = CudaDevice.open(0);
        module = KernelModule.load(device);
        stream = CudaStream.create();
        fill = new FillKernel(module);
    }

    @BeforeEach
    void requireCudaAndMakeDeviceCurrent() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        device.makeCurrent();
    }

    @AfterEach
    void noErrorsAndNoLeaks() {
        if (stream == null) {
            return; // skipped: nothing was opened
        }
        stream.synchronize();
        DeviceMemoryTracker.assertNoLeaks();
        List<LiveHandle> open = DeviceMemoryTracker.liveHandles().stream()
                .filter(h -> h.address() != stream.address())
                .toList();
        assertTrue(
                open.isEmpty(),
                () -> "streams or events left open: "
                        + open.stream().map(LiveHandle::describe).toList());
    }

    @AfterAll
    static void closeDevice() {
        if (stream != null) {
            stream.close();
        }
        if (module != null) {
            module.close();
        }
        if (device != null) {
            device.close();
        }
        stream = null;
        module = null;
        device = null;
        fill = null;
    }
}
