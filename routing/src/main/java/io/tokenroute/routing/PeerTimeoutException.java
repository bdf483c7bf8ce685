package io.tokenroute.routing;

/**
 * A peer did not answer within the timeout in non-elastic mode. The buffer refuses further work until
 * {@link ElasticBuffer#cleanBuffer()} succeeds.
 */
public final class PeerTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int rank;
    private final int peer;
    private final Phase phase;

    public PeerTimeoutException(int rank, int peer, Phase phase, long timeoutNanos) {
        super("rank " + rank + ": peer rank " + peer + " did not answer within " + (timeoutNanos / 1_000_000.0)
                + " ms in phase " + phase + " (elastic mode is off, so the operation fails instead of masking it;"
                + " call cleanBuffer() on every rank before the next operation)");
        this.rank = rank;
        this.peer = peer;
        this.phase = phase;
    }

    /** The rank that waited. */
    public int rank() {
        return rank;
    }

    /** The peer that did not answer. */
    public int peer() {
        return peer;
    }

    /** Where it happened. */
    public Phase phase() {
        return phase;
    }
}
