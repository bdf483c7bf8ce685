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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Runs everywhere: the probe must never crash, and without CUDA every entry point must fail with the reason. */
class CudaAvailabilityTest {

    @Test
    void probeIsConsistentAndDoesNotCrash() {
        boolean available = Cuda.isAvailable();
        assertEquals(available, Cuda.unavailableReason().isEmpty(), "reason present exactly when unavailable");
        assertEquals(available, Cuda.deviceCount() > 0);
        assertFalse(Cuda.versions().isEmpty());
        System.out.println("CUDA: "
                + (available
                        ? Cuda.deviceCount() + " device(s), " + Cuda.versions()
                        : "unavailable: " + Cuda.unavailableReason()));
    }

    @Test
    void withoutCudaEveryEntryPointThrowsTheReason() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available on this machine; the GPU tests cover it");
        String reason = Cuda.unavailableReason();
        assertFalse(reason.isBlank());
        assertUnavailable(() -> CudaDevice.open(0), reason);
        assertUnavailable(() -> DeviceBuffer.allocate(16), reason);
        assertUnavailable(() -> PinnedHostBuffer.allocate(16), reason);
        assertUnavailable(CudaStream::create, reason);
        assertUnavailable(CudaEvent::create, reason);
        assertUnavailable(() -> Memcpy.deviceToDevice(256, 512, 16), reason);
    }

    @Test
    void withoutCudaLoadingTheKernelModuleThrowsTheReason() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available on this machine; the GPU tests cover it");
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> {
            try (CudaDevice device = CudaDevice.open(0);
                    KernelModule module = KernelModule.load(device)) {
                module.function("tr_fill");
            }
        });
        assertTrue(e.getMessage().contains(Cuda.unavailableReason()), e.getMessage());
    }

    private static void assertUnavailable(Executable call, String reason) {
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, call);
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }
}
