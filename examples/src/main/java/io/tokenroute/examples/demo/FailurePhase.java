package io.tokenroute.examples.demo;

import io.tokenroute.routing.Phase;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Where in a decode step an injected failure stops a rank ({@code --fail R@S:PHASE}). Each maps to the protocol
 * {@link Phase} at which the rank's thread parks, chosen so that the failure is detected in the operation it is named
 * after, by every survivor at once.
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
    COMBINE("combine", Phase.COMBINE_SEND);

    private final String label;
    private final Phase phase;

    FailurePhase(String label, Phase phase) {
        this.label = label;
        this.phase = phase;
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
     * The phase named {@code label} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the accepted labels
     */
    public static FailurePhase parse(String label) {
        for (FailurePhase p : values()) {
            if (p.label.equalsIgnoreCase(label)) {
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
