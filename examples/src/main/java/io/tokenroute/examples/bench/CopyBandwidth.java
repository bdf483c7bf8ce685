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
package io.tokenroute.examples.bench;

import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.Memcpy;
import java.util.Arrays;

/**
 * The limit the GPU benchmarks report against, measured in the same run: {@code cudaMemcpyAsync} of a large buffer
 * within one GPU (device-to-device copy bandwidth) or from one GPU to another (NVLink, with peer access enabled:
 * without it the runtime stages the copy through host memory), timed with CUDA events, median of 20 after 3 warm-up
 * copies.
 */
final class CopyBandwidth {
    private CopyBandwidth() {}

    /**
     * Bytes per second of a {@code bytes} copy from GPU {@code from} to GPU {@code to}. Within one GPU the copy reads
     * and writes every byte there, so both count (as the benchmarks count a routed row once read and once written);
     * across GPUs each byte crosses the link once.
     */
    static double measure(int from, int to, long bytes) {
        try (CudaDevice src = CudaDevice.open(from);
                CudaDevice dst = CudaDevice.open(to)) {
            if (from != to && !src.enablePeerAccess(dst)) {
                throw new IllegalStateException("GPU " + from + " cannot reach GPU " + to + " directly");
            }
            dst.makeCurrent();
            try (DeviceBuffer b = DeviceBuffer.allocate(bytes)) {
                src.makeCurrent();
                try (DeviceBuffer a = DeviceBuffer.allocate(bytes);
                        CudaStream s = CudaStream.create(CudaStream.NON_BLOCKING);
                        CudaEvent start = CudaEvent.create();
                        CudaEvent end = CudaEvent.create()) {
                    double[] ms = new double[20];
                    for (int i = -3; i < ms.length; i++) {
                        start.record(s);
                        Memcpy.deviceToDevice(b.address(), a.address(), bytes, s);
                        end.record(s);
                        end.synchronize();
                        if (i >= 0) {
                            ms[i] = CudaEvent.elapsedMillis(start, end);
                        }
                    }
                    Arrays.sort(ms);
                    return (from == to ? 2.0 : 1.0) * bytes / (ms[ms.length / 2] * 1e-3);
                }
            }
        }
    }
}
