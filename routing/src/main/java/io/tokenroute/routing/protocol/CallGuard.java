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

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Who is inside a rank's call, and where it may be stopped: the guard behind "one thread per rank" and behind a
 * {@code close()} that frees the rank's memory even while its thread is stuck inside a call.
 *
 * <p>A call is <em>running</em> while it touches memory, and at a <em>safe point</em> while it parks in a wait or runs
 * a {@link io.tokenroute.routing.launch.PhaseListener} (which may block for ever: that is how tests stop a rank).
 * Leaving a safe point re-checks whether the buffer was closed meanwhile and, if so, throws before touching memory
 * again. So close waits only for a running call to reach its next safe point (microseconds of the rank's own work,
 * never a peer) and then frees everything, whatever the thread does afterwards.
 */
public final class CallGuard {
    private static final int IDLE = 0;
    private static final int RUNNING = 1;
    private static final int SAFE = 2;

    private final int rank;
    private final AtomicReference<Thread> caller = new AtomicReference<>();
    private final AtomicInteger state = new AtomicInteger(IDLE);
    private volatile boolean closing;

    public CallGuard(int rank) {
        this.rank = rank;
    }

    /** Starts call {@code op} on the current thread; fails fast if another thread is inside or the buffer closed. */
    public void enter(String op) {
        Thread me = Thread.currentThread();
        if (!caller.compareAndSet(null, me)) {
            Thread other = caller.get();
            throw new IllegalStateException("rank " + rank + ": " + op + " called from thread " + me.getName()
                    + " while thread " + (other == null ? "?" : other.getName())
                    + " is inside a call on the same buffer; use one thread per rank");
        }
        state.set(RUNNING);
        if (closing) {
            exit();
            throw closed(op);
        }
    }

    /** Ends the current call. */
    public void exit() {
        state.set(IDLE);
        caller.set(null);
    }

    /** Parks the calling rank for up to {@code nanos} at a safe point (close may free memory meanwhile). */
    public void park(long nanos) {
        state.set(SAFE);
        LockSupport.parkNanos(nanos);
        resume();
    }

    /** Enters a safe point: code up to the matching {@link #resume()} touches no buffer memory. */
    public void pause() {
        state.set(SAFE);
    }

    /** Leaves a safe point; throws (before any memory is touched) if the buffer was closed meanwhile. */
    public void resume() {
        state.set(RUNNING);
        if (closing) {
            throw new IllegalStateException("rank " + rank + ": the buffer was closed while this call was inside it");
        }
    }

    /**
     * Marks the buffer closed and waits until no call touches its memory: the caller, if any, is idle, at a safe point,
     * or gone. Safe to call from the call's own thread (from a listener, say): that thread is at a safe point.
     */
    public void close() {
        closing = true;
        Thread inside = caller.get();
        if (inside == null || inside == Thread.currentThread()) {
            return;
        }
        LockSupport.unpark(inside);
        for (int pass = 0; state.get() == RUNNING && caller.get() == inside; pass++) {
            if (pass < 1_000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(10_000);
            }
        }
    }

    private IllegalStateException closed(String op) {
        return new IllegalStateException("rank " + rank + ": the buffer is closed (" + op + ")");
    }
}
