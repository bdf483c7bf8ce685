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
package io.tokenroute.routing.launch;

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.shm.Processes;
import java.io.IOException;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;

/**
 * A fault a rank process injects into itself when it reaches {@code phase} for the {@code occurrence}-th time
 * (1-based; for the dispatch and combine phases that is the step number + 1 when every step runs them once, for
 * {@link Phase#CLEAN}, {@link Phase#BARRIER} and {@link Phase#ALL_GATHER} the number of such calls).
 *
 * <ul>
 *   <li>{@link Action#KILL}: a real SIGKILL of the own process ({@code kill -9 <own pid>}): no shutdown hooks, no
 *       finally blocks, the mapping simply disappears with the process, exactly as a crash or the OOM killer. The
 *       rank's thread parks forever right after starting {@code kill}, so nothing more is published even if the
 *       signal takes a moment to arrive.</li>
 *   <li>{@link Action#STOP}: a real stall, SIGSTOP of the own process ({@code kill -STOP <own pid>}): every thread of
 *       the JVM stops, as under a debugger, a VM pause or severe swapping. The parent resumes it with
 *       {@link RankLauncher#resume} (SIGCONT, then a {@code resume} line on the rank's stdin); the rank's thread waits
 *       for that line too, so it cannot run on in the moment before the signal lands. It then returns from the
 *       listener and carries on where it stopped.</li>
 * </ul>
 *
 * <p>The launcher passes a fault to a rank as the system property {@link LaunchedRank#FAULT_PROPERTY} (the text of
 * {@link #toString()}, e.g. {@code KILL:DISPATCH_SEND:3}); the rank installs {@link LaunchedRank#faultListener()}.
 * Before acting, the rank reports the event {@code fault} on stdout.
 */
public record RankFault(Action action, Phase phase, int occurrence) {

    /** What the rank does to itself. */
    public enum Action {
        /** SIGKILL itself. */
        KILL,
        /** SIGSTOP itself until the parent sends SIGCONT. */
        STOP
    }

    public RankFault {
        if (action == null || phase == null) {
            throw new IllegalArgumentException("a fault needs an action and a phase");
        }
        if (occurrence < 1) {
            throw new IllegalArgumentException("occurrence is 1-based, got " + occurrence);
        }
    }

    /** SIGKILL at the {@code occurrence}-th arrival at {@code phase}. */
    public static RankFault kill(Phase phase, int occurrence) {
        return new RankFault(Action.KILL, phase, occurrence);
    }

    /** SIGSTOP at the {@code occurrence}-th arrival at {@code phase}. */
    public static RankFault stop(Phase phase, int occurrence) {
        return new RankFault(Action.STOP, phase, occurrence);
    }

    /** Parses {@code ACTION:PHASE:OCCURRENCE}, as {@link #toString()} writes it. */
    public static RankFault parse(String text) {
        String[] parts = text.trim().split(":");
        if (parts.length != 3) {
            throw new IllegalArgumentException(
                    "fault must be ACTION:PHASE:OCCURRENCE (e.g. KILL:DISPATCH_SEND:3), got '" + text + "'");
        }
        try {
            return new RankFault(
                    Action.valueOf(parts[0].toUpperCase(Locale.ROOT)),
                    Phase.valueOf(parts[1].toUpperCase(Locale.ROOT)),
                    Integer.parseInt(parts[2]));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad fault '" + text + "': " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return action + ":" + phase + ":" + occurrence;
    }

    /**
     * A fresh listener that counts this rank's arrivals at {@link #phase()} and acts at the chosen one. Cheap on the
     * hot path (one comparison per phase); never throws.
     */
    public PhaseListener listener() {
        return new PhaseListener() {
            private int seen;

            @Override
            public void onPhase(int rank, Phase reached, long step) {
                if (reached == phase && ++seen == occurrence) {
                    act(rank, step);
                }
            }
        };
    }

    private void act(int rank, long step) {
        LaunchedRank.event("fault", action + " " + phase + " " + occurrence + " rank=" + rank + " step=" + step);
        long self = Processes.selfPid();
        try {
            if (action == Action.KILL) {
                Signals.send(self, "KILL", false);
                while (true) {
                    LockSupport.park(this); // the signal is on its way; publish nothing more meanwhile
                }
            }
            Signals.send(self, "STOP", true);
            LaunchedRank.awaitResume();
            LaunchedRank.event("resumed", phase + " " + occurrence);
        } catch (IOException e) {
            System.err.println("rank " + rank + ": cannot inject " + this + ": " + e.getMessage());
            if (action == Action.KILL) {
                Runtime.getRuntime().halt(128 + 9); // still no shutdown hooks, and the exit code of a SIGKILL
            }
        }
    }
}
