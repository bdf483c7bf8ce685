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
package io.tokenroute.routing;

import io.tokenroute.routing.launch.PhaseListener;
import java.util.Optional;

/**
 * The points of the protocol where a rank waits for peers or publishes to them. Timeouts and exceptions name the phase
 * they happened in; a {@link PhaseListener} is told when a rank reaches each one (fault injection, tracing).
 *
 * <p>Each phase has a fixed numeric {@link #code()}, the value the GPU kernels report a timeout's phase with
 * ({@code TR_EP_PHASE_*} in the kernels' {@code tokenroute_abi.cuh}, checked against these codes when the kernels are
 * loaded). Codes never change and are never reused; the declaration order carries no meaning.
 */
public enum Phase {
    /** Entry of dispatch, after input validation and before anything is published. */
    BEFORE_DISPATCH(0),
    /** Dispatch, while the rank writes its rows for peers (and waits for peers to have consumed the previous step). */
    DISPATCH_SEND(1),
    /** Dispatch, after the rank published its rows, while it waits for and copies peers' rows. */
    DISPATCH_RECV(2),
    /** Combine, before the rank publishes its expert outputs. */
    COMBINE_SEND(3),
    /** Combine, after publishing, while it waits for and reduces peers' expert outputs. */
    COMBINE_RECV(4),
    /** cleanBuffer's (and readmit's) fault-tolerant rendezvous. */
    CLEAN(5),
    /** barrier(). */
    BARRIER(6),
    /** allGather(). */
    ALL_GATHER(7),
    /** agreeMask()'s rounds. */
    AGREE(8),
    /** Prefill dispatch: publishing and reading how many tokens each rank sends each other rank. */
    PREFILL_NOTIFY(9),
    /** Prefill dispatch: streaming the rows through the bounded queues. */
    PREFILL_DISPATCH(10),
    /** Prefill combine: streaming the per-rank partial outputs back through the bounded queues. */
    PREFILL_COMBINE(11);

    private final int code;

    Phase(int code) {
        this.code = code;
    }

    /** The phase's fixed numeric code, as the GPU kernels report it. */
    public int code() {
        return code;
    }

    /** The phase with numeric code {@code code}, or empty if no phase has it. */
    public static Optional<Phase> ofCode(int code) {
        for (Phase phase : values()) {
            if (phase.code == code) {
                return Optional.of(phase);
            }
        }
        return Optional.empty();
    }
}
