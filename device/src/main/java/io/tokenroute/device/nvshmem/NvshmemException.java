package io.tokenroute.device.nvshmem;

import io.tokenroute.TokenRouteException;

/**
 * An NVSHMEM or CUDA call made by the native binding failed. The message names the call and its return code, e.g.
 * {@code "nvshmemx_init_attr(NVSHMEMX_INIT_WITH_UNIQUEID) failed: NVSHMEM status 7"} or
 * {@code "cudaSetDevice failed: CUDA error 101 (cudaErrorInvalidDevice: invalid device ordinal)"}.
 *
 * <p>Thrown from native code (JNI {@code ThrowNew}), so this class must keep its {@code (String)} constructor.
 */
public final class NvshmemException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    /** @param message the failed call and its status */
    public NvshmemException(String message) {
        super(message);
    }
}
