package io.tokenroute.routing.protocol;

import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import java.util.concurrent.locks.LockSupport;

/**
 * Waits for a condition on several peers at once, with the elastic semantics of spec §3: all pending peers are polled
 * in one loop (so several dead peers cost one timeout, not one each), the mask is re-read on every pass, and a peer
 * that stays silent past the timeout is masked (elastic) or fails the operation (non-elastic).
 *
 * <p>The loop spins briefly, then yields, then parks for an eighth of the time waited so far (at most 500 µs): short
 * waits stay fast, while long waits wake up rarely and leave the CPU to the ranks they wait for when there are more
 * ranks than cores (a waiter that woke every few microseconds would starve the very rank it waits for).
 */
public final class Waiter {
    private static final int SPINS = 128;
    private static final int YIELDS = 256;
    private static final long MAX_PARK_NANOS = 500_000;

    /** The condition a peer must meet; implementations are reused across calls (no allocation per wait). */
    @FunctionalInterface
    public interface PeerCondition {
        boolean isMet(int peer);
    }

    private final int self;
    private final boolean elastic;
    private final MaskState mask;
    private volatile long timeoutNanos;

    public Waiter(int self, boolean elastic, MaskState mask, long timeoutNanos) {
        this.self = self;
        this.elastic = elastic;
        this.mask = mask;
        this.timeoutNanos = timeoutNanos;
    }

    public long timeoutNanos() {
        return timeoutNanos;
    }

    public void setTimeoutNanos(long nanos) {
        if (nanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive, got " + nanos + " ns");
        }
        timeoutNanos = nanos;
    }

    /**
     * Waits until every peer flagged in {@code pending} meets {@code condition} or is masked. On return every entry
     * of {@code pending} is false; {@code met[p]} says whether peer p met the condition (false: masked before or
     * during the wait).
     *
     * @param waitCost if non-null, the nanoseconds spent waiting for each peer are added to it
     * @throws PeerTimeoutException in non-elastic mode when a peer stays silent past the timeout
     */
    public void awaitAll(boolean[] pending, boolean[] met, PeerCondition condition, Phase phase, long[] waitCost) {
        long start = System.nanoTime();
        int remaining = 0;
        for (int p = 0; p < pending.length; p++) {
            met[p] = false;
            remaining += pending[p] ? 1 : 0;
        }
        for (int pass = 0; remaining > 0; pass++) {
            long now = System.nanoTime();
            for (int p = 0; p < pending.length; p++) {
                if (!pending[p]) {
                    continue;
                }
                if (mask.isMasked(p)) {
                    pending[p] = false;
                    remaining--;
                } else if (condition.isMet(p)) {
                    pending[p] = false;
                    met[p] = true;
                    remaining--;
                    if (waitCost != null) {
                        waitCost[p] += now - start;
                    }
                }
            }
            if (remaining == 0) {
                return;
            }
            if (now - start > timeoutNanos) {
                timeOut(pending, phase);
                return;
            }
            backOff(pass, now - start);
        }
    }

    private void timeOut(boolean[] pending, Phase phase) {
        if (!elastic) {
            int[] silent = java.util.stream.IntStream.range(0, pending.length).filter(p -> pending[p]).toArray();
            java.util.Arrays.fill(pending, false);
            throw new PeerTimeoutException(self, silent, phase, timeoutNanos);
        }
        for (int p = 0; p < pending.length; p++) {
            if (pending[p]) {
                pending[p] = false;
                mask.maskOnTimeout(p);
            }
        }
    }

    /**
     * One step of the spin → yield → park schedule.
     *
     * @param pass counts from 0 within one wait
     * @param waitedNanos time since the wait began
     */
    public static void backOff(int pass, long waitedNanos) {
        if (pass < SPINS) {
            Thread.onSpinWait();
        } else if (pass < YIELDS) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.max(1_000L, Math.min(MAX_PARK_NANOS, waitedNanos >> 3)));
        }
    }
}
