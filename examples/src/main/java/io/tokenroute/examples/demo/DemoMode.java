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

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Which routing path the demo's steps take (docs/contract.md §2 and §3b): the low-latency decode path, or the
 * high-throughput prefill path with its bounded per-pair queues. Everything around the routing round (failures,
 * agreement, re-placement, recompute, readmission, the reference check's rules) is the same in both modes.
 */
public enum DemoMode {
    /** Decode steps: {@code dispatch} → experts → {@code combine}, every transport. */
    DECODE("decode"),
    /**
     * Prefill steps: {@code prefillDispatch} → experts over the per-expert row lists → {@code prefillCombine}, on the
     * host transports ({@code local}, {@code shm}) in this version.
     */
    PREFILL("prefill");

    private final String label;

    DemoMode(String label) {
        this.label = label;
    }

    /** The name used on the command line ({@code --mode}) and in the summary. */
    public String label() {
        return label;
    }

    /**
     * The mode named {@code label} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the accepted labels
     */
    public static DemoMode parse(String label) {
        String name = label == null ? "" : label.trim().toLowerCase(Locale.ROOT);
        for (DemoMode m : values()) {
            if (m.label.equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + label + "'; use one of "
                + Arrays.stream(values()).map(DemoMode::label).collect(Collectors.joining(", ")));
    }

    /**
     * Whether {@code transport} runs this mode; the prefill mode runs on the host transports in this version (its
     * GPU kernels have not run on a GPU yet, and the demo's prefill experts read the receive batch on the host).
     */
    public boolean runsOn(DemoTransport transport) {
        return this == DECODE || !transport.onGpu();
    }

    /** The one line that refuses this mode on {@code transport} (see {@link #runsOn}). */
    public String refusal(DemoTransport transport) {
        return "--mode " + label + " runs on the host transports (local, shm) in this version, not on --transport "
                + transport.id();
    }

    @Override
    public String toString() {
        return label;
    }
}
