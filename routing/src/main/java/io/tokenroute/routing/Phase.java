package io.tokenroute.routing;

/**
 * The points of the protocol where a rank waits for peers or publishes to them. Timeouts and exceptions name the phase
 * they happened in; a {@link PhaseListener} is told when a rank reaches each one (fault injection, tracing).
 */
public enum Phase {
    /** Entry of dispatch, after input validation and before anything is published. */
    BEFORE_DISPATCH,
    /** Dispatch, while the rank writes its rows for peers (and waits for peers to have consumed the previous step). */
    DISPATCH_SEND,
    /** Dispatch, after the rank published its rows, while it waits for and copies peers' rows. */
    DISPATCH_RECV,
    /** Combine, before the rank publishes its expert outputs. */
    COMBINE_SEND,
    /** Combine, after publishing, while it waits for and reduces peers' expert outputs. */
    COMBINE_RECV,
    /** cleanBuffer's (and readmit's) fault-tolerant rendezvous. */
    CLEAN,
    /** barrier(). */
    BARRIER,
    /** allGather(). */
    ALL_GATHER,
    /** agreeMask()'s rounds. Last, so the ordinals the GPU kernels use for the phases above stay as they are. */
    AGREE
}
