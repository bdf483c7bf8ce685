package io.tokenroute.examples.demo;

import io.tokenroute.routing.BufferConfig;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * Everything a {@link DecodeDemo} run is made of. Immutable; {@link #builder()} starts from the CLI's defaults, and
 * construction checks every value and the failure/readmit schedule, so a bad run is refused before any thread starts.
 *
 * @param ranks R, ranks (threads or processes, as the transport runs them)
 * @param experts logical experts (the model's); need not be a multiple of R
 * @param redundant redundant (initially empty) expert slots per rank, where a failed rank's experts are re-hosted
 * @param tokens tokens each rank decodes per step (T)
 * @param hidden H, the hidden size
 * @param topK experts per token
 * @param steps decode steps
 * @param timeout the per-peer wait timeout after the warm-up
 * @param warmupSteps the first steps, run with {@code warmupTimeout} while the JIT compiles the hot paths
 * @param warmupTimeout the timeout of the warm-up steps
 * @param rehearse whether a short throw-away run with failures and readmissions precedes the run, so that the JIT has
 *     compiled the failure paths before the first real failure (see {@link DecodeDemo#rehearsalOf})
 * @param seed seeds the router, the token states and the expert weights
 * @param failures injected failures, any order
 * @param readmits readmissions, any order
 */
public record DemoConfig(int ranks, int experts, int redundant, int tokens, int hidden, int topK, int steps,
        Duration timeout, int warmupSteps, Duration warmupTimeout, boolean rehearse, long seed,
        List<FailureSpec> failures, List<ReadmitSpec> readmits) {

    /** The CLI's defaults, as compile-time constants so picocli annotations can show them. */
    public static final class Defaults {
        public static final int RANKS = 8;
        public static final int EXPERTS = 64;
        public static final int REDUNDANT = 2;
        public static final int TOKENS = 128;
        public static final int HIDDEN = 1024;
        public static final int TOP_K = 8;
        public static final int STEPS = 200;
        public static final String TIMEOUT = "20ms";
        public static final int WARMUP_STEPS = 10;
        public static final String WARMUP_TIMEOUT = "5s";
        public static final long SEED = 42;
        /** What the defaults of {@code --fail} and {@code --readmit} are for 8 ranks and 200 steps. */
        public static final String FAILURES = "3@60:dispatch,5@120:combine";
        public static final String READMITS = "3@160";

        private Defaults() {
        }
    }

    /** Checks every value and replays the schedule (see the class comment). */
    public DemoConfig {
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(warmupTimeout, "warmupTimeout");
        failures = List.copyOf(failures);
        readmits = List.copyOf(readmits);
        validate(ranks, experts, redundant, tokens, hidden, topK, steps, timeout, warmupSteps, warmupTimeout);
        validateSchedule(ranks, steps, warmupSteps, failures, readmits);
    }

    /**
     * The default failures, scaled to the run: ranks {@code 3R/8} and {@code 5R/8} (3 and 5 of 8) stop at 30 % and 60 %
     * of the steps, in dispatch and in combine; one failure with 2 ranks, none with 1 rank or too few steps after the
     * warm-up.
     */
    public static List<FailureSpec> defaultFailures(int ranks, int steps, int warmupSteps) {
        int[] at = defaultSteps(steps, warmupSteps);
        if (ranks < 2 || at == null) {
            return List.of();
        }
        int first = 3 * ranks / 8;
        int second = Math.max(first + 1, 5 * ranks / 8);
        if (ranks == 2) {
            return List.of(new FailureSpec(first, at[0], FailurePhase.DISPATCH));
        }
        return List.of(new FailureSpec(first, at[0], FailurePhase.DISPATCH),
                new FailureSpec(second, at[1], FailurePhase.COMBINE));
    }

    /** The default readmission: the first default failure's rank comes back at 80 % of the steps. */
    public static List<ReadmitSpec> defaultReadmits(int ranks, int steps, int warmupSteps) {
        int[] at = defaultSteps(steps, warmupSteps);
        List<FailureSpec> failures = defaultFailures(ranks, steps, warmupSteps);
        return failures.isEmpty() ? List.of() : List.of(new ReadmitSpec(failures.get(0).rank(), at[2]));
    }

    /** Steps at 30, 60 and 80 % of the run (60, 120, 160 of 200), after the warm-up; null if they do not fit. */
    private static int[] defaultSteps(int steps, int warmupSteps) {
        int[] at = {Math.max(warmupSteps, steps * 3 / 10), 0, 0};
        at[1] = Math.max(at[0] + 1, steps * 6 / 10);
        at[2] = Math.max(at[1] + 1, steps * 8 / 10);
        return at[2] < steps ? at : null;
    }

    /** A builder holding the CLI's defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Physical expert slots per rank: {@code ceil(experts / ranks) + redundant}. */
    public int slotsPerRank() {
        return (experts + ranks - 1) / ranks + redundant;
    }

    /** The routing buffer's expert count: {@code ranks × slotsPerRank()}. */
    public int physicalExperts() {
        return ranks * slotsPerRank();
    }

    /** The failures injected in {@code step}, ascending by rank. */
    public List<FailureSpec> failuresAt(int step) {
        return failures.stream().filter(f -> f.step() == step).sorted(Comparator.comparingInt(FailureSpec::rank))
                .toList();
    }

    /** The readmissions before {@code step}, ascending by rank (the order every rank runs them in). */
    public List<ReadmitSpec> readmitsAt(int step) {
        return readmits.stream().filter(r -> r.step() == step).sorted(Comparator.comparingInt(ReadmitSpec::rank))
                .toList();
    }

    /** Which ranks are stopped when the run ends (failed and never readmitted afterwards). */
    public boolean[] stoppedAtEnd() {
        boolean[] stopped = new boolean[ranks];
        for (int s = 0; s < steps; s++) {
            readmitsAt(s).forEach(r -> stopped[r.rank()] = false);
            failuresAt(s).forEach(f -> stopped[f.rank()] = true);
        }
        return stopped;
    }

    private static void validate(int ranks, int experts, int redundant, int tokens, int hidden, int topK, int steps,
            Duration timeout, int warmupSteps, Duration warmupTimeout) {
        check(ranks >= 1, "--ranks must be >= 1, got " + ranks);
        check(experts >= 1, "--experts must be >= 1, got " + experts);
        check(redundant >= 0, "--redundant must be >= 0, got " + redundant);
        check(tokens >= 1, "--tokens must be >= 1, got " + tokens);
        check(hidden >= 1, "--hidden must be >= 1, got " + hidden);
        check(topK >= 1 && topK <= BufferConfig.MAX_TOP_K, "--topk must be in [1, " + BufferConfig.MAX_TOP_K
                + "], got " + topK);
        check(topK <= experts, "--topk " + topK + " exceeds --experts " + experts
                + " (a token picks distinct experts)");
        check(steps >= 1, "--steps must be >= 1, got " + steps);
        check(!timeout.isNegative() && !timeout.isZero(), "--timeout must be positive, got " + timeout);
        check(warmupSteps >= 0, "--warmup must be >= 0, got " + warmupSteps);
        check(!warmupTimeout.isNegative() && !warmupTimeout.isZero(),
                "--warmup-timeout must be positive, got " + warmupTimeout);
    }

    /**
     * Replays the schedule: per step, readmissions happen first (before the step), then failures (during it). A
     * readmitted rank must be stopped, a failing rank must be running, one rank must always survive, and failures fall
     * after the warm-up, so that their detection latency is the real timeout's.
     */
    private static void validateSchedule(int ranks, int steps, int warmupSteps, List<FailureSpec> failures,
            List<ReadmitSpec> readmits) {
        for (FailureSpec f : failures) {
            check(f.rank() < ranks, "--fail " + f + ": rank " + f.rank() + " outside [0, " + ranks + ")");
            check(f.step() < steps, "--fail " + f + ": step " + f.step() + " outside [0, " + steps + ")");
            check(f.step() >= warmupSteps, "--fail " + f + ": step " + f.step() + " is inside the warm-up (steps 0.."
                    + (warmupSteps - 1) + " run with --warmup-timeout); use a later step or a smaller --warmup");
        }
        for (ReadmitSpec r : readmits) {
            check(r.rank() < ranks, "--readmit " + r + ": rank " + r.rank() + " outside [0, " + ranks + ")");
            check(r.step() < steps, "--readmit " + r + ": step " + r.step() + " outside [0, " + steps + ")");
        }
        boolean[] stopped = new boolean[ranks];
        int running = ranks;
        for (int s = 0; s < steps; s++) {
            for (ReadmitSpec r : sortedAt(readmits, s)) {
                check(stopped[r.rank()], "--readmit " + r + ": rank " + r.rank() + " is not stopped before step "
                        + s + " (readmit needs an earlier --fail of that rank)");
                stopped[r.rank()] = false;
                running++;
            }
            for (FailureSpec f : failures) {
                if (f.step() != s) {
                    continue;
                }
                check(!stopped[f.rank()], "--fail " + f + ": rank " + f.rank() + " is already stopped at step " + s);
                stopped[f.rank()] = true;
                running--;
                check(running >= 1, "--fail " + f + ": no rank would survive step " + s);
            }
        }
    }

    private static List<ReadmitSpec> sortedAt(List<ReadmitSpec> readmits, int step) {
        return readmits.stream().filter(r -> r.step() == step).sorted(Comparator.comparingInt(ReadmitSpec::rank))
                .toList();
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Builds a {@link DemoConfig}; starts from {@link Defaults}, every setter returns the builder. */
    public static final class Builder {
        private int ranks = Defaults.RANKS;
        private int experts = Defaults.EXPERTS;
        private int redundant = Defaults.REDUNDANT;
        private int tokens = Defaults.TOKENS;
        private int hidden = Defaults.HIDDEN;
        private int topK = Defaults.TOP_K;
        private int steps = Defaults.STEPS;
        private Duration timeout = Duration.ofMillis(20);
        private int warmupSteps = Defaults.WARMUP_STEPS;
        private Duration warmupTimeout = Duration.ofSeconds(5);
        private boolean rehearse = true;
        private long seed = Defaults.SEED;
        private List<FailureSpec> failures = List.of();
        private List<ReadmitSpec> readmits = List.of();

        private Builder() {
        }

        public Builder ranks(int v) {
            ranks = v;
            return this;
        }

        public Builder experts(int v) {
            experts = v;
            return this;
        }

        public Builder redundant(int v) {
            redundant = v;
            return this;
        }

        public Builder tokens(int v) {
            tokens = v;
            return this;
        }

        public Builder hidden(int v) {
            hidden = v;
            return this;
        }

        public Builder topK(int v) {
            topK = v;
            return this;
        }

        public Builder steps(int v) {
            steps = v;
            return this;
        }

        public Builder timeout(Duration v) {
            timeout = v;
            return this;
        }

        public Builder warmupSteps(int v) {
            warmupSteps = v;
            return this;
        }

        public Builder warmupTimeout(Duration v) {
            warmupTimeout = v;
            return this;
        }

        public Builder rehearse(boolean v) {
            rehearse = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder failures(List<FailureSpec> v) {
            failures = v;
            return this;
        }

        public Builder readmits(List<ReadmitSpec> v) {
            readmits = v;
            return this;
        }

        /** @throws IllegalArgumentException naming the first bad value or schedule conflict */
        public DemoConfig build() {
            return new DemoConfig(ranks, experts, redundant, tokens, hidden, topK, steps, timeout, warmupSteps,
                    warmupTimeout, rehearse, seed, failures, readmits);
        }
    }
}
