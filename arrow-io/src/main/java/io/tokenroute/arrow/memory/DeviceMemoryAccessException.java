package io.tokenroute.arrow.memory;

import io.tokenroute.TokenRouteException;

/** Thrown where a CPU accessor was asked to read or write memory the CPU cannot touch (CUDA device memory). */
public final class DeviceMemoryAccessException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    public DeviceMemoryAccessException(String message) {
        super(message);
    }
}
