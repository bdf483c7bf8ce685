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
