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

import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Process-wide registry of the CUDA resources this package created and that were not released yet, each with the
 * stack of the code that created it: allocations made through {@link DeviceBuffer} and {@link PinnedHostBuffer}, and
 * {@link CudaStream}s and {@link CudaEvent}s.
 *
 * <p>Tests end with {@link #assertNoLeaks()} (buffers) and a look at {@link #liveHandles()}; a long-running process
 * can list {@link #liveBuffers()} and {@link #liveHandles()} at a quiet point. A buffer whose handle is
 * garbage-collected without {@code close()} is logged as a leak (logger {@code io.tokenroute.device}, level WARNING)
 * with its allocation site and stays listed here with ownership {@link Ownership#UNREACHABLE}; its memory is freed only
 * by an explicit {@link #reclaimUnreachable()}. A stream or event garbage-collected without {@code close()} is
 * reported the same way and stays listed as {@linkplain LiveHandle#leaked() leaked}; it is never destroyed behind the
 * program's back (report only).
 */
public final class DeviceMemoryTracker {

    private static final Set<Allocation> LIVE = ConcurrentHashMap.newKeySet();
    private static final Set<TrackedHandle> HANDLES = ConcurrentHashMap.newKeySet();

    private DeviceMemoryTracker() {}

    /** Who is responsible for freeing a live allocation. */
    public enum Ownership {
        /** An open {@link CudaBuffer} handle; its {@code close()} frees the memory. */
        BUFFER,
        /** An {@link org.apache.arrow.memory.ArrowBuf} made by {@code asArrowBufTransferringOwnership}; its last
         * release frees the memory. */
        ARROW,
        /** Nobody: the handle was garbage-collected without {@code close()}. Only {@link #reclaimUnreachable()}
         * frees it. */
        UNREACHABLE
    }

    /**
     * One live allocation.
     *
     * @param id allocation sequence number, unique in the process
     * @param kind device or pinned host memory
     * @param address first byte (a device pointer for {@link MemoryKind#DEVICE})
     * @param size bytes
     * @param deviceId the device that was current when it was allocated
     * @param ownership who frees it
     * @param allocationSite the allocating code's stack, innermost caller first, without this package's buffer
     *     classes
     */
    public record LiveBuffer(
            long id,
            MemoryKind kind,
            long address,
            long size,
            int deviceId,
            Ownership ownership,
            List<StackTraceElement> allocationSite) {

        /** A multi-line description: kind, size, address, ownership, then the allocation stack. */
        public String describe() {
            StringBuilder text = new StringBuilder()
                    .append(kind.name().toLowerCase().replace('_', ' '))
                    .append(" buffer #")
                    .append(id)
                    .append(": ")
                    .append(size)
                    .append(" bytes at 0x")
                    .append(Long.toHexString(address))
                    .append(kind == MemoryKind.DEVICE ? " on cuda:" + deviceId : "")
                    .append(", owned by ")
                    .append(ownership)
                    .append(", allocated at:");
            for (StackTraceElement frame : allocationSite) {
                text.append("\n\tat ").append(frame);
            }
            return text.toString();
        }
    }

    /** The kinds of CUDA handles tracked besides memory. */
    public enum HandleKind {
        /** A {@link CudaStream} ({@code cudaStream_t}). */
        STREAM,
        /** A {@link CudaEvent} ({@code cudaEvent_t}). */
        EVENT
    }

    /**
     * One stream or event that was created and not yet closed.
     *
     * @param id creation sequence number, unique in the process among handles
     * @param kind stream or event
     * @param address the raw {@code cudaStream_t} or {@code cudaEvent_t}
     * @param deviceId the device that was current when it was created
     * @param leaked whether its owner was garbage-collected without {@code close()} (the handle still exists)
     * @param creationSite the creating code's stack, innermost caller first, without this package's handle classes
     */
    public record LiveHandle(
            long id,
            HandleKind kind,
            long address,
            int deviceId,
            boolean leaked,
            List<StackTraceElement> creationSite) {

        /** A multi-line description: kind, handle, device, whether leaked, then the creation stack. */
        public String describe() {
            StringBuilder text = new StringBuilder()
                    .append(kind.name().toLowerCase())
                    .append(" #")
                    .append(id)
                    .append(": 0x")
                    .append(Long.toHexString(address))
                    .append(" on cuda:")
                    .append(deviceId)
                    .append(leaked ? ", LEAKED (unreachable, never closed)" : ", open")
                    .append(", created at:");
            for (StackTraceElement frame : creationSite) {
                text.append("\n\tat ").append(frame);
            }
            return text.toString();
        }
    }

    /** A snapshot of the streams and events not closed yet (leaked ones included), oldest first. */
    public static List<LiveHandle> liveHandles() {
        return HANDLES.stream()
                .sorted(Comparator.comparingLong(h -> h.id))
                .map(h -> new LiveHandle(h.id, h.kind, h.address, h.deviceId, h.isLeaked(), h.site))
                .toList();
    }

    /** A snapshot of the live allocations, oldest first. */
    public static List<LiveBuffer> liveBuffers() {
        return LIVE.stream()
                .sorted(Comparator.comparingLong(a -> a.id))
                .map(a -> new LiveBuffer(a.id, a.kind, a.address, a.size, a.deviceId, a.ownership(), a.site))
                .toList();
    }

    /**
     * Throws if any allocation is still live, listing each with its size and allocation stack.
     *
     * @throws IllegalStateException if {@link #liveBuffers()} is not empty
     */
    public static void assertNoLeaks() {
        List<LiveBuffer> live = liveBuffers();
        if (live.isEmpty()) {
            return;
        }
        long bytes = live.stream().mapToLong(LiveBuffer::size).sum();
        StringBuilder text = new StringBuilder()
                .append(live.size())
                .append(" CUDA buffer(s) still allocated (")
                .append(bytes)
                .append(" bytes):");
        for (LiveBuffer buffer : live) {
            text.append("\n").append(buffer.describe());
        }
        throw new IllegalStateException(text.toString());
    }

    /**
     * Frees the memory of every allocation whose handle was garbage-collected without {@code close()}
     * ({@link Ownership#UNREACHABLE}) and that no ArrowBuf view still reads. Call it only where no queued kernel can
     * still use such memory, e.g. after synchronizing the device.
     *
     * @return how many allocations were freed
     * @throws CudaException if freeing fails
     */
    public static int reclaimUnreachable() {
        int reclaimed = 0;
        for (Allocation allocation : LIVE) {
            if (allocation.reclaimIfUnreachable()) {
                reclaimed++;
            }
        }
        return reclaimed;
    }

    static void register(Allocation allocation) {
        LIVE.add(allocation);
    }

    static void unregister(Allocation allocation) {
        LIVE.remove(allocation);
    }

    static void register(TrackedHandle handle) {
        HANDLES.add(handle);
    }

    static void unregister(TrackedHandle handle) {
        HANDLES.remove(handle);
    }
}
