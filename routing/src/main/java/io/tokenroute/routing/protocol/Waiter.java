package io.tokenroute.routing.protocol;

import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import java.util.concurrent.locks.LockSupport;

/**
 * Waits for a condition on several peers at once, with the elastic semantics of spec §3: all pending peers are polled
 * in one loop (so several dead peers cost one timeout, not one each), the mask is re-read on every pass, and a peer
 * that stays silent past the timeout is masked (elastic) or fails the operation (non-elastic).
 *
 * <p><b>Silent</b> means: neither met the condition nor showed a sign of life. Every rank bumps a heartbeat word while
 * it waits and whenever the engine calls {@code ElasticBuffer.heartbeat()} during long host-side work; a peer whose
 * heartbeat moved within the last timeout is alive (busy elsewhere, or itself waiting on a dead rank) and gets another
 * timeout, up to {@link #LIVE_WAIT_LIMIT} timeouts in all. A dead, stopped or parked rank does not beat, so it is
 * still masked one timeout after its last beat. Without this, a healthy rank computing longer than the timeout on an
 * oversubscribed CPU, or waiting itself for a dead peer, would be masked by its peers.
 *
 * <p>The loop spins briefly, then yields, then parks for an eighth of the time waited so far (at most 500 µs): short
 * waits stay fast, while long waits wake up rarely and leave the CPU to the ranks they wait for when there are more
 * ranks than cores (a waiter that woke every few microseconds would starve the very rank it waits for).
 */
public final class Waiter {
    /** The longest a live (beating) peer is waited for, in timeouts. */
    public static final int LIVE_WAIT_LIMIT = 64;
    private static final int SPINS = 128;
    private static final int YIELDS = 256;
    private static final long MAX_PARK_NANOS = 500_000;

    /** The condition a peer must meet; implementations are reused across calls (no allocation per wait). */
    @FunctionalInterface
    public interface PeerCondition {
        boolean isMet(int peer);
    }

    /** Heartbeats: reading a peer's, and beating this rank's own. */
    public interface Liveness {
        /** The current heartbeat count of {@code peer} (acquire load). */
        long beatOf(int peer);

        /** Advances this rank's heartbeat (release store). */
        void beat();
    }

    private final int self;
    private final boolean elastic;
    private final MaskState mask;
    private final Liveness liveness;
    private final long[] windowStart;
    private final long[] beatSeen;
    private volatile long timeoutNanos;

    public Waiter(int self, boolean elastic, MaskState mask, Liveness liveness, long timeoutNanos) {
        this.self = self;
        this.elastic = elastic;
        this.mask = mask;
        this.liveness = liveness;
        this.windowStart = new long[mask.ranks()];
        this.beatSeen = new long[mask.ranks()];
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
        long timeout = timeoutNanos;
        long lastOwnBeat = start;
        int remaining = 0;
        for (int p = 0; p < pending.length; p++) {
            met[p] = false;
            if (pending[p]) {
                remaining++;
                windowStart[p] = start;
                beatSeen[p] = liveness.beatOf(p);
            }
        }
        liveness.beat();
        for (int pass = 0; remaining > 0; pass++) {
            long now = System.nanoTime();
            int silent = 0;
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
                } else if (now - windowStart[p] > timeout && !stillBeating(p, now, start, timeout)) {
                    silent++;
                }
            }
            if (silent > 0) {
                timeOut(pending, phase, now, timeout);
                remaining -= silent;
            }
            if (remaining == 0) {
                return;
            }
            if (now - lastOwnBeat > timeout >> 2) {
                liveness.beat();
                lastOwnBeat = now;
            }
            backOff(pass, now - start);
        }
    }

    /** Opens a new window for a peer whose heartbeat moved in the last one (within the overall limit). */
    private boolean stillBeating(int p, long now, long start, long timeout) {
        long beat = liveness.beatOf(p);
        if (beat == beatSeen[p] || now - start > LIVE_WAIT_LIMIT * timeout) {
            return false;
        }
        beatSeen[p] = beat;
        windowStart[p] = now;
        return true;
    }

    /** Masks (or, non-elastic, reports) every pending peer whose window expired without a beat. */
    private void timeOut(boolean[] pending, Phase phase, long now, long timeout) {
        if (!elastic) {
            int[] silent = java.util.stream.IntStream.range(0, pending.length)
                    .filter(p -> pending[p] && now - windowStart[p] > timeout).toArray();
            java.util.Arrays.fill(pending, false);
            throw new PeerTimeoutException(self, silent, phase, timeout);
        }
        for (int p = 0; p < pending.length; p++) {
            if (pending[p] && now - windowStart[p] > timeout) {
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
