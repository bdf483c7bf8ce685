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
package io.tokenroute.examples.demo;

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseListener;
import io.tokenroute.routing.launch.RankFault;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Simulates dead ranks: the {@link PhaseListener} of every rank's buffer. When rank {@code R} reaches the phase of a
 * {@link FailureSpec} in the spec's step, its thread parks right there, inside the routing call, as a process that
 * stopped would: its peers see nothing more from it and mask it after their timeout. At a mid-stream phase of the
 * prefill mode ({@link FailurePhase#midStream()}), which the rank reaches before every chunk it writes, it parks
 * before the middle chunk of its stream, as the rank announces with {@link #streamLength} before the call; a rank with
 * nothing to stream in that call parks right after it instead ({@link #parkIfMissed}).
 *
 * <p>A parked rank resumes when {@link #release} names it (a readmission: it then finishes the call it was parked in,
 * which times out on everyone, and rejoins at the readmit step) or when {@link #releaseAll} ends the run (so that no
 * thread touches the group's memory after the group is closed).
 *
 * <p>In a rank process ({@code shm}, {@code nvshmem}: {@link DemoRankProcess}) the injector {@linkplain #killing kills}
 * instead: the rank SIGKILLs its own process at that phase ({@link RankFault#kill}), and never comes back.
 *
 * <p>The demo's step is not the protocol's sequence number (recompute rounds and readmissions advance that), so each
 * rank thread {@link #arm arms} the injector with its current step; {@link #onPhase} runs on that same thread.
 */
final class FaultInjector implements PhaseListener {
    /** A failure's lifecycle: armed, parked, released with the step to resume at ({@link #NO_RESUME}: never). */
    private static final class Fault {
        final FailureSpec spec;
        final CountDownLatch release = new CountDownLatch(1);
        volatile boolean parked;
        volatile int resumeStep = NO_RESUME;

        Fault(FailureSpec spec) {
            this.spec = spec;
        }
    }

    /** {@link #takeStop} result of a rank released at the end of the run: it does not come back. */
    static final int NO_RESUME = -1;

    private final List<List<Fault>> byRank = new ArrayList<>();
    /** The step each rank is in; written and read by that rank's own thread only. */
    private final int[] armedStep;
    /**
     * Per rank, the arrival at a mid-stream phase to park at (1-based) and the arrivals so far in the current call;
     * that rank's own thread only.
     */
    private final int[] parkAt;

    private final int[] arrivals;
    /** The fault a rank was parked by during its current call; that rank's own thread only. */
    private final Fault[] stopped;
    /** SIGKILL the own process instead of parking (shm rank processes). */
    private final boolean kill;

    FaultInjector(int ranks, List<FailureSpec> failures) {
        this(ranks, failures, false);
    }

    /** An injector whose failures SIGKILL the process they happen in, instead of parking its thread. */
    static FaultInjector killing(int ranks, List<FailureSpec> failures) {
        return new FaultInjector(ranks, failures, true);
    }

    private FaultInjector(int ranks, List<FailureSpec> failures, boolean kill) {
        this.kill = kill;
        this.armedStep = new int[ranks];
        this.stopped = new Fault[ranks];
        this.parkAt = new int[ranks];
        this.arrivals = new int[ranks];
        Arrays.fill(armedStep, -1);
        for (int r = 0; r < ranks; r++) {
            byRank.add(new ArrayList<>());
        }
        for (FailureSpec f : failures) {
            byRank.get(f.rank()).add(new Fault(f));
        }
    }

    /** Called by rank {@code rank}'s thread as it starts step {@code step}. */
    void arm(int rank, int step) {
        armedStep[rank] = step;
    }

    /**
     * Called by rank {@code rank}'s thread before a prefill call that writes {@code chunks} chunks, each announced by
     * a {@link FailurePhase#midStream() mid-stream} phase: a failure armed for that phase parks before chunk
     * {@code chunks / 2} (0-based), with half of the stream written.
     */
    void streamLength(int rank, int chunks) {
        parkAt[rank] = chunks / 2 + 1;
        arrivals[rank] = 0;
    }

    @Override
    public void onPhase(int rank, Phase phase, long seq) {
        Fault f = armed(rank, phase);
        if (f == null) {
            return;
        }
        if (f.spec.phase().midStream() && ++arrivals[rank] < parkAt[rank]) {
            return;
        }
        park(rank, f, phase, seq);
    }

    /**
     * Called by rank {@code rank}'s thread after a prefill call whose failure, armed for {@code phase}, did not park
     * it: the rank had fewer chunks to write than it announced (none, or its peers masked some destinations), and it
     * stops right after the call instead, so that the failure still happens in its step.
     */
    void parkIfMissed(int rank, FailurePhase phase) {
        Fault f = armed(rank, phase.phase());
        if (f != null) {
            park(rank, f, phase.phase(), -1);
        }
    }

    /** The not yet parked failure of {@code rank} at {@code phase} in its armed step, or null. */
    private Fault armed(int rank, Phase phase) {
        for (Fault f : byRank.get(rank)) {
            if (f.spec.step() == armedStep[rank] && f.spec.phase().phase() == phase && !f.parked) {
                return f;
            }
        }
        return null;
    }

    private void park(int rank, Fault f, Phase phase, long seq) {
        if (kill) {
            // A real death: SIGKILL of this process at its first arrival here from now on; never returns.
            RankFault.kill(phase, 1).listener().onPhase(rank, phase, seq);
        }
        f.parked = true;
        stopped[rank] = f;
        awaitUninterruptibly(f.release);
    }

    /**
     * For rank {@code rank}'s thread after each routing call: whether it was parked during that call, and if so the
     * step to rejoin at, or {@link #NO_RESUME}. Returns {@code null} when the call ran normally. Clears the report.
     */
    Integer takeStop(int rank) {
        Fault f = stopped[rank];
        if (f == null) {
            return null;
        }
        stopped[rank] = null;
        return f.resumeStep;
    }

    /**
     * Lets the stopped rank {@code rank} resume to rejoin at {@code resumeStep}. Every survivor calls this before
     * readmitting the rank, so it runs even if some of them are slow; calls after the first do nothing.
     */
    synchronized void release(int rank, int resumeStep) {
        for (Fault f : byRank.get(rank)) {
            if (f.spec.step() < resumeStep && f.release.getCount() > 0) {
                f.resumeStep = resumeStep;
                f.release.countDown();
                return;
            }
        }
    }

    /** Lets every parked rank go, for good (end of run). */
    synchronized void releaseAll() {
        byRank.forEach(faults -> faults.forEach(f -> f.release.countDown()));
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
