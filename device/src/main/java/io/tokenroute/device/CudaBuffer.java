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

import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import java.lang.ref.Cleaner;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * A CUDA allocation with a single owner: this handle, until it is closed or hands ownership to an {@link ArrowBuf}.
 *
 * <p>Ownership rules:
 * <ul>
 *   <li>{@link #close()} frees the memory exactly once; further calls do nothing. Freeing implies a device
 *       synchronisation in CUDA, so kernels already queued on the memory finish first.</li>
 *   <li>{@link #toArrowBuf} lends the memory to Arrow without giving it away: the handle stays the owner and must
 *       outlive the returned buffer. Closing the handle while such a view is open throws instead of freeing.</li>
 *   <li>{@link #asArrowBufTransferringOwnership} gives the memory to Arrow: the ArrowBuf's last release frees it and
 *       this handle becomes unusable (its {@code close()} then does nothing).</li>
 *   <li>Every allocation is listed by {@link DeviceMemoryTracker} with its allocation stack until freed. A handle that
 *       is garbage-collected unclosed is logged as a leak and its memory is not freed behind the program's back.</li>
 * </ul>
 * Handles are thread-safe; using the memory from several threads or streams is the caller's ordering problem.
 */
public abstract sealed class CudaBuffer implements AutoCloseable permits DeviceBuffer, PinnedHostBuffer {

    private static final Cleaner CLEANER = Cleaner.create();

    private final Allocation allocation;
    private final Cleaner.Cleanable cleanable;

    CudaBuffer(Allocation allocation) {
        this.allocation = allocation;
        // The action holds the allocation, not this handle, or the handle could never become unreachable.
        this.cleanable = CLEANER.register(this, allocation::handleUnreachable);
    }

    /**
     * The first byte's address: a device pointer for {@link DeviceBuffer} (never dereference it on the CPU), a host
     * pointer for {@link PinnedHostBuffer}. {@code 0} for a zero-byte buffer.
     *
     * @throws IllegalStateException after {@link #close()} or an ownership transfer
     */
    public long address() {
        return allocation.addressForHandle();
    }

    /** Size in bytes, as allocated. */
    public long size() {
        return allocation.size;
    }

    /** The CUDA device that was current on the allocating thread. */
    public int deviceId() {
        return allocation.deviceId;
    }

    /** Device or pinned host memory. */
    public MemoryKind kind() {
        return allocation.kind;
    }

    /** Where the bytes live, as recorded on Arrow batches built over this memory. */
    public abstract MemoryLocation location();

    /** Whether this handle still owns the memory (not closed, not transferred, not reported as leaked). */
    public boolean isOpen() {
        return allocation.isHandleOwned();
    }

    /**
     * An {@link ArrowBuf} over all {@link #size()} bytes that does not own them: its release frees nothing. It is
     * accounted to {@code allocator} (a view still open when the allocator closes is reported by Arrow), and this
     * handle must stay open until the view is released.
     *
     * @param allocator the allocator that accounts the view; it must outlive the view
     * @return a buffer with reference count 1, to be closed by the caller before this handle
     * @throws IllegalStateException if this handle no longer owns the memory
     */
    public ArrowBuf toArrowBuf(BufferAllocator allocator) {
        allocation.openView();
        try {
            return ExternalMemory.wrap(allocator, allocation.address, allocation.size, allocation::closeView);
        } catch (RuntimeException e) {
            allocation.closeView();
            throw e;
        }
    }

    /**
     * An {@link ArrowBuf} that owns the memory from now on: its last release frees it (on whichever thread releases
     * it, with this buffer's device made current for the call). This handle becomes unusable; closing it does nothing.
     * Used to let an Arrow batch own its device buffers.
     *
     * @param allocator the allocator that accounts the memory; it must outlive the returned buffer
     * @return a buffer with reference count 1, owned by the caller
     * @throws IllegalStateException if this handle no longer owns the memory or views made by {@link #toArrowBuf}
     *     are still open
     */
    public ArrowBuf asArrowBufTransferringOwnership(BufferAllocator allocator) {
        allocation.beginTransfer();
        ArrowBuf owner;
        try {
            owner = ExternalMemory.wrap(allocator, allocation.address, allocation.size, allocation::releaseFromArrow);
        } catch (RuntimeException e) {
            allocation.abortTransfer();
            throw e;
        }
        cleanable.clean();
        return owner;
    }

    /**
     * Frees the memory if this handle still owns it; does nothing on later calls or after an ownership transfer.
     *
     * @throws IllegalStateException if views made by {@link #toArrowBuf} are still open (nothing is freed then)
     * @throws CudaException if CUDA fails to free the memory
     */
    @Override
    public void close() {
        allocation.closeFromHandle();
        cleanable.clean();
    }

    @Override
    public String toString() {
        return allocation.describe() + " [" + allocation.stateText() + "]";
    }
}
