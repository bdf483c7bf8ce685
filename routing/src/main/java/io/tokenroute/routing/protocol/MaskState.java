package io.tokenroute.routing.protocol;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * A rank's local view of which peers are masked (1) or active (0), DeepEP polarity. Entries are atomic so an engine
 * thread may mask a peer while the rank's own thread is waiting on it: the wait loop re-reads the mask and gives up on
 * that peer at once. The "newly masked during this call" report belongs to the rank's own thread.
 */
public final class MaskState {
    private final int self;
    private final AtomicIntegerArray masked;
    private final boolean[] newly;
    private int newlyCount;

    public MaskState(int ranks, int self) {
        this.self = self;
        this.masked = new AtomicIntegerArray(ranks);
        this.newly = new boolean[ranks];
    }

    /** R. */
    public int ranks() {
        return newly.length;
    }

    /** Whether {@code rank} is masked (volatile read). */
    public boolean isMasked(int rank) {
        return masked.get(rank) != 0;
    }

    /** Sets or clears one entry; a rank never masks itself. Returns whether the entry changed. */
    public boolean set(int rank, boolean mask) {
        if (rank == self && mask) {
            throw new IllegalArgumentException("rank " + self + " cannot mask itself");
        }
        return masked.getAndSet(rank, mask ? 1 : 0) != (mask ? 1 : 0);
    }

    /** Masks {@code rank} because a wait on it timed out, and reports it in this call's newly-masked set. */
    public void maskOnTimeout(int rank) {
        if (set(rank, true) && !newly[rank]) {
            newly[rank] = true;
            newlyCount++;
        }
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
     * @param count how many flags are set (as {@link #copyNewly} returns it)
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

    /** Copies this call's newly-masked flags into {@code out} (length R) and returns how many are set. */
    public int copyNewly(boolean[] out) {
        System.arraycopy(newly, 0, out, 0, newly.length);
        return newlyCount;
    }

    /** Number of active ranks, self included. */
    public int activeCount() {
        int n = 0;
        for (int r = 0; r < newly.length; r++) {
            n += masked.get(r) == 0 ? 1 : 0;
        }
        return n;
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
