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
package io.tokenroute.routing.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.BufferConfig;
import org.junit.jupiter.api.Test;

/** docs/contract.md §3b.4: the prefill queues' memory is set by the queue sizes, not by the batch size. */
class RegionLayoutTest {

    private static BufferConfig.Builder deepSeekShape() {
        return BufferConfig.builder()
                .ranks(8)
                .experts(256)
                .maxTopK(8)
                .hidden(7168)
                .maxTokensPerRank(128);
    }

    @Test
    void prefillMemoryDoesNotGrowWithTheBatch() {
        long small = deepSeekShape().prefillMaxTokensPerRank(128).build().regionBytes();
        long large = deepSeekShape().prefillMaxTokensPerRank(8192).build().regionBytes();
        assertEquals(small, large, "T = 128 and T = 8192 prefill buffers have the same region");
    }

    @Test
    void prefillQueuesCostWhatTheirShapeSays() {
        BufferConfig without = deepSeekShape().build();
        BufferConfig with = deepSeekShape()
                .prefillMaxTokensPerRank(8192)
                .prefillChunkRows(64)
                .prefillChunks(4)
                .build();
        RegionLayout layout = new RegionLayout(with);
        long queues = 8L * 4 * 64 * (layout.prefillEntryBytes() + RegionLayout.prefillBackEntryRow() + 2L * 7168);
        long extra = with.regionBytes() - without.regionBytes();
        assertTrue(
                extra >= queues && extra < queues + 4096,
                "prefill adds its queues plus a few control words: " + extra + " vs " + queues);
    }

    @Test
    void lowLatencyRegionAtPrefillSizeWouldBeOutOfReach() {
        long lowLatency = deepSeekShape().maxTokensPerRank(4096).build().regionBytes();
        long prefill = deepSeekShape().prefillMaxTokensPerRank(4096).build().regionBytes();
        assertTrue(lowLatency > 10L << 30, "the low-latency layout needs > 10 GiB at T = 4096: " + lowLatency);
        assertTrue(prefill < 1L << 30, "the prefill queues fit in < 1 GiB: " + prefill);
    }
}
