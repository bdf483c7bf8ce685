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

import io.tokenroute.device.DeviceMemoryTracker.HandleKind;
import java.lang.System.Logger.Level;
import java.lang.ref.Cleaner;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The bookkeeping behind one {@link CudaStream} or {@link CudaEvent}: its kind, raw handle, device, where it was
 * created, and the one call that destroys it. Listed by {@link DeviceMemoryTracker} from creation until destroyed.
 *
 * <p>Separate from the owning object for the same reason as {@link Allocation}: the {@link Cleaner} action holds this
 * record, never the owner, so an owner dropped without {@code close()} can become unreachable and be reported. The
 * report is all that happens then: the handle is not destroyed from the cleaner's thread (work may still be queued on
 * the stream, or another object may have copied the raw handle), and the record stays listed as leaked.
 */
final class TrackedHandle {

    private static final System.Logger LOG = System.getLogger("io.tokenroute.device");
    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong IDS = new AtomicLong();
    private static final int SITE_FRAMES = 24;
    /** Frames of these classes are the creating machinery, not the creation site worth reporting. */
    private static final Set<String> INTERNAL =
            Set.of(TrackedHandle.class.getName(), CudaStream.class.getName(), CudaEvent.class.getName());

    final long id;
    final HandleKind kind;
    final long address;
    final int deviceId;
    final List<StackTraceElement> site;
    private final Runnable destroy;
    private Cleaner.Cleanable cleanable;
    private boolean destroyed;
    private boolean leaked;

    /**
     * Registers a freshly created handle with the {@link DeviceMemoryTracker}.
     *
     * @param destroy destroys the handle; called at most once, by {@link #close()}
     */
    TrackedHandle(HandleKind kind, long address, int deviceId, Runnable destroy) {
        this.id = IDS.incrementAndGet();
        this.kind = kind;
        this.address = address;
        this.deviceId = deviceId;
        this.destroy = destroy;
        this.site = StackWalker.getInstance()
                .walk(frames -> frames.dropWhile(f -> INTERNAL.contains(f.getClassName()))
                        .limit(SITE_FRAMES)
                        .map(StackWalker.StackFrame::toStackTraceElement)
                        .toList());
        DeviceMemoryTracker.register(this);
    }

    /** Reports {@code owner} as a leak if it becomes unreachable before {@link #close()}; called once by the owner. */
    void watch(Object owner) {
        // The action refers to this record only, or the owner could never become unreachable.
        cleanable = CLEANER.register(owner, this::ownerUnreachable);
    }

    synchronized boolean isLeaked() {
        return leaked;
    }

    /**
     * Destroys the handle once: marks first, so a failing destroy call is not retried, and stops the leak watch.
     * Later calls do nothing.
     */
    void close() {
        synchronized (this) {
            if (destroyed) {
                return;
            }
            destroyed = true;
            DeviceMemoryTracker.unregister(this);
        }
        try {
            destroy.run();
        } finally {
            if (cleanable != null) {
                cleanable.clean();
            }
        }
    }

    /** The cleaner action; also runs, doing nothing, when {@link #close()} deregisters it. */
    synchronized void ownerUnreachable() {
        if (destroyed || leaked) {
            return;
        }
        leaked = true;
        LOG.log(
                Level.WARNING,
                () -> "LEAK: " + describe() + " became unreachable without close(); it is not"
                        + " destroyed (report only) and stays listed by DeviceMemoryTracker.liveHandles(). Created at:"
                        + siteText());
    }

    String describe() {
        return kind.name().toLowerCase() + " #" + id + " (0x" + Long.toHexString(address) + " on cuda:" + deviceId
                + ")";
    }

    String siteText() {
        StringBuilder text = new StringBuilder();
        for (StackTraceElement frame : site) {
            text.append("\n\tat ").append(frame);
        }
        return text.toString();
    }
}
