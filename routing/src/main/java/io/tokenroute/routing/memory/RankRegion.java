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

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * One rank's slice of symmetric memory, as seen from the calling process: a base address for bulk bytes and
 * acquire/release/atomic access to 8-byte control words.
 *
 * <p>The protocol keeps every region single-writer: only its owner stores into it, every other rank only loads. A
 * control word published with {@link #setRelease} makes the owner's earlier plain stores (rows, counts) visible to a
 * peer that reads the word with {@link #getAcquire}; the same holds across processes for mapped files, since the
 * accesses compile to ordinary x86-64/AArch64 loads and stores with the corresponding fences.
 */
public final class RankRegion {
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private final ByteBuffer control;
    private final long address;
    private final long size;

    /**
     * @param memory a direct buffer over the region's bytes (at most 2 GiB); control words live in it
     * @param size region size in bytes
     */
    public RankRegion(ByteBuffer memory, long size) {
        if (!memory.isDirect()) {
            throw new IllegalArgumentException("symmetric memory must be a direct buffer");
        }
        this.control = memory;
        this.address = MemoryUtil.getByteBufferAddress(memory);
        this.size = size;
    }

    /** Address of byte {@code offset} in this process. */
    public long address(long offset) {
        return address + offset;
    }

    /** Size in bytes. */
    public long size() {
        return size;
    }

    /** Acquire-load of the 8-byte word at {@code offset} (8-byte aligned). */
    public long getAcquire(int offset) {
        return (long) LONGS.getAcquire(control, offset);
    }

    /** Release-store of the 8-byte word at {@code offset}: earlier stores become visible before it. */
    public void setRelease(int offset, long value) {
        LONGS.setRelease(control, offset, value);
    }

    /**
     * Announces that the data guarded by the word at {@code offset} is about to be rewritten: a release-store followed
     * by a store-store fence, so no store that follows can become visible before the announcement (a release store
     * alone orders only the stores before it; AArch64 would otherwise let a reader see new data under the old word).
     */
    public void announce(int offset, long value) {
        LONGS.setRelease(control, offset, value);
        java.lang.invoke.VarHandle.storeStoreFence();
    }

    /** Atomically sets {@code bits} in the word at {@code offset} (release: earlier stores become visible first). */
    public void orRelease(int offset, long bits) {
        LONGS.getAndBitwiseOrRelease(control, offset, bits);
    }

    /** Atomic add returning the previous value (full fence). */
    public long getAndAdd(int offset, long delta) {
        return (long) LONGS.getAndAdd(control, offset, delta);
    }
}
