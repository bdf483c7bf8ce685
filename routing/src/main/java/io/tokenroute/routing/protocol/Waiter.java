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

import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.PeerHealth;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The failure detector: waits for a condition on several peers at once with the elastic semantics of
 * docs/contract.md §3. All pending peers are polled in one loop (several dead peers cost one timeout, not one each),
 * the mask is re-read on every pass, and a peer that stays silent is first suspected, then masked (elastic) or reported
 * (non-elastic).
 *
 * <p><b>Silent</b> means: neither met the condition nor showed a sign of life. Every rank bumps a heartbeat word while
 * it waits and whenever its engine calls {@code heartbeat()} during long host-side work; a beat restarts the peer's
 * silence, up to {@link #LIVE_WAIT_LIMIT} timeouts of waiting in all (ranks that called different operations fail
 * rather than hang).
 *
 * <p><b>Only observed time counts</b> (the rule of the GPU waits): silence accrues only while this rank was running and
 * could have seen the peer. A gap between two polls longer than the sleep the loop asked for plus
 * {@link #DESCHEDULED_NANOS} means the waiter itself was descheduled (an oversubscribed host, a GC pause); the excess
 * says nothing about the peer and does not count.
 *
 * <p><b>Local health</b> (SWIM's Lifeguard): a waiter that finds itself descheduled raises its local health multiplier
 * and stretches its timeout to {@code timeout × (1 + multiplier)} (at most {@link
 * HealthReport#MAX_LOCAL_HEALTH_MULTIPLIER}), since its peers starve like it does; {@link #RECOVERY_WAITS} waits in a
 * row without a descheduled gap lower it by one.
 *
 * <p><b>Suspicion before masking</b>: a peer silent for the (stretched) timeout is suspected, and masked only if it
 * stays silent for a further quarter of it (a second look). Detection of a dead peer therefore takes
 * {@code 1.25 × timeout × (1 + multiplier)} of observed waiting after its last sign of life.
 *
 * <p>The loop spins briefly, then yields, then parks for an eighth of the time waited so far (at most 500 µs): short
 * waits stay fast, while long waits leave the CPU to the ranks they wait for. Parking is a safe point of the rank's
 * {@link CallGuard}. Nothing here allocates on the hot path.
 */
public final class Waiter {
    /** The longest a live (beating) peer is waited for, in timeouts. */
    public static final int LIVE_WAIT_LIMIT = 64;
    /** A gap this much longer than the requested sleep means the waiter was not running (as the GPU waits). */
    public static final long DESCHEDULED_NANOS = 500_000;
    /** Waits in a row without a descheduled gap that lower the local health multiplier by one. */
    public static final int RECOVERY_WAITS = 16;

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

    /**
     * Runs after each poll pass that left peers pending (those that met the condition are no longer flagged): may mask
     * peers or throw (this rank was masked).
     */
    @FunctionalInterface
    public interface PassHook {
        /** A hook that does nothing. */
        PassHook NONE = (pending, pass) -> {};

        void onPass(boolean[] pending, int pass);
    }

    private final int self;
    private final boolean elastic;
    private final MaskState mask;
    private final Liveness liveness;
    private final CallGuard guard;
    private final LongSupplier clock;
    private final long[] silentFor;
    private final long[] beatSeen;
    private final boolean[] suspected;
    private final long[] suspicions;
    private final long[] waits;
    private final long[] lastWait;
    private final long[] maxWait;
    private final long[] totalWait;
    private volatile long timeoutNanos;
    private volatile int multiplier;
    private int cleanWaits;
    /** Observed waiting since {@link #beginStream()}, for the live-wait limit of a streaming operation. */
    private long streamObserved;

    private PassHook hook = PassHook.NONE;

    public Waiter(int self, boolean elastic, MaskState mask, Liveness liveness, CallGuard guard, long timeoutNanos) {
        this(self, elastic, mask, liveness, guard, timeoutNanos, System::nanoTime);
    }

    /** With the clock the detector reads (tests drive time by hand). */
    Waiter(
            int self,
            boolean elastic,
            MaskState mask,
            Liveness liveness,
            CallGuard guard,
            long timeoutNanos,
            LongSupplier clock) {
        this.self = self;
        this.clock = clock;
        this.elastic = elastic;
        this.mask = mask;
        this.liveness = liveness;
        this.guard = guard;
        int ranks = mask.ranks();
        this.silentFor = new long[ranks];
        this.beatSeen = new long[ranks];
        this.suspected = new boolean[ranks];
        this.suspicions = new long[ranks];
        this.waits = new long[ranks];
        this.lastWait = new long[ranks];
        this.maxWait = new long[ranks];
        this.totalWait = new long[ranks];
        setTimeoutNanos(timeoutNanos);
    }

    /** Installs the per-pass hook (the protocol's mask gossip). */
    void setPassHook(PassHook passHook) {
        this.hook = passHook;
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

    /** The local health multiplier (0 on a host where this rank's waits are never descheduled). */
    public int localHealthMultiplier() {
        return multiplier;
    }

    /**
     * Waits until every peer flagged in {@code pending} meets {@code condition} or is masked, with the configured
     * timeout.
     *
     * @see #awaitAll(boolean[], boolean[], PeerCondition, Phase, long[], long)
     */
    public void awaitAll(boolean[] pending, boolean[] met, PeerCondition condition, Phase phase, long[] waitCost) {
        awaitAll(pending, met, condition, phase, waitCost, timeoutNanos);
    }

    /**
     * Waits until every peer flagged in {@code pending} meets {@code condition} or is masked. On return every entry
     * of {@code pending} is false; {@code met[p]} says whether peer p met the condition (false: masked before or
     * during the wait).
     *
     * @param waitCost if non-null, the nanoseconds spent waiting for each peer are added to it
     * @param timeout the silence (observed time, before the local health stretch) after which a peer is suspected
     * @throws PeerTimeoutException in non-elastic mode when a peer stays silent past the timeout
     */
    public void awaitAll(
            boolean[] pending, boolean[] met, PeerCondition condition, Phase phase, long[] waitCost, long timeout) {
        for (int p = 0; p < pending.length; p++) {
            if (pending[p]) {
                restartSilence(p);
            }
        }
        await(pending, met, condition, phase, waitCost, timeout, false);
    }

    /**
     * Starts a streaming operation (prefill's dispatch and combine): the peers' silence restarts now and then accrues
     * across every {@link #awaitAny} until the peer makes progress, so a dead peer is found even while other peers
     * keep the operation busy.
     */
    public void beginStream() {
        for (int p = 0; p < silentFor.length; p++) {
            restartSilence(p);
        }
        streamObserved = 0;
    }

    /**
     * Waits until at least one peer flagged in {@code pending} meets {@code condition} (progress of a streaming
     * operation) or is masked (by this rank's timeout or by gossip), masking peers silent past the timeout (elastic)
     * or failing (non-elastic). A mask ends the wait because it changes what the operation can do next (it no longer
     * needs that peer's rows, and other peers may be waiting on this rank to go on). Silence is not restarted here (see
     * {@link #beginStream()}); a peer that meets the condition starts it anew. On return {@code met[p]} says which
     * peers met it, and {@code pending} keeps the peers that did neither.
     *
     * @return the number of peers that met the condition (0 when the wait ended on a mask)
     */
    public int awaitAny(boolean[] pending, boolean[] met, PeerCondition condition, Phase phase) {
        return await(pending, met, condition, phase, null, timeoutNanos, true);
    }

    private void restartSilence(int p) {
        silentFor[p] = 0;
        suspected[p] = false;
        beatSeen[p] = liveness.beatOf(p);
    }

    private int await(
            boolean[] pending,
            boolean[] met,
            PeerCondition condition,
            Phase phase,
            long[] waitCost,
            long timeout,
            boolean any) {
        long start = clock.getAsLong();
        int remaining = 0;
        for (int p = 0; p < pending.length; p++) {
            met[p] = false;
            remaining += pending[p] ? 1 : 0;
        }
        if (remaining == 0) {
            return 0;
        }
        liveness.beat();
        long suspectAfter = timeout * (1L + multiplier);
        long maskAfter = suspectAfter + (suspectAfter >> 2);
        long liveLimit = LIVE_WAIT_LIMIT * timeout;
        long last = start;
        long expectedGap = 0;
        long observed = any ? streamObserved : 0;
        long sinceBeat = 0;
        int metCount = 0;
        int maskedCount = 0;
        boolean descheduled = false;
        for (int pass = 0; remaining > 0; pass++) {
            long now = clock.getAsLong();
            long gap = now - last;
            last = now;
            long credit = gap;
            if (gap > expectedGap + DESCHEDULED_NANOS) {
                credit = expectedGap;
                descheduled = true;
            }
            observed += credit;
            int silent = 0;
            for (int p = 0; p < pending.length; p++) {
                if (!pending[p]) {
                    continue;
                }
                if (mask.isMasked(p)) {
                    pending[p] = false;
                    remaining--;
                    maskedCount++;
                } else if (condition.isMet(p)) {
                    pending[p] = false;
                    met[p] = true;
                    remaining--;
                    metCount++;
                    recordWait(p, now - start, waitCost);
                    restartSilence(p);
                } else if (observe(p, credit, observed <= liveLimit, suspectAfter) > maskAfter) {
                    silent++;
                }
            }
            if (silent > 0) {
                timeOut(pending, phase, maskAfter, timeout);
                remaining -= silent;
                maskedCount += silent;
            }
            if (remaining == 0 || any && metCount + maskedCount > 0) {
                break;
            }
            hook.onPass(pending, pass);
            sinceBeat += credit;
            if (sinceBeat > timeout >> 3) {
                liveness.beat();
                sinceBeat = 0;
            }
            expectedGap = backOff(pass, now - start);
        }
        if (any) {
            streamObserved = observed;
        }
        afterWait(descheduled);
        return metCount;
    }

    /** Accrues silence for a pending peer, or restarts it on a beat; returns the silence so far. */
    private long observe(int p, long credit, boolean beatsCount, long suspectAfter) {
        long beat = liveness.beatOf(p);
        if (beat != beatSeen[p] && beatsCount) {
            beatSeen[p] = beat;
            silentFor[p] = 0;
            suspected[p] = false;
            return 0;
        }
        silentFor[p] += credit;
        if (!suspected[p] && silentFor[p] > suspectAfter) {
            suspected[p] = true;
            suspicions[p]++;
        }
        return silentFor[p];
    }

    private void recordWait(int p, long nanos, long[] waitCost) {
        suspected[p] = false;
        waits[p]++;
        lastWait[p] = nanos;
        totalWait[p] += nanos;
        if (nanos > maxWait[p]) {
            maxWait[p] = nanos;
        }
        if (waitCost != null) {
            waitCost[p] += nanos;
        }
    }

    private void afterWait(boolean descheduled) {
        if (descheduled) {
            cleanWaits = 0;
            if (multiplier < HealthReport.MAX_LOCAL_HEALTH_MULTIPLIER) {
                multiplier++;
            }
        } else if (multiplier > 0 && ++cleanWaits >= RECOVERY_WAITS) {
            cleanWaits = 0;
            multiplier--;
        }
    }

    /** Masks (or, non-elastic, reports) every pending peer silent past {@code maskAfter}. */
    private void timeOut(boolean[] pending, Phase phase, long maskAfter, long timeout) {
        if (!elastic) {
            int[] silent = java.util.stream.IntStream.range(0, pending.length)
                    .filter(p -> pending[p] && silentFor[p] > maskAfter)
                    .toArray();
            java.util.Arrays.fill(pending, false);
            throw new PeerTimeoutException(self, silent, phase, timeout);
        }
        for (int p = 0; p < pending.length; p++) {
            if (pending[p] && silentFor[p] > maskAfter) {
                pending[p] = false;
                mask.maskOnTimeout(p);
            }
        }
    }

    /** The detector's per-peer view (allocates; for reports, not the hot path). */
    public HealthReport report() {
        List<PeerHealth> peers = new ArrayList<>(mask.ranks());
        for (int p = 0; p < mask.ranks(); p++) {
            peers.add(new PeerHealth(
                    p, mask.isMasked(p), suspected[p], suspicions[p], waits[p], lastWait[p], maxWait[p], totalWait[p]));
        }
        return new HealthReport(self, Duration.ofNanos(timeoutNanos), multiplier, peers);
    }

    /**
     * One step of the spin → yield → park schedule.
     *
     * @param pass counts from 0 within one wait
     * @param waitedNanos time since the wait began
     * @return the nanoseconds this step asked to sleep (0 for a spin or a yield)
     */
    public long backOff(int pass, long waitedNanos) {
        if (pass < SPINS) {
            Thread.onSpinWait();
            return 0;
        }
        if (pass < YIELDS) {
            Thread.yield();
            return 0;
        }
        long park = Math.max(1_000L, Math.min(MAX_PARK_NANOS, waitedNanos >> 3));
        guard.park(park);
        return park;
    }
}
