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
package io.tokenroute.routing.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.DeviceMemoryTracker;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.testkit.RankInput;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * What the {@code cuda-local} GPU tests share: device 0 for the class, a leak-checked allocator per test (device
 * memory checked too), the group configuration and the random inputs of every rank. Skips with the reason where CUDA is
 * unavailable.
 */
abstract class CudaLocalGpuBase {
    protected static CudaDevice device;
    protected BufferAllocator allocator;

    @BeforeAll
    static void openDevice() {
        if (Cuda.isAvailable()) {
            device = CudaDevice.open(0);
        }
    }

    @AfterAll
    static void closeDevice() {
        if (device != null) {
            device.close();
            device = null;
        }
    }

    @BeforeEach
    void requireCuda() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        device.makeCurrent();
        allocator = new RootAllocator();
    }

    @AfterEach
    void noLeaks() {
        if (allocator != null) {
            allocator.close();
            allocator = null;
        }
        DeviceMemoryTracker.assertNoLeaks();
    }

    protected static BufferConfig config(
            int ranks,
            int experts,
            int topK,
            int hidden,
            int maxTokens,
            boolean elastic,
            Duration timeout,
            HiddenDtype dtype) {
        return BufferConfig.builder()
                .ranks(ranks)
                .experts(experts)
                .maxTopK(topK)
                .hidden(hidden)
                .maxTokensPerRank(maxTokens)
                .elastic(elastic)
                .timeout(timeout)
                .dtype(dtype)
                .collectiveBytes(256)
                .build();
    }

    protected static RankInput[] inputs(
            int ranks, long seed, int step, int maxTokens, int hidden, int topK, int experts) {
        RankInput[] in = new RankInput[ranks];
        for (int r = 0; r < ranks; r++) {
            in[r] = switch ((step + r) % 4) {
                case 0 -> RankInput.random(new Random(seed + 31L * step + r), 0, hidden, topK, experts);
                case 1 -> RankInput.random(new Random(seed + 31L * step + r), maxTokens, hidden, topK, experts);
                default -> RankInput.random(seed, step, r, maxTokens, hidden, topK, experts, true);
            };
        }
        return in;
    }

    protected static boolean[] without(int ranks, int... absent) {
        boolean[] out = new boolean[ranks];
        Arrays.fill(out, true);
        for (int a : absent) {
            out[a] = false;
        }
        return out;
    }

    protected static boolean[][] each(int ranks, boolean[] row) {
        boolean[][] out = new boolean[ranks][];
        for (int r = 0; r < ranks; r++) {
            out[r] = row.clone();
        }
        return out;
    }
}
