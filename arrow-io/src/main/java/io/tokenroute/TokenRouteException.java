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
package io.tokenroute;

/**
 * The one type to catch for every failure TokenRoute itself reports: a peer that timed out or masked this rank, a
 * collective called out of step, a rendezvous or shared-memory join that failed, a CUDA or NVSHMEM error, a library
 * that is not installed, the CPU asked to read device memory. Each means the call could not complete in the state the
 * group, the device or the memory is in, hence an {@link IllegalStateException}.
 *
 * <p>Bad input is not among them: it is refused with an {@link IllegalArgumentException} before anything is sent
 * (docs/contract.md §7), and calls that break the call order of a buffer (for example a closed one) throw a plain
 * {@link IllegalStateException}.
 */
public abstract class TokenRouteException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    protected TokenRouteException(String message) {
        super(message);
    }

    protected TokenRouteException(String message, Throwable cause) {
        super(message, cause);
    }
}
