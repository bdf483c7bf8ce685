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

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * A rank's local view of which peers are masked (1) or active (0), DeepEP polarity. Entries are atomic so an engine
 * thread may mask a peer while the rank's own thread is waiting on it: the wait loop re-reads the mask and gives up on
 * that peer at once. Every new mask entry is published at once ({@link MaskBoard}), so peers learn of it in their next
 * poll; masks only grow between rendezvous, and an entry cleared by the engine ({@link #unmaskLocally}) takes effect
 * at the next rendezvous, which publishes the whole view again. The "newly masked during this call" report belongs to
 * the rank's own thread.
 */
public final class MaskState {
    private final int self;
    private final AtomicIntegerArray masked;
    private final boolean[] newly;
    private int newlyCount;
    private volatile int version;
    private volatile boolean unmaskPending;
    private MaskBoard board;

    public MaskState(int ranks, int self) {
        this.self = self;
        this.masked = new AtomicIntegerArray(ranks);
        this.newly = new boolean[ranks];
    }

    /** Publishes every entry this view gains from now on. */
    void publishTo(MaskBoard publishedMasks) {
        this.board = publishedMasks;
    }

    /** R. */
    public int ranks() {
        return newly.length;
    }

    /** Whether {@code rank} is masked (volatile read). */
    public boolean isMasked(int rank) {
        return masked.get(rank) != 0;
    }

    /**
     * Masks {@code rank} on the engine's request (any thread); not reported as newly masked by a timeout. A rank never
     * masks itself. Returns whether the entry changed.
     */
    public boolean mask(int rank) {
        if (rank == self) {
            throw new IllegalArgumentException("rank " + self + " cannot mask itself");
        }
        if (masked.getAndSet(rank, 1) != 0) {
            return false;
        }
        version++;
        if (board != null) {
            board.publishMasked(rank);
        }
        return true;
    }

    /** Masks {@code rank} because a wait on it timed out (or a peer's view holds it), reporting it for this call. */
    public void maskOnTimeout(int rank) {
        if (mask(rank) && !newly[rank]) {
            newly[rank] = true;
            newlyCount++;
        }
    }

    /**
     * Clears one entry of the local view on the engine's request. Peers still mask the rank and its sequence numbers
     * differ from the group's, so the entry takes effect only at the next rendezvous: until then
     * {@link #unmaskPending()} holds and the buffer refuses dispatch, combine and the collectives.
     */
    public void unmaskLocally(int rank) {
        if (masked.getAndSet(rank, 0) != 0) {
            version++;
            unmaskPending = true;
        }
    }

    /** Whether an entry was cleared since the last rendezvous (which publishes the view and clears this). */
    public boolean unmaskPending() {
        return unmaskPending;
    }

    /** Called by the rendezvous once it published this view for the new generation. */
    void unmaskApplied() {
        unmaskPending = false;
    }

    /** Replaces the whole view (a returning rank adopting a survivor's mask), self active. */
    void replaceWith(long[] words) {
        for (int r = 0; r < newly.length; r++) {
            boolean m = r != self && (words[r >>> 6] & (1L << (r & 63))) != 0;
            masked.set(r, m ? 1 : 0);
        }
        version++;
    }

    /** Changes with every entry that changes: lets a caller see whether the view moved under it (no allocation). */
    public int version() {
        return version;
    }

    /** Starts a call: forgets the previous call's newly-masked report. */
    public void beginCall() {
        if (newlyCount > 0) {
            java.util.Arrays.fill(newly, false);
            newlyCount = 0;
        }
    }

    /**
     * The ranks whose flag is set, ascending: what a call's report gives as its newly-masked list (allocates; for
     * reporting, not the hot path).
     *
     * @param flags one flag per rank
     * @param count how many flags are set (as a report counts them)
     */
    public static int[] ranksOf(boolean[] flags, int count) {
        int[] out = new int[count];
        for (int r = 0, i = 0; r < flags.length; r++) {
            if (flags[r]) {
                out[i++] = r;
            }
        }
        return out;
    }

    /** This call's newly-masked flags, {@code [r]} for rank r: the live array, for reading (a report copies it). */
    public boolean[] newlyFlags() {
        return newly;
    }

    /** A snapshot, 1 = masked. */
    public int[] snapshot() {
        int[] out = new int[newly.length];
        for (int r = 0; r < out.length; r++) {
            out[r] = masked.get(r);
        }
        return out;
    }
}
