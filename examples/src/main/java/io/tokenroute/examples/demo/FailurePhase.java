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
package io.tokenroute.examples.demo;

import io.tokenroute.routing.Phase;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Where in a step an injected failure stops a rank ({@code --fail R@S:PHASE}). Each maps to the protocol
 * {@link Phase} at which the rank's thread parks, chosen so that the failure is detected in the operation it is named
 * after, by every survivor at once. {@code dispatch} and {@code combine} belong to the decode mode; the
 * {@code prefill-*} phases to the prefill mode (docs/contract.md §3b), where {@link #inMode} reads {@code dispatch}
 * and {@code combine} as their prefill counterparts.
 */
public enum FailurePhase {
    /**
     * Parks at {@link Phase#DISPATCH_SEND}: the rank has announced the step but not published its rows, so every
     * survivor times out on it inside dispatch (a rank parked at DISPATCH_RECV would already have published its rows,
     * and the survivors would only notice it in combine).
     */
    DISPATCH("dispatch", Phase.DISPATCH_SEND),
    /**
     * Parks at {@link Phase#COMBINE_SEND}: the rank received its rows but never publishes its expert outputs, so the
     * survivors that routed tokens to it time out inside combine and those tokens lose that expert's weight.
     */
    COMBINE("combine", Phase.COMBINE_SEND),
    /**
     * Parks at {@link Phase#PREFILL_NOTIFY}, before the rank publishes how many tokens it sends each peer: every
     * survivor times out on it at the start of the prefill dispatch, before any row moved.
     */
    PREFILL_NOTIFY("prefill-notify", Phase.PREFILL_NOTIFY),
    /**
     * Parks at {@link Phase#PREFILL_DISPATCH} in the middle of the rank's row stream (before its middle chunk): half of
     * its chunks are in the peers' queues or read, the rest never come, and the survivors drop all of its rows.
     */
    PREFILL_DISPATCH("prefill-dispatch", Phase.PREFILL_DISPATCH),
    /**
     * Parks at {@link Phase#PREFILL_COMBINE} in the middle of the rank's partial-row stream (before its middle chunk):
     * the tokens whose partial rows from it arrived keep them, the others lose its experts' weight.
     */
    PREFILL_COMBINE("prefill-combine", Phase.PREFILL_COMBINE);

    private final String label;
    private final Phase phase;

    FailurePhase(String label, Phase phase) {
        this.label = label;
        this.phase = phase;
    }

    /** The mode whose steps reach this phase. */
    public DemoMode mode() {
        return label.startsWith("prefill-") ? DemoMode.PREFILL : DemoMode.DECODE;
    }

    /**
     * Whether the rank parks in the middle of a stream of chunks ({@link FaultInjector#streamLength}) rather than at
     * its first arrival at the phase.
     */
    public boolean midStream() {
        return this == PREFILL_DISPATCH || this == PREFILL_COMBINE;
    }

    /**
     * This phase as a step of {@code mode} reaches it: in the prefill mode {@code dispatch} and {@code combine} name
     * the prefill dispatch and combine; otherwise the phase itself.
     *
     * @throws IllegalArgumentException for a prefill phase in the decode mode
     */
    public FailurePhase inMode(DemoMode mode) {
        if (mode == DemoMode.PREFILL) {
            return this == DISPATCH ? PREFILL_DISPATCH : this == COMBINE ? PREFILL_COMBINE : this;
        }
        if (mode() != mode) {
            throw new IllegalArgumentException("phase " + label + " is a prefill phase: add --mode prefill, or use "
                    + DISPATCH.label + " or " + COMBINE.label);
        }
        return this;
    }

    /** The name used on the command line. */
    public String label() {
        return label;
    }

    /** The protocol phase at which the rank parks. */
    public Phase phase() {
        return phase;
    }

    /**
     * The phase named {@code label} (case-insensitive; {@code _} reads as {@code -}, so the protocol's names such as
     * {@code PREFILL_DISPATCH} work too).
     *
     * @throws IllegalArgumentException naming the accepted labels
     */
    public static FailurePhase parse(String label) {
        String name = label.replace('_', '-').toLowerCase(Locale.ROOT);
        for (FailurePhase p : values()) {
            if (p.label.equals(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown phase '" + label + "'; use one of " + labels());
    }

    /** The accepted labels, comma-separated. */
    public static String labels() {
        return Arrays.stream(values()).map(FailurePhase::label).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return label;
    }
}
