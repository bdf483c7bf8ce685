/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
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
