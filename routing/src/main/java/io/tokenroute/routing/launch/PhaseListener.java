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
package io.tokenroute.routing.launch;

import io.tokenroute.routing.Phase;

/**
 * Called on the rank's own thread each time it reaches a {@link Phase}: how the project's fault injection parks or
 * kills a rank at an exact point, and how its tests order ranks with latches. Attached with
 * {@link PhaseHooks#listening}, never through the public configuration. The call happens on the hot path: keep it
 * cheap, never throw.
 */
@FunctionalInterface
public interface PhaseListener {
    /** A listener that does nothing. */
    PhaseListener NONE = (rank, phase, step) -> {};

    /**
     * @param rank the rank reaching the phase
     * @param phase where it is
     * @param step the operation's sequence number on this rank (dispatch and combine of one step share it)
     */
    void onPhase(int rank, Phase phase, long step);
}
