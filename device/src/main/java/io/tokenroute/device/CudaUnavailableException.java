package io.tokenroute.device;

import io.tokenroute.TokenRouteException;

/**
 * Thrown when a CUDA operation is requested in a process where CUDA cannot be used (no driver, no device); the message
 * carries {@link Cuda#unavailableReason()}.
 */
public final class CudaUnavailableException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    /** @param message what was attempted and why CUDA is unavailable */
    public CudaUnavailableException(String message) {
        super(message);
    }
}
