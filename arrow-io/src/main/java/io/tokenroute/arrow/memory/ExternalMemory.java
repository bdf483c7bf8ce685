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
package io.tokenroute.arrow.memory;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.ForeignAllocation;

/**
 * Wraps memory that Arrow did not allocate (CUDA device memory, a mapped file, another library's buffer) as an
 * {@link ArrowBuf}, so it can back Arrow vectors without a copy.
 *
 * <p>The returned buffer is accounted to the given allocator (so a leak shows up when the allocator closes) and its
 * {@code onLastRelease} action runs exactly once, when the last reference to the buffer is released. Arrow never reads
 * the bytes; whether the CPU may is recorded by the caller in a {@link MemoryLocation}.
 */
public final class ExternalMemory {
    private ExternalMemory() {}

    /**
     * Wraps {@code size} bytes at {@code address}.
     *
     * @param allocator the allocator that accounts the memory; it must outlive the buffer
     * @param address the first byte (a device pointer for CUDA memory); must be non-zero unless {@code size == 0}
     * @param size number of bytes, {@code >= 0}
     * @param onLastRelease runs once when the buffer's reference count drops to zero (e.g. {@code cudaFree}); may be
     *     a no-op when someone else owns the memory and outlives the buffer
     * @return a buffer with reference count 1, owned by the caller
     */
    public static ArrowBuf wrap(BufferAllocator allocator, long address, long size, Runnable onLastRelease) {
        Objects.requireNonNull(allocator, "allocator");
        Objects.requireNonNull(onLastRelease, "onLastRelease");
        if (size < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + size);
        }
        if (address == 0 && size > 0) {
            throw new IllegalArgumentException("null address for a buffer of " + size + " bytes");
        }
        return allocator.wrapForeignAllocation(new Allocation(size, address, onLastRelease));
    }

    private static final class Allocation extends ForeignAllocation {
        private final Runnable onLastRelease;
        private final AtomicBoolean released = new AtomicBoolean();

        Allocation(long size, long address, Runnable onLastRelease) {
            super(size, address);
            this.onLastRelease = onLastRelease;
        }

        @Override
        protected void release0() {
            if (released.compareAndSet(false, true)) {
                onLastRelease.run();
            }
        }
    }
}
