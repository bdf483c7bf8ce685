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

import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * The bookkeeping behind one {@link CudaBuffer}: address, size, where it was allocated, who owns it now, how many
 * non-owning {@link org.apache.arrow.memory.ArrowBuf} views are open, and the one call that frees it.
 *
 * <p>It is deliberately a separate object from the buffer handle: the {@link java.lang.ref.Cleaner} action and the
 * Arrow release callbacks hold this object, never the handle, so a handle can become unreachable (and be reported)
 * while its memory is still described here. All state changes are synchronized on this object; none is on a hot path.
 */
final class Allocation {

    private static final System.Logger LOG = System.getLogger("io.tokenroute.device");
    private static final AtomicLong IDS = new AtomicLong();
    private static final int SITE_FRAMES = 24;
    /** Frames of these classes are the allocation machinery, not the allocation site worth reporting. */
    private static final Set<String> INTERNAL = Set.of(
            Allocation.class.getName(),
            CudaBuffer.class.getName(),
            DeviceBuffer.class.getName(),
            PinnedHostBuffer.class.getName());

    final long id;
    final MemoryKind kind;
    final long address;
    final long size;
    final int deviceId;
    final List<StackTraceElement> site;
    private final LongConsumer release;

    private DeviceMemoryTracker.Ownership ownership = DeviceMemoryTracker.Ownership.BUFFER;
    private int openViews;
    private boolean freed;

    /**
     * Registers a fresh allocation with the {@link DeviceMemoryTracker}.
     *
     * @param release frees {@code address}; called at most once, from whichever thread frees
     */
    Allocation(MemoryKind kind, long address, long size, int deviceId, LongConsumer release) {
        this.id = IDS.incrementAndGet();
        this.kind = kind;
        this.address = address;
        this.size = size;
        this.deviceId = deviceId;
        this.release = release;
        this.site = StackWalker.getInstance()
                .walk(frames -> frames.dropWhile(f -> INTERNAL.contains(f.getClassName()))
                        .limit(SITE_FRAMES)
                        .map(StackWalker.StackFrame::toStackTraceElement)
                        .toList());
        DeviceMemoryTracker.register(this);
    }

    synchronized DeviceMemoryTracker.Ownership ownership() {
        return ownership;
    }

    /** The address for use by the owning handle; refuses once the handle gave the memory up. */
    synchronized long addressForHandle() {
        requireHandleOwned("address()");
        return address;
    }

    synchronized boolean isHandleOwned() {
        return ownership == DeviceMemoryTracker.Ownership.BUFFER && !freed;
    }

    synchronized void openView() {
        requireHandleOwned("toArrowBuf()");
        openViews++;
    }

    synchronized void closeView() {
        openViews--;
    }

    /**
     * Frees on behalf of the handle's {@code close()}: once only, and never under open views, whose readers would
     * then touch freed memory.
     */
    synchronized void closeFromHandle() {
        if (freed || ownership != DeviceMemoryTracker.Ownership.BUFFER) {
            return;
        }
        if (openViews > 0) {
            throw new IllegalStateException(describe() + ": close() with " + openViews
                    + " ArrowBuf view(s) still open; close the views first (the buffer must outlive them)");
        }
        free();
    }

    synchronized void beginTransfer() {
        requireHandleOwned("asArrowBufTransferringOwnership()");
        if (openViews > 0) {
            throw new IllegalStateException(
                    describe() + ": cannot transfer ownership with " + openViews + " ArrowBuf view(s) open");
        }
        ownership = DeviceMemoryTracker.Ownership.ARROW;
    }

    /** Undoes {@link #beginTransfer()} when wrapping the memory failed, so the handle still frees it. */
    synchronized void abortTransfer() {
        ownership = DeviceMemoryTracker.Ownership.BUFFER;
    }

    /** The transferred ArrowBuf's last release. */
    synchronized void releaseFromArrow() {
        if (!freed) {
            free();
        }
    }

    /**
     * The {@link java.lang.ref.Cleaner} action of the handle; also runs, doing nothing, when the handle deregisters
     * it after close or transfer. The memory is not freed here: the raw address may still be in a queued kernel or
     * in another object that copied it, and freeing from the GC thread would turn a leak into a use-after-free.
     */
    synchronized void handleUnreachable() {
        if (freed || ownership != DeviceMemoryTracker.Ownership.BUFFER) {
            return;
        }
        ownership = DeviceMemoryTracker.Ownership.UNREACHABLE;
        LOG.log(
                Level.WARNING,
                () -> "LEAK: " + describe()
                        + " became unreachable without close(); it stays allocated until"
                        + " DeviceMemoryTracker.reclaimUnreachable(). Allocated at:" + siteText());
    }

    /** Frees an allocation whose handle was collected unclosed, unless views still read it; true if freed. */
    synchronized boolean reclaimIfUnreachable() {
        if (freed || ownership != DeviceMemoryTracker.Ownership.UNREACHABLE || openViews > 0) {
            return false;
        }
        free();
        return true;
    }

    /** Marks first and frees second, so the memory is released at most once even if the CUDA call throws. */
    private void free() {
        freed = true;
        DeviceMemoryTracker.unregister(this);
        release.accept(address);
    }

    private void requireHandleOwned(String what) {
        if (freed && ownership == DeviceMemoryTracker.Ownership.BUFFER) {
            throw new IllegalStateException(describe() + ": " + what + " after close()");
        }
        if (ownership == DeviceMemoryTracker.Ownership.ARROW) {
            throw new IllegalStateException(describe() + ": " + what
                    + " after asArrowBufTransferringOwnership(); the ArrowBuf owns the memory now");
        }
        if (ownership == DeviceMemoryTracker.Ownership.UNREACHABLE) {
            throw new IllegalStateException(describe() + ": " + what + " on a buffer reported as leaked");
        }
    }

    synchronized String stateText() {
        return switch (ownership) {
            case BUFFER -> freed ? "closed" : "open";
            case ARROW -> freed ? "freed by its ArrowBuf" : "owned by an ArrowBuf";
            case UNREACHABLE -> freed ? "leaked, then reclaimed" : "leaked: unreachable, never closed";
        };
    }

    String describe() {
        String where = kind == MemoryKind.DEVICE ? "cuda:" + deviceId : "pinned host";
        return kind.name().toLowerCase().replace('_', ' ') + " buffer #" + id + " (" + size + " bytes at 0x"
                + Long.toHexString(address) + ", " + where + ")";
    }

    String siteText() {
        StringBuilder text = new StringBuilder();
        for (StackTraceElement frame : site) {
            text.append("\n\tat ").append(frame);
        }
        return text.toString();
    }
}
