package io.tokenroute.routing.testkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs one body per rank, each on its own thread, and fails loudly when one throws or hangs past a bound. */
public final class RankThreads {
    private RankThreads() {
    }

    /** Work of one rank. */
    @FunctionalInterface
    public interface RankBody {
        void run(int rank) throws Exception;
    }

    /**
     * Runs {@code body} for ranks {@code 0..ranks-1} concurrently and waits for those in {@code awaited} (null = all).
     * Ranks not awaited (e.g. a parked victim) keep running on daemon threads until released.
     *
     * @param bound how long the awaited ranks may take in total before the test fails as a hang
     */
    public static void run(int ranks, boolean[] awaited, Duration bound, RankBody body) {
        ExecutorService pool = Executors.newFixedThreadPool(ranks, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        List<Future<?>> futures = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            futures.add(pool.submit(() -> {
                Thread.currentThread().setName("rank-" + rank);
                body.run(rank);
                return null;
            }));
        }
        pool.shutdown();
        long deadline = System.nanoTime() + bound.toNanos();
        try {
            for (int r = 0; r < ranks; r++) {
                if (awaited != null && !awaited[r]) {
                    continue;
                }
                try {
                    futures.get(r).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    throw new AssertionError("rank " + r + " did not finish within " + bound + " (hang)");
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof Error err) {
                        throw err;
                    }
                    throw new AssertionError("rank " + r + " failed: " + cause, cause);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** {@link #run(int, boolean[], Duration, RankBody)} awaiting every rank. */
    public static void run(int ranks, Duration bound, RankBody body) {
        run(ranks, null, bound, body);
    }
}
