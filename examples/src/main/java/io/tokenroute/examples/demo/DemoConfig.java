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

import io.tokenroute.routing.BufferConfig;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * Everything a {@link DecodeDemo} run is made of. Immutable; {@link #builder()} starts from the CLI's decode defaults,
 * {@link #builder(DemoMode)} from those of either mode, and construction checks every value and the failure/readmit
 * schedule, so a bad run is refused before any thread starts.
 *
 * @param mode the routing path of every step: low-latency decode, or high-throughput prefill (docs/contract.md §3b)
 * @param ranks R, ranks (threads or processes, as the transport runs them)
 * @param experts logical experts (the model's); need not be a multiple of R
 * @param redundant redundant (initially empty) expert slots per rank, where a failed rank's experts are re-hosted
 * @param tokens tokens each rank routes per step (T; in the prefill mode the buffer's
 *     {@code prefillMaxTokensPerRank})
 * @param hidden H, the hidden size
 * @param topK experts per token
 * @param steps steps
 * @param timeout the per-peer wait timeout after the warm-up
 * @param warmupSteps the first steps, run with {@code warmupTimeout} while the JIT compiles the hot paths
 * @param warmupTimeout the timeout of the warm-up steps
 * @param rehearse whether a short throw-away run with failures and readmissions precedes the run, so that the JIT has
 *     compiled the failure paths before the first real failure (see {@link DecodeDemo#rehearsalOf})
 * @param seed seeds the router, the token states and the expert weights
 * @param failures injected failures, any order; in the prefill mode {@code dispatch} and {@code combine} are stored
 *     as {@code prefill-dispatch} and {@code prefill-combine} ({@link FailurePhase#inMode})
 * @param readmits readmissions, any order
 * @param prefillChunkRows rows per chunk of a prefill queue (prefill mode only)
 * @param prefillChunks chunks per prefill queue (prefill mode only): each pair of ranks streams through
 *     {@code prefillChunks × prefillChunkRows} rows, far fewer than a step's tokens, so the rows stream
 * @param skew how unevenly the router spreads tokens over the experts ({@link RoutingSkew})
 */
public record DemoConfig(
        DemoMode mode,
        int ranks,
        int experts,
        int redundant,
        int tokens,
        int hidden,
        int topK,
        int steps,
        Duration timeout,
        int warmupSteps,
        Duration warmupTimeout,
        boolean rehearse,
        long seed,
        List<FailureSpec> failures,
        List<ReadmitSpec> readmits,
        int prefillChunkRows,
        int prefillChunks,
        RoutingSkew skew) {

    /** The CLI's defaults of the decode mode, as compile-time constants so picocli annotations can show them. */
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
        public static final int PREFILL_CHUNK_ROWS = 32;
        public static final int PREFILL_CHUNKS = 4;

        private Defaults() {}
    }

    /**
     * The CLI's defaults of the prefill mode: each rank's 512 tokens a step stream through queues of 4 × 32 rows per
     * pair of ranks, so every pair's queue refills several times per step and a failure meets it mid-stream.
     */
    public static final class PrefillDefaults {
        public static final int RANKS = 4;
        public static final int EXPERTS = 32;
        public static final int REDUNDANT = 3;
        public static final int TOKENS = 512;
        public static final int HIDDEN = 256;
        public static final int TOP_K = 6;
        public static final int STEPS = 40;
        public static final String TIMEOUT = "50ms";
        public static final int WARMUP_STEPS = 5;
        /** What the defaults of {@code --fail} and {@code --readmit} are for 4 ranks and 40 steps. */
        public static final String FAILURES = "1@12:prefill-notify,2@20:prefill-dispatch,3@28:prefill-combine";

        public static final String READMITS = "1@16,2@24,3@32";

        private PrefillDefaults() {}
    }

    /** Checks every value and replays the schedule (see the class comment). */
    public DemoConfig {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(warmupTimeout, "warmupTimeout");
        failures = failures.stream().map(f -> inMode(f, mode)).toList();
        readmits = List.copyOf(readmits);
        validate(ranks, experts, redundant, tokens, hidden, topK, steps, timeout, warmupSteps, warmupTimeout);
        check(prefillChunkRows >= 1, "--chunk-rows must be >= 1, got " + prefillChunkRows);
        check(prefillChunks >= 1, "--chunks must be >= 1, got " + prefillChunks);
        validateSchedule(ranks, steps, warmupSteps, failures, readmits);
    }

    private static FailureSpec inMode(FailureSpec f, DemoMode mode) {
        try {
            FailurePhase phase = f.phase().inMode(mode);
            return phase == f.phase() ? f : new FailureSpec(f.rank(), f.step(), phase);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--fail " + f + ": " + e.getMessage(), e);
        }
    }

    /**
     * The default failures of {@code mode}, scaled to the run. Decode: ranks {@code 3R/8} and {@code 5R/8} (3 and 5 of
     * 8) stop at 30 % and 60 % of the steps, in dispatch and in combine; one failure with 2 ranks. Prefill: ranks
     * {@code R/4}, {@code R/2} and {@code 3R/4} (1, 2 and 3 of 4) stop at 30, 50 and 70 % of the steps, in the
     * prefill notify, mid-dispatch and mid-combine ({@link #defaultReadmits} brings each back 10 % later); fewer ranks
     * get the dispatch and combine failures first. None with 1 rank or too few steps after the warm-up.
     */
    public static List<FailureSpec> defaultFailures(DemoMode mode, int ranks, int steps, int warmupSteps) {
        if (mode == DemoMode.PREFILL) {
            return prefillFailures(ranks, steps, warmupSteps);
        }
        int[] at = defaultSteps(steps, warmupSteps);
        if (ranks < 2 || at == null) {
            return List.of();
        }
        int first = 3 * ranks / 8;
        int second = Math.max(first + 1, 5 * ranks / 8);
        if (ranks == 2) {
            return List.of(new FailureSpec(first, at[0], FailurePhase.DISPATCH));
        }
        return List.of(
                new FailureSpec(first, at[0], FailurePhase.DISPATCH),
                new FailureSpec(second, at[1], FailurePhase.COMBINE));
    }

    /**
     * The default readmissions of {@code mode}. Decode: the first default failure's rank comes back at 80 % of the
     * steps. Prefill: each failed rank comes back 10 % of the steps after its failure, before the next one fails.
     */
    public static List<ReadmitSpec> defaultReadmits(DemoMode mode, int ranks, int steps, int warmupSteps) {
        List<FailureSpec> failures = defaultFailures(mode, ranks, steps, warmupSteps);
        if (mode == DemoMode.PREFILL) {
            int[] back = prefillSteps(steps, warmupSteps);
            return IntStream.range(0, failures.size())
                    .mapToObj(i -> new ReadmitSpec(failures.get(i).rank(), back[2 * i + 1]))
                    .toList();
        }
        int[] at = defaultSteps(steps, warmupSteps);
        return failures.isEmpty()
                ? List.of()
                : List.of(new ReadmitSpec(failures.get(0).rank(), at[2]));
    }

    /**
     * The default failures when a failed rank cannot come back (rank processes are SIGKILLed): at most
     * {@code (R - 1) / 2} of {@link #defaultFailures}, so that more than half of the ranks serve to the end. Prefill
     * keeps its mid-stream failures first (for 4 ranks: the rank stopped mid-dispatch).
     */
    public static List<FailureSpec> defaultFailuresWithoutReturn(DemoMode mode, int ranks, int steps, int warmupSteps) {
        List<FailureSpec> all = defaultFailures(mode, ranks, steps, warmupSteps);
        int keep = Math.max(1, (ranks - 1) / 2);
        if (all.size() <= keep) {
            return all;
        }
        return all.stream()
                .sorted(Comparator.comparing((FailureSpec f) -> f.phase() == FailurePhase.PREFILL_NOTIFY))
                .limit(keep)
                .sorted(Comparator.comparingInt(FailureSpec::step))
                .toList();
    }

    /** See {@link #defaultFailures}: distinct ranks, so that the schedule also holds without the readmissions. */
    private static List<FailureSpec> prefillFailures(int ranks, int steps, int warmupSteps) {
        int[] at = prefillSteps(steps, warmupSteps);
        if (ranks < 2 || at == null) {
            return List.of();
        }
        int[] victims = IntStream.of(ranks / 4, ranks / 2, 3 * ranks / 4)
                .filter(r -> r >= 1)
                .distinct()
                .toArray();
        List<FailurePhase> phases = victims.length == 3
                ? List.of(FailurePhase.PREFILL_NOTIFY, FailurePhase.PREFILL_DISPATCH, FailurePhase.PREFILL_COMBINE)
                : List.of(FailurePhase.PREFILL_DISPATCH, FailurePhase.PREFILL_COMBINE);
        return IntStream.range(0, victims.length)
                .mapToObj(i -> new FailureSpec(victims[i], at[2 * i], phases.get(i)))
                .toList();
    }

    /**
     * Prefill failure and readmit steps, alternating, at 30, 40, 50, 60, 70, 80 % of the run (12, 16, 20, 24, 28, 32
     * of 40), after the warm-up and strictly increasing; null if they do not fit.
     */
    private static int[] prefillSteps(int steps, int warmupSteps) {
        int[] at = new int[6];
        for (int i = 0; i < at.length; i++) {
            at[i] = Math.max(i == 0 ? warmupSteps : at[i - 1] + 1, steps * (3 + i) / 10);
        }
        return at[at.length - 1] < steps ? at : null;
    }

    /** Steps at 30, 60 and 80 % of the run (60, 120, 160 of 200), after the warm-up; null if they do not fit. */
    private static int[] defaultSteps(int steps, int warmupSteps) {
        int[] at = {Math.max(warmupSteps, steps * 3 / 10), 0, 0};
        at[1] = Math.max(at[0] + 1, steps * 6 / 10);
        at[2] = Math.max(at[1] + 1, steps * 8 / 10);
        return at[2] < steps ? at : null;
    }

    /** A builder holding the CLI's decode defaults ({@link Defaults}). */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A builder holding the CLI's defaults of {@code mode} ({@link Defaults} or {@link PrefillDefaults}); failures and
     * readmissions start empty, as with {@link #builder()}.
     */
    public static Builder builder(DemoMode mode) {
        Builder b = new Builder().mode(mode);
        if (mode == DemoMode.PREFILL) {
            b.ranks(PrefillDefaults.RANKS)
                    .experts(PrefillDefaults.EXPERTS)
                    .redundant(PrefillDefaults.REDUNDANT)
                    .tokens(PrefillDefaults.TOKENS)
                    .hidden(PrefillDefaults.HIDDEN)
                    .topK(PrefillDefaults.TOP_K)
                    .steps(PrefillDefaults.STEPS)
                    .timeout(Duration.ofMillis(50))
                    .warmupSteps(PrefillDefaults.WARMUP_STEPS);
        }
        return b;
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
        return failures.stream()
                .filter(f -> f.step() == step)
                .sorted(Comparator.comparingInt(FailureSpec::rank))
                .toList();
    }

    /** The readmissions before {@code step}, ascending by rank (the order every rank runs them in). */
    public List<ReadmitSpec> readmitsAt(int step) {
        return readmits.stream()
                .filter(r -> r.step() == step)
                .sorted(Comparator.comparingInt(ReadmitSpec::rank))
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

    private static void validate(
            int ranks,
            int experts,
            int redundant,
            int tokens,
            int hidden,
            int topK,
            int steps,
            Duration timeout,
            int warmupSteps,
            Duration warmupTimeout) {
        check(ranks >= 1, "--ranks must be >= 1, got " + ranks);
        check(experts >= 1, "--experts must be >= 1, got " + experts);
        check(redundant >= 0, "--redundant must be >= 0, got " + redundant);
        check(tokens >= 1, "--tokens must be >= 1, got " + tokens);
        check(hidden >= 1, "--hidden must be >= 1, got " + hidden);
        check(
                topK >= 1 && topK <= BufferConfig.MAX_TOP_K,
                "--topk must be in [1, " + BufferConfig.MAX_TOP_K + "], got " + topK);
        check(
                topK <= experts,
                "--topk " + topK + " exceeds --experts " + experts + " (a token picks distinct experts)");
        check(steps >= 1, "--steps must be >= 1, got " + steps);
        check(!timeout.isNegative() && !timeout.isZero(), "--timeout must be positive, got " + timeout);
        check(warmupSteps >= 0, "--warmup must be >= 0, got " + warmupSteps);
        check(
                !warmupTimeout.isNegative() && !warmupTimeout.isZero(),
                "--warmup-timeout must be positive, got " + warmupTimeout);
    }

    /**
     * Replays the schedule: per step, readmissions happen first (before the step), then failures (during it). A
     * readmitted rank must be stopped, a failing rank must be running, one rank must always survive, and failures fall
     * after the warm-up, so that their detection latency is the real timeout's.
     */
    private static void validateSchedule(
            int ranks, int steps, int warmupSteps, List<FailureSpec> failures, List<ReadmitSpec> readmits) {
        for (FailureSpec f : failures) {
            check(f.rank() < ranks, "--fail " + f + ": rank " + f.rank() + " outside [0, " + ranks + ")");
            check(f.step() < steps, "--fail " + f + ": step " + f.step() + " outside [0, " + steps + ")");
            check(
                    f.step() >= warmupSteps,
                    "--fail " + f + ": step " + f.step() + " is inside the warm-up (steps 0.." + (warmupSteps - 1)
                            + " run with --warmup-timeout); use a later step or a smaller --warmup");
        }
        for (ReadmitSpec r : readmits) {
            check(r.rank() < ranks, "--readmit " + r + ": rank " + r.rank() + " outside [0, " + ranks + ")");
            check(r.step() < steps, "--readmit " + r + ": step " + r.step() + " outside [0, " + steps + ")");
        }
        boolean[] stopped = new boolean[ranks];
        int running = ranks;
        for (int s = 0; s < steps; s++) {
            for (ReadmitSpec r : sortedAt(readmits, s)) {
                check(
                        stopped[r.rank()],
                        "--readmit " + r + ": rank " + r.rank() + " is not stopped before step " + s
                                + " (readmit needs an earlier --fail of that rank)");
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
        return readmits.stream()
                .filter(r -> r.step() == step)
                .sorted(Comparator.comparingInt(ReadmitSpec::rank))
                .toList();
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Builds a {@link DemoConfig}; starts from {@link Defaults}, every setter returns the builder. */
    public static final class Builder {
        private DemoMode mode = DemoMode.DECODE;
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
        private int prefillChunkRows = Defaults.PREFILL_CHUNK_ROWS;
        private int prefillChunks = Defaults.PREFILL_CHUNKS;
        private RoutingSkew skew = RoutingSkew.MILD;

        private Builder() {}

        public Builder mode(DemoMode v) {
            mode = v;
            return this;
        }

        public Builder prefillChunkRows(int v) {
            prefillChunkRows = v;
            return this;
        }

        public Builder prefillChunks(int v) {
            prefillChunks = v;
            return this;
        }

        public Builder skew(RoutingSkew v) {
            skew = Objects.requireNonNull(v, "skew");
            return this;
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
            return new DemoConfig(
                    mode,
                    ranks,
                    experts,
                    redundant,
                    tokens,
                    hidden,
                    topK,
                    steps,
                    timeout,
                    warmupSteps,
                    warmupTimeout,
                    rehearse,
                    seed,
                    failures,
                    readmits,
                    prefillChunkRows,
                    prefillChunks,
                    skew);
        }
    }
}
