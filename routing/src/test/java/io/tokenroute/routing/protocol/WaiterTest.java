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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.PeerHealth;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;

/**
 * The failure detector on a clock the test drives: only observed time counts, a peer is suspected before it is masked,
 * heartbeats restart silence, and the local health multiplier stretches the timeout on a starving host and decays on a
 * healthy one. Peer 1 is the one waited for; rank 0 waits.
 */
class WaiterTest {
    private static final long MS = 1_000_000;
    private static final long TIMEOUT = 10 * MS;

    /** A clock that advances by a scripted gap at every read (one read per poll pass). */
    private static final class ScriptedClock implements java.util.function.LongSupplier {
        long now = 1_000 * MS;
        long reads;
        java.util.function.LongUnaryOperator gapAtRead = i -> 100_000;

        @Override
        public long getAsLong() {
            now += gapAtRead.applyAsLong(reads++);
            return now;
        }
    }

    /** Peer 1's heartbeat, moved by the test's script. */
    private static final class Beats implements Waiter.Liveness {
        final java.util.function.LongUnaryOperator beatAtRead;
        long reads;

        Beats(java.util.function.LongUnaryOperator beatAtRead) {
            this.beatAtRead = beatAtRead;
        }

        @Override
        public long beatOf(int peer) {
            return beatAtRead.applyAsLong(reads++);
        }

        @Override
        public void beat() {}
    }

    private final ScriptedClock clock = new ScriptedClock();
    private final MaskState mask = new MaskState(2, 0);

    private Waiter waiter(boolean elastic, Waiter.Liveness liveness) {
        return new Waiter(0, elastic, mask, liveness, new CallGuard(0), TIMEOUT, clock);
    }

    /** Waits on peer 1 for {@code met}; returns the observed wait (clock time) it took. */
    private long await(Waiter w, IntPredicate met) {
        boolean[] pending = {false, true};
        boolean[] got = new boolean[2];
        long start = clock.now;
        w.awaitAll(pending, got, met::test, Phase.DISPATCH_RECV, null);
        return clock.now - start;
    }

    @Test
    void aSilentPeerIsSuspectedThenMaskedAfterAQuarterMore() {
        Waiter w = waiter(true, new Beats(i -> 7));
        long took = await(w, p -> false);
        assertTrue(mask.isMasked(1), "masked");
        long detection = TIMEOUT + TIMEOUT / 4;
        assertTrue(took > detection && took <= detection + 2 * 100_000, "masked after 1.25 timeouts: " + took);
        PeerHealth peer = w.report().peers().get(1);
        assertEquals(1, peer.suspicions(), "suspected once before the mask");
        assertTrue(peer.masked());
        assertEquals(0, w.localHealthMultiplier(), "no descheduled gap, no stretch");
        assertEquals(
                HealthReport.worstCaseDetection(java.time.Duration.ofNanos(TIMEOUT))
                        .toNanos(),
                detection * (1 + HealthReport.MAX_LOCAL_HEALTH_MULTIPLIER));
    }

    @Test
    void descheduledGapsDoNotCountAndRaiseTheLocalHealthMultiplier() {
        // Every tenth poll the waiter itself was off the CPU for 50 ms: five timeouts of wall time that say nothing.
        clock.gapAtRead = i -> i % 10 == 9 ? 50 * MS : 100_000;
        Waiter w = waiter(true, new Beats(i -> 7));
        long firstRead = clock.reads;
        long took = await(w, p -> false);
        assertTrue(mask.isMasked(1));
        long gaps = 0;
        for (long i = firstRead; i < clock.reads; i++) {
            gaps += i % 10 == 9 ? 1 : 0;
        }
        long observed = took - gaps * 50 * MS;
        long detection = TIMEOUT + TIMEOUT / 4;
        assertTrue(gaps > 10, "many descheduled gaps happened: " + gaps);
        assertTrue(
                observed > detection && observed <= detection + 2 * 100_000,
                "masked after 1.25 timeouts of observed waiting, the " + gaps + " gaps of 50 ms not counted: " + took);
        assertEquals(1, w.localHealthMultiplier(), "the starving waiter stretches its next timeouts");
    }

