package io.tokenroute.examples.demo;

/**
 * Live feedback from a {@link DecodeDemo} run (progress bars, logs). Called from rank threads: implementations must be
 * thread-safe and quick, since a rank that lingers here makes its peers wait.
 */
public interface DemoListener {
    /** A listener that ignores everything. */
    DemoListener NONE = new DemoListener() {
    };

    /**
     * {@code completed} decode steps have finished on at least one rank (monotonic); {@code liveRanks} ranks were
     * active after the last of them.
     */
    default void onProgress(int completed, int liveRanks) {
    }

    /** Something happened: a failure was detected, a rank was readmitted (one line, reported once). */
    default void onEvent(String message) {
    }
}
