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
package io.tokenroute.routing.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * What survivors must see when victims fail at given phases of one step: shared by the process-level fault scenarios
 * of every transport ({@code ShmRankMain}, {@code NvshmemRankMain}), whose buffers differ but whose expectations do
 * not.
 *
 * @param ranks R
 * @param failStep the step in which every victim fails
 * @param victims the failing ranks
 * @param phases per victim, where it fails
 */
public record KillScenario(int ranks, int failStep, int[] victims, Phase[] phases) {

    /**
     * Parses {@code victim:PHASE} arguments ({@code 2:DISPATCH_SEND 1:COMBINE_RECV}).
     */
    public static KillScenario parse(int ranks, int failStep, String[] victimPhases) {
        int[] victims = new int[victimPhases.length];
        Phase[] phases = new Phase[victimPhases.length];
        for (int i = 0; i < victimPhases.length; i++) {
            String[] vp = victimPhases[i].split(":");
            victims[i] = Integer.parseInt(vp[0]);
            phases[i] = Phase.valueOf(vp[1]);
        }
        return new KillScenario(ranks, failStep, victims, phases);
    }

    /**
     * Which ranks a survivor receives rows from and combines experts of at step {@code s}: a victim that failed before
     * publishing its rows is absent from that step's dispatch, one that failed before publishing its expert outputs
     * from that step's combine, and every victim from every later step.
     */
    public Presence presence(int s) {
        Presence p = Presence.all(ranks);
        if (s < failStep) {
            return p;
        }
        for (int i = 0; i < victims.length; i++) {
            int v = victims[i];
            Phase phase = phases[i];
            if (s > failStep || phase == Phase.BEFORE_DISPATCH || phase == Phase.DISPATCH_SEND) {
                p.dispatchSources()[v] = false;
            }
            if (s > failStep
                    || phase == Phase.BEFORE_DISPATCH
                    || phase == Phase.DISPATCH_SEND
                    || phase == Phase.DISPATCH_RECV
                    || phase == Phase.COMBINE_SEND) {
                p.combineExperts()[v] = false;
            }
        }
        return p;
    }

    /** Whether {@code rank} is one of the victims. */
    public boolean isVictim(int rank) {
        return Arrays.stream(victims).anyMatch(v -> v == rank);
    }

    /** The mask every survivor must end with: 1 for exactly the victims. */
    public int[] expectedMask() {
        int[] mask = new int[ranks];
        for (int v : victims) {
            mask[v] = 1;
        }
        return mask;
    }

    /** Fails unless every rank in {@code masked} (a call's newly masked peers) is a victim. */
    private void assertMaskedOnlyVictims(int[] masked, String where, int s) {
        for (int r : masked) {
            assertTrue(isVictim(r), where + " of step " + s + " masked healthy rank " + r);
        }
    }

    /**
     * Checks a survivor's allGather views of step {@code s}: victims' payloads are null once they failed, everyone
     * else's is {@link #payload}.
     */
    public void assertGathered(byte[][] all, int s) {
        for (int r = 0; r < all.length; r++) {
            if (s >= failStep && isVictim(r)) {
                assertNull(all[r], "masked rank " + r + "'s payload is null");
            } else {
                assertArrayEquals(payload(r, s), all[r], "payload of " + r);
            }
        }
    }

    /** Rank {@code rank}'s allGather payload in step {@code s}. */
    public static byte[] payload(int rank, int s) {
        return ("rank " + rank + " step " + s).getBytes();
    }

    /** The per-step checks of survivor {@code rank}, which keep what they saw at detection. */
    public Survivor survivor(int rank) {
        return new Survivor(rank);
    }

    /**
     * A survivor's checks after each of its steps: every newly masked peer is a victim; the step after the failure
     * leaves it masking exactly the victims; from then on it waits on them no more (their accumulated waits stay put).
     */
    public final class Survivor {
        private final int rank;
        private long[] waitsAtDetection;

        private Survivor(int rank) {
            this.rank = rank;
        }

        /**
         * @param s the step just finished
         * @param dispatchNewly peers its dispatch newly masked
         * @param combineNewly peers its combine newly masked
         * @param dispatchWaitNanos its cumulative dispatch wait per peer
         * @param combineWaitNanos its cumulative combine wait per peer
         * @param mask its current mask, read only in the step after the failure
         */
        public void afterStep(
                int s,
                int[] dispatchNewly,
                int[] combineNewly,
                long[] dispatchWaitNanos,
                long[] combineWaitNanos,
                Supplier<int[]> mask) {
            assertMaskedOnlyVictims(dispatchNewly, "dispatch", s);
            assertMaskedOnlyVictims(combineNewly, "combine", s);
            long[] waits = victimWaits(dispatchWaitNanos, combineWaitNanos);
            if (s == failStep + 1) {
                assertArrayEquals(
                        expectedMask(), mask.get(), "survivor " + rank + " masks exactly " + Arrays.toString(victims));
                waitsAtDetection = waits;
            } else if (s > failStep + 1) {
                assertArrayEquals(
                        waitsAtDetection, waits, "step " + s + ": no further waiting on masked ranks after detection");
            }
        }
    }

    /** Per victim, the dispatch and combine wait its survivor has accumulated (must stop growing after detection). */
    private long[] victimWaits(long[] dispatchWaitNanos, long[] combineWaitNanos) {
        long[] out = new long[2 * victims.length];
        for (int i = 0; i < victims.length; i++) {
            out[2 * i] = dispatchWaitNanos[victims[i]];
            out[2 * i + 1] = combineWaitNanos[victims[i]];
        }
        return out;
    }

    /** A mask as a digit string ({@code 0010}), as rank processes report it. */
    public static String maskString(int[] mask) {
        StringBuilder b = new StringBuilder();
        for (int m : mask) {
            b.append(m);
        }
        return b.toString();
    }
}