    @Test
    void theMultiplierStretchesLaterWaitsAndDecaysAfterHealthyOnes() {
        MaskState three = new MaskState(3, 0);
        Waiter w = new Waiter(0, true, three, new Beats(i -> 7), new CallGuard(0), TIMEOUT, clock);
        boolean[] got = new boolean[3];
        clock.gapAtRead = i -> i % 10 == 9 ? 50 * MS : 100_000;
        w.awaitAll(new boolean[] {false, true, false}, got, p -> false, Phase.DISPATCH_RECV, null);
        assertTrue(three.isMasked(1));
        assertEquals(1, w.localHealthMultiplier());

        // Healthy host again. Peer 2 is silent for 1.5 timeouts, then arrives: a detector at multiplier 0 would have
        // masked it after 1.25; at multiplier 1 it suspects only after 2.
        clock.gapAtRead = i -> 100_000;
        long start = clock.now;
        w.awaitAll(
                new boolean[] {false, false, true},
                got,
                p -> clock.now - start > TIMEOUT * 3 / 2,
                Phase.COMBINE_RECV,
                null);
        assertTrue(got[2], "waited for");
        assertFalse(three.isMasked(2), "not masked under the stretched timeout");
        assertEquals(0, w.report().peers().get(2).suspicions(), "not even suspected");
        for (int i = 1; i < Waiter.RECOVERY_WAITS; i++) {
            w.awaitAll(new boolean[] {false, false, true}, got, p -> true, Phase.COMBINE_RECV, null);
        }
        assertEquals(0, w.localHealthMultiplier(), "decays after " + Waiter.RECOVERY_WAITS + " healthy waits");

        long again = clock.now;
        w.awaitAll(
                new boolean[] {false, false, true},
                got,
                p -> clock.now - again > TIMEOUT * 3 / 2,
                Phase.COMBINE_RECV,
                null);
        assertTrue(three.isMasked(2), "back to the plain timeout: 1.5 timeouts of silence is a death");
    }

    @Test
    void aBeatingPeerIsNeverSuspectedUntilTheLiveWaitLimit() {
        Waiter w = waiter(true, new Beats(i -> i / 20));
        long took = await(w, p -> false);
        assertTrue(mask.isMasked(1), "given up on after the live-wait limit");
        assertTrue(
                took >= Waiter.LIVE_WAIT_LIMIT * TIMEOUT,
                "only after " + Waiter.LIVE_WAIT_LIMIT + " timeouts of waiting: " + took);
    }

    @Test
    void aPeerThatArrivesInItsGraceIsNotMasked() {
        Waiter w = waiter(true, new Beats(i -> 7));
        long start = clock.now;
        long arrives = TIMEOUT + TIMEOUT / 8;
        boolean[] got = new boolean[2];
        w.awaitAll(new boolean[] {false, true}, got, p -> clock.now - start > arrives, Phase.DISPATCH_RECV, null);
        assertTrue(got[1], "met");
        assertFalse(mask.isMasked(1), "suspected, then seen alive: not masked");
        assertEquals(1, w.report().peers().get(1).suspicions());
        assertFalse(w.report().peers().get(1).suspected(), "no longer suspected");
    }

    @Test
    void aMaskEndsAStreamingWaitAtOnce() {
        // Peer 1 is alive (beating) but has nothing for us; peer 2 is masked by gossip after 20 polls (2 ms). The
        // stream must
        // get control back then (it no longer needs peer 2, and peer 1 may be waiting on it), not a timeout later.
        MaskState three = new MaskState(3, 0);
        long[] reads = new long[1];
        Waiter.Liveness liveness = new Waiter.Liveness() {
            @Override
            public long beatOf(int peer) {
                return peer == 1 ? reads[0]++ : 7;
            }

            @Override
            public void beat() {}
        };
        Waiter w = new Waiter(0, true, three, liveness, new CallGuard(0), TIMEOUT, clock);
        int[] polls = new int[1];
        boolean[] pending = {false, true, true};
        boolean[] met = new boolean[3];
        w.beginStream();
        long start = clock.now;
        int progressed = w.awaitAny(
                pending,
                met,
                p -> {
                    if (p == 1 && ++polls[0] == 20) {
                        three.maskOnTimeout(2);
                    }
                    return false;
                },
                Phase.PREFILL_COMBINE);
        assertEquals(0, progressed, "nobody met the condition");
        assertTrue(three.isMasked(2) && !three.isMasked(1));
        assertTrue(pending[1] && !pending[2], "peer 1 still pending, peer 2 dropped");
        assertTrue(
                clock.now - start < TIMEOUT / 2, "returned on the mask, not after a timeout: " + (clock.now - start));
    }

    @Test
    void nonElasticModeReportsTheSilentPeerAndPhase() {
        Waiter w = waiter(false, new Beats(i -> 7));
        PeerTimeoutException e = assertThrows(PeerTimeoutException.class, () -> await(w, p -> false));
        assertEquals(1, e.peer());
        assertEquals(Phase.DISPATCH_RECV, e.phase());
        assertFalse(mask.isMasked(1));
    }
}
