package io.tokenroute.routing.nvshmem;

import io.tokenroute.TokenRouteException;

/**
 * The NVSHMEM unique id could not be exchanged through {@link UniqueIdRendezvous}: no job secret to authenticate with,
 * no server in time, a server that did not prove the job's secret, an id changed in transit, a refused handshake (rank
 * out of range, group-size mismatch, duplicate rank, wrong protocol) or ranks that never fetched it. The message names
 * the address, the rank and what went wrong; never the secret.
 */
public final class RendezvousException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    /** @param message the address, the rank and what went wrong */
    public RendezvousException(String message) {
        super(message);
    }

    /**
     * @param message the address, the rank and what went wrong
     * @param cause the last I/O error
     */
    public RendezvousException(String message, Throwable cause) {
        super(message, cause);
    }
}
