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
package io.tokenroute.routing.memory;

import io.tokenroute.arrow.internal.Closeables;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Symmetric memory for ranks that are threads of one JVM: one off-heap Arrow buffer per rank, zero-filled (the
 * protocol's initial state), accounted to the given allocator.
 */
public final class HostSymmetricMemory implements SymmetricMemory {
    private final ArrowBuf[] buffers;
    private final RankRegion[] regions;
    private final long regionBytes;

    /**
     * @param allocator pays for {@code ranks × regionBytes} bytes until {@link #close()}
     * @param ranks R
     * @param regionBytes bytes per rank, at most 2 GiB
     */
    public HostSymmetricMemory(BufferAllocator allocator, int ranks, long regionBytes) {
        if (regionBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a rank region is limited to 2 GiB, this configuration needs "
                    + regionBytes + " bytes: lower maxTokensPerRank, hidden or experts");
        }
        this.regionBytes = regionBytes;
        this.buffers = new ArrowBuf[ranks];
        this.regions = new RankRegion[ranks];
        try {
            for (int r = 0; r < ranks; r++) {
                buffers[r] = allocator.buffer(regionBytes);
                buffers[r].setZero(0, regionBytes);
                regions[r] = new RankRegion(
                        MemoryUtil.directBuffer(buffers[r].memoryAddress(), (int) regionBytes), regionBytes);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public int ranks() {
        return regions.length;
    }

    @Override
    public RankRegion region(int rank) {
        return regions[rank];
    }

    @Override
    public long regionBytes() {
        return regionBytes;
    }

    @Override
    public void close() {
        try {
            Closeables.closeAll(buffers);
        } finally {
            java.util.Arrays.fill(buffers, null);
        }
    }
}
