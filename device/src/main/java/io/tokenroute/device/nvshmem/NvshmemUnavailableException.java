package io.tokenroute.device.nvshmem;

import io.tokenroute.TokenRouteException;

/**
 * Thrown when NVSHMEM is requested in a process that could not load {@code libtokenroute_nvshmem.so} (or the NVSHMEM
 * libraries it needs); the message carries {@link NvshmemLibrary#unavailableReason()}.
 */
public final class NvshmemUnavailableException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    /** @param message what was attempted and why NVSHMEM is unavailable */
    public NvshmemUnavailableException(String message) {
        super(message);
    }
}
