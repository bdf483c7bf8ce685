package io.tokenroute.routing;

/**
 * Called on the rank's own thread each time it reaches a {@link Phase}. Meant for fault injection in tests (park or
 * kill the rank right there) and for tracing. The call happens on the hot path: keep it cheap, never throw.
 */
@FunctionalInterface
public interface PhaseListener {
    /** A listener that does nothing. */
    PhaseListener NONE = (rank, phase, step) -> { };

    /**
     * @param rank the rank reaching the phase
     * @param phase where it is
     * @param step the operation's sequence number on this rank (dispatch and combine of one step share it)
     */
    void onPhase(int rank, Phase phase, long step);
}
