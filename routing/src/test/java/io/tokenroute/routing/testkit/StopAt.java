package io.tokenroute.routing.testkit;

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.PhaseListener;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fault injection: the victim rank's thread parks at the {@code occurrence}-th time it reaches {@code phase} (1-based)
 * until {@link #release()} — a rank that stops (never released during the test) or stalls (released later).
 */
public final class StopAt implements PhaseListener {
    private final int victim;
    private final Phase phase;
    private final int occurrence;
    private final AtomicInteger seen = new AtomicInteger();
    private final CountDownLatch parked = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    public StopAt(int victim, Phase phase, int occurrence) {
        this.victim = victim;
        this.phase = phase;
        this.occurrence = occurrence;
    }

    @Override
    public void onPhase(int rank, Phase reached, long step) {
        if (rank == victim && reached == phase && seen.incrementAndGet() == occurrence) {
            parked.countDown();
            boolean interrupted = false;
            while (true) {
                try {
                    release.await();
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

    /** Whether the victim has parked. */
    public boolean hasParked() {
        return parked.getCount() == 0;
    }

    /** Lets the victim go on. */
    public void release() {
        release.countDown();
    }
}
