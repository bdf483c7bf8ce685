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

import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.LatencyStats;
import io.tokenroute.examples.demo.DemoSummary.ReadmitReport;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import io.tokenroute.examples.demo.DemoSummary.UnexpectedMask;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Collects what the rank threads report during a {@link DecodeDemo} run and turns it into a {@link DemoSummary}.
 *
 * <p>Per-step timings go into plain arrays, one cell per (step, rank) written by that rank only and read after the
 * threads were joined; events (detections, readmissions, mismatches) are rare and synchronised.
 */
final class DemoRecorder {
    private static final int MAX_MISMATCH_EXAMPLES = 5;

    /**
     * One agreed detection: the survivors that agree on the same newly masked ranks in the same step share it and add
     * their own damaged and recomputed tokens.
     */
    static final class Detection {
        final int step;
        final int[] ranks;
        final int[] maskedAfter;
        final AtomicLong damaged = new AtomicLong();
        final AtomicLong recomputed = new AtomicLong();
        /** Per masked rank: how many survivors masked it in dispatch, in combine, or learned it from agreeMask. */
        private final Map<Integer, int[]> seenIn = new LinkedHashMap<>();

        private int moves = -1;
        private int[] unhosted = new int[0];

        Detection(int step, int[] ranks, int[] maskedAfter) {
            this.step = step;
            this.ranks = ranks;
            this.maskedAfter = maskedAfter;
            for (int r : ranks) {
                seenIn.put(r, new int[3]);
            }
        }

        /** A survivor's view: which of the newly agreed ranks it had masked itself, and where. */
        synchronized void observe(boolean[] inDispatch, boolean[] inCombine) {
            seenIn.forEach((r, counts) -> counts[inDispatch[r] ? 0 : inCombine[r] ? 1 : 2]++);
        }

        /** The replan's outcome (equal on every survivor; the first report is kept). */
        synchronized void replanned(int expertMoves, int[] unhostedExperts) {
            if (moves < 0) {
                moves = expertMoves;
                unhosted = unhostedExperts;
            }
        }

        synchronized String seenIn(int rank) {
            int[] c = seenIn.get(rank);
            String[] names = {"dispatch", "combine", "agreeMask"};
            return IntStream.range(0, 3)
                    .filter(i -> c[i] > 0)
                    .mapToObj(i -> names[i] + " " + c[i])
                    .collect(Collectors.joining(", "));
        }

        /** Adds another process's survivor counts for {@code rank} (dispatch, combine, agreeMask). */
        synchronized void addSeen(int rank, int[] counts) {
            int[] c = seenIn.get(rank);
            for (int i = 0; i < 3; i++) {
                c[i] += counts[i];
            }
        }

        synchronized int[] seenCounts(int rank) {
            return seenIn.get(rank).clone();
        }

        synchronized int moves() {
            return moves;
        }

        synchronized int[] unhosted() {
            return unhosted;
        }
    }

    /** The readmissions before one step, shared by their participants. */
    private static final class Readmission {
        boolean ok = true;
        long survivorNanos;
        int[] maskedAfter = new int[0];
        int moves = -1;
    }

    private final DemoConfig config;
    private final DemoListener listener;
    private final long[][] stepNanos;
    private final long[][] agreeNanos;
    private final int[] liveRanks;
    private final AtomicInteger progress = new AtomicInteger();
    private final AtomicLong decoded = new AtomicLong();
    private final AtomicLong rerouted = new AtomicLong();
    private final AtomicLong checked = new AtomicLong();
    private final AtomicLong mismatches = new AtomicLong();
    private final List<String> mismatchExamples = new ArrayList<>();
    private final Map<String, Detection> detections = new LinkedHashMap<>();
    private final Map<Integer, Readmission> readmissions = new LinkedHashMap<>();
    /** Live ranks their peers masked (rank:step), as the ranks themselves found out. */
    private final List<int[]> falselyMasked = new ArrayList<>();
    /** Falsely masked ranks readmitted (rank:step back at), as the survivors recorded it. */
    private final Map<String, int[]> cameBack = new LinkedHashMap<>();
    /** Per agreement (step:index), the mask the first live rank returned; a different one from another is a split. */
    private final Map<String, String> agreedMasks = new LinkedHashMap<>();

    private final List<String> splitViews = new ArrayList<>();
    /** Falsely masked ranks that gave up coming back (rank:step). */
    private final List<int[]> notReadmitted = new ArrayList<>();

    private final List<String> errors = new ArrayList<>();

    DemoRecorder(DemoConfig config, DemoListener listener) {
        this.config = config;
        this.listener = listener;
        this.stepNanos = new long[config.steps()][config.ranks()];
        this.agreeNanos = new long[config.steps()][config.ranks()];
        this.liveRanks = new int[config.steps()];
    }

    // ------------------------------------------------------------------------------------------------ from ranks

    /**
     * Rank {@code rank} completed {@code step}: its time, its first agreeMask's time, the live ranks it agreed on, its
     * tokens, and how many of them the router sent around unhosted experts.
     */
    void stepDone(int step, int rank, long nanos, long agreeMaskNanos, int live, int tokensDecoded, int rerouted) {
        stepNanos[step][rank] = nanos;
        agreeNanos[step][rank] = agreeMaskNanos;
        liveRanks[step] = live;
        decoded.addAndGet(tokensDecoded);
        this.rerouted.addAndGet(rerouted);
        if (progress.getAndAccumulate(step + 1, Math::max) < step + 1) {
            listener.onProgress(step + 1, live);
        }
    }

    /** {@code count} combine outputs were compared with the reference. */
    void checked(int count) {
        checked.addAndGet(count);
    }

    /** Token {@code token} of rank {@code rank}'s round {@code round} in {@code step} differed from the reference. */
    void mismatch(int rank, int step, int round, int token) {
        mismatches.incrementAndGet();
        synchronized (mismatchExamples) {
            if (mismatchExamples.size() < MAX_MISMATCH_EXAMPLES) {
                mismatchExamples.add("rank " + rank + ", step " + step + ", round " + round + ", token " + token);
            }
        }
    }

    /** A survivor agreed in {@code step} that {@code newlyMasked} are gone; returns the detection it shares. */
    synchronized Detection detected(int step, int[] newlyMasked, int[] agreedMask) {
        String key = step + ":" + Arrays.toString(newlyMasked);
        Detection d = detections.get(key);
        if (d == null) {
            d = new Detection(step, newlyMasked, masked(agreedMask));
            detections.put(key, d);
            listener.onEvent("step " + step + ": survivors agree rank(s) " + Arrays.toString(newlyMasked)
                    + " stopped; masked now " + Arrays.toString(d.maskedAfter)
                    + "; re-placing experts and recomputing damaged tokens");
        }
        return d;
    }

    /**
     * A participant finished the readmissions before {@code step}.
     *
     * @param survivor whether it was active before (only survivors time the readmission and count moves: a returning
     *     rank's old placement is stale)
     */
    synchronized void readmitted(int step, boolean survivor, boolean ok, long nanos, int[] mask, int moves) {
        Readmission r = readmissions.computeIfAbsent(step, s -> new Readmission());
        boolean first = r.moves < 0 && survivor;
        r.ok &= ok;
        r.maskedAfter = masked(mask);
        if (survivor) {
            r.survivorNanos = Math.max(r.survivorNanos, nanos);
            r.moves = moves;
        }
        if (first) {
            listener.onEvent("step " + step + ": readmitted "
                    + config.readmitsAt(step).stream()
                            .map(s -> String.valueOf(s.rank()))
                            .collect(Collectors.joining(", "))
                    + "; masked now "
                    + Arrays.toString(r.maskedAfter) + "; experts re-placed (" + moves + " moves)");
        }
    }

    /**
     * Live rank {@code rank}'s {@code index}-th agreeMask of {@code step} returned {@code mask}: every live rank must
     * return the same one (a difference is a split view, which fails the run).
     */
    synchronized void agreed(int step, int index, int rank, int[] mask) {
        String key = step + ":" + index;
        String mine = Arrays.toString(masked(mask));
        String first = agreedMasks.putIfAbsent(key, mine);
        if (first != null && !first.equals(mine)) {
            splitViews.add("step " + step + " agreement " + index + ": rank " + rank + " agreed on masked " + mine
                    + ", another rank on " + first);
            listener.onEvent("step " + step + ": split view: rank " + rank + " agreed on masked " + mine + ", another"
                    + " rank on " + first);
        }
    }

    /** Rank {@code rank} found in {@code step} that its peers had masked it although it was running. */
    synchronized void falselyMasked(int rank, int step) {
        falselyMasked.add(new int[] {rank, step});
        listener.onEvent("step " + step + ": rank " + rank + " was masked by its peers although it was running; it"
                + " asks to be readmitted");
    }

    /** A survivor readmitted falsely masked rank {@code rank} before {@code step}. */
    synchronized void cameBack(int rank, int step, boolean ok, long nanos) {
        if (cameBack.putIfAbsent(rank + ":" + step, new int[] {rank, step, ok ? 1 : 0}) == null) {
            listener.onEvent("step " + step + ": rank " + rank + (ok ? " readmitted" : " could not be readmitted")
                    + " after its false mask (" + String.format(java.util.Locale.ROOT, "%.1f", nanos / 1e6)
                    + " ms)");
        }
    }

    /** Falsely masked rank {@code rank} gave up asking to come back (nobody readmitted it). */
    synchronized void notReadmitted(int rank, int step) {
        notReadmitted.add(new int[] {rank, step});
        listener.onEvent("rank " + rank + " was not readmitted after its false mask at step " + step);
    }

    /** Rank {@code rank}'s thread ended with {@code error}. */
    synchronized void error(int rank, Throwable error) {
        errors.add("rank " + rank + ": " + error);
        listener.onEvent("rank " + rank + " failed: " + error);
    }

    // ------------------------------------------------------------------------------------------------ processes

    /**
     * What rank {@code rank} recorded, as {@code key=value} pairs for its launcher (one recorder per rank
     * process, which only ever saw its own rank); {@link #merge} reads them back in the parent.
     */
    synchronized Map<String, String> export(int rank) {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("stepNanos", join(IntStream.range(0, config.steps()).mapToObj(s -> stepNanos[s][rank]), ","));
        out.put("agreeNanos", join(IntStream.range(0, config.steps()).mapToObj(s -> agreeNanos[s][rank]), ","));
        out.put("live", join(Arrays.stream(liveRanks).boxed(), ","));
        out.put("decoded", String.valueOf(decoded.get()));
        out.put("rerouted", String.valueOf(rerouted.get()));
        out.put("checked", String.valueOf(checked.get()));
        out.put("mismatches", String.valueOf(mismatches.get()));
        synchronized (mismatchExamples) {
            out.put("mismatchExamples", String.join(";", mismatchExamples));
        }
        // step|ranks|maskedAfter|seen (d.c.a per rank, '/')|damaged|recomputed|moves|unhosted; detections ';'
        out.put(
                "detections",
                join(
                        detections.values().stream()
                                .map(d -> d.step + "|" + dots(d.ranks) + "|"
                                        + dots(d.maskedAfter) + "|"
                                        + join(Arrays.stream(d.ranks).mapToObj(r -> dots(d.seenCounts(r))), "/")
                                        + "|" + d.damaged.get() + "|" + d.recomputed.get() + "|" + d.moves() + "|"
                                        + dots(d.unhosted())),
                        ";"));
        out.put("falselyMasked", join(falselyMasked.stream().map(m -> m[0] + ":" + m[1]), ","));
        out.put("cameBack", join(cameBack.values().stream().map(m -> m[0] + ":" + m[1] + ":" + m[2]), ","));
        out.put("notReadmitted", join(notReadmitted.stream().map(m -> m[0] + ":" + m[1]), ","));
        // step:index=masked ranks (dot-separated), agreements ';'
        out.put(
                "agreed",
                join(
                        agreedMasks.entrySet().stream()
                                .map(e -> e.getKey() + "="
                                        + e.getValue()
                                                .replaceAll("[\\[\\] ]", "")
                                                .replace(',', '.')),
                        ";"));
        out.put("errors", String.join("\n", errors));
        return out;
    }

    /** Adds what rank process {@code rank} {@link #export exported}. */
    synchronized void merge(int rank, Map<String, String> in) {
        long[] nanos = longs(in.get("stepNanos"), ",");
        long[] agree = longs(in.get("agreeNanos"), ",");
        long[] live = longs(in.get("live"), ",");
        for (int s = 0; s < config.steps() && s < nanos.length; s++) {
            stepNanos[s][rank] = nanos[s];
            agreeNanos[s][rank] = agree[s];
            if (nanos[s] > 0) {
                liveRanks[s] = (int) live[s];
            }
        }
        decoded.addAndGet(Long.parseLong(in.get("decoded")));
        rerouted.addAndGet(Long.parseLong(in.get("rerouted")));
        checked.addAndGet(Long.parseLong(in.get("checked")));
        mismatches.addAndGet(Long.parseLong(in.get("mismatches")));
        for (String m : split(in.get("mismatchExamples"), ";")) {
            if (mismatchExamples.size() < MAX_MISMATCH_EXAMPLES) {
                mismatchExamples.add(m);
            }
        }
        for (String text : split(in.get("detections"), ";")) {
            String[] f = text.split("\\|", -1);
            int[] newly = ints(f[1]);
            int[] maskedAfter = ints(f[2]);
            int[] mask = new int[config.ranks()];
            for (int r : maskedAfter) {
                mask[r] = 1;
            }
            Detection d = detected(Integer.parseInt(f[0]), newly, mask);
            String[] seen = f[3].split("/", -1);
            for (int i = 0; i < newly.length; i++) {
                d.addSeen(newly[i], ints(seen[i]));
            }
            d.damaged.addAndGet(Long.parseLong(f[4]));
            d.recomputed.addAndGet(Long.parseLong(f[5]));
            int moves = Integer.parseInt(f[6]);
            if (moves >= 0) {
                d.replanned(moves, ints(f[7]));
            }
        }
        for (String m : split(in.get("falselyMasked"), ",")) {
            int[] v = ints(m.replace(':', '.'));
            falselyMasked(v[0], v[1]);
        }
        for (String m : split(in.get("cameBack"), ",")) {
            int[] v = ints(m.replace(':', '.'));
            cameBack(v[0], v[1], v[2] != 0, 0);
        }
        for (String m : split(in.get("notReadmitted"), ",")) {
            int[] v = ints(m.replace(':', '.'));
            notReadmitted(v[0], v[1]);
        }
        for (String a : split(in.get("agreed"), ";")) {
            String[] kv = a.split("=", -1);
            int[] key = ints(kv[0].replace(':', '.'));
            int[] mask = new int[config.ranks()];
            for (int r : ints(kv[1])) {
                mask[r] = 1;
            }
            agreed(key[0], key[1], rank, mask);
        }
        for (String e : split(in.get("errors"), "\n")) {
            errors.add(e);
            listener.onEvent(e);
        }
    }

    private static String join(java.util.stream.Stream<?> values, String separator) {
        return values.map(String::valueOf).collect(Collectors.joining(separator));
    }

    private static String dots(int[] values) {
        return join(Arrays.stream(values).boxed(), ".");
    }

    private static List<String> split(String text, String separator) {
        return text == null || text.isEmpty()
                ? List.of()
                : Arrays.asList(text.split(java.util.regex.Pattern.quote(separator), -1));
    }

    private static long[] longs(String text, String separator) {
        return split(text, separator).stream().mapToLong(Long::parseLong).toArray();
    }

    private static int[] ints(String text) {
        return split(text, ".").stream().mapToInt(Integer::parseInt).toArray();
    }

    // ------------------------------------------------------------------------------------------------ summary

    /** The summary; call after every rank thread ended. */
    synchronized DemoSummary summary(long elapsedNanos) {
        int steps = config.steps();
        double[] stepMillis = new double[steps];
        StepKind[] kinds = new StepKind[steps];
        Set<Integer> detectionSteps =
                detections.values().stream().map(d -> d.step).collect(Collectors.toSet());
        List<Double> agree = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            long max = Arrays.stream(stepNanos[s]).max().orElse(0);
            stepMillis[s] = max > 0 ? max / 1e6 : Double.NaN;
            kinds[s] = detectionSteps.contains(s)
                    ? StepKind.DETECTION
                    : s < config.warmupSteps()
                            ? StepKind.WARMUP
                            : liveRanks[s] < config.ranks() ? StepKind.DEGRADED : StepKind.HEALTHY;
            if (kinds[s] == StepKind.HEALTHY || kinds[s] == StepKind.DEGRADED) {
                Arrays.stream(agreeNanos[s]).filter(n -> n > 0).forEach(n -> agree.add(n / 1e6));
            }
        }
        Set<String> matched = new HashSet<>();
        List<FailureReport> failures = config.failures().stream()
                .map(f -> failureReport(f, stepMillis, matched))
                .toList();
        List<UnexpectedMask> unexpected = falseMasks(matched);
        List<ReadmitReport> readmits =
                config.readmits().stream().map(this::readmitReport).toList();
        return new DemoSummary(
                config,
                elapsedNanos,
                decoded.get(),
                checked.get(),
                rerouted.get(),
                detections.values().stream().mapToLong(d -> d.damaged.get()).sum(),
                detections.values().stream().mapToLong(d -> d.recomputed.get()).sum(),
                mismatches.get(),
                List.copyOf(mismatchExamples),
                failures,
                readmits,
                unexpected,
                List.copyOf(splitViews),
                List.copyOf(errors),
                stepMillis,
                liveRanks.clone(),
                kinds,
                stats(stepMillis, kinds, StepKind.HEALTHY),
                stats(stepMillis, kinds, StepKind.DEGRADED),
                stats(stepMillis, kinds, StepKind.DETECTION),
                LatencyStats.of(agree.stream().mapToDouble(Double::doubleValue).toArray()));
    }

    /**
     * The false masks: ranks the survivors masked that no injected failure stopped, and ranks that found out they were
     * masked while running (one entry per episode: a rank's own report within a step of the survivors' detection is
     * the same one), each with the step it came back at.
     */
    private List<UnexpectedMask> falseMasks(Set<String> matched) {
        List<int[]> episodes = new ArrayList<>();
        for (Detection d : detections.values()) {
            for (int r : d.ranks) {
                if (!matched.contains(d.step + ":" + r)) {
                    episodes.add(new int[] {r, d.step});
                }
            }
        }
        for (int[] m : falselyMasked) {
            boolean known = episodes.stream().anyMatch(e -> e[0] == m[0] && Math.abs(e[1] - m[1]) <= 1);
            if (!known) {
                episodes.add(m);
            }
        }
        boolean runEnded = progress.get() >= config.steps();
        List<UnexpectedMask> out = new ArrayList<>();
        for (int[] e : episodes) {
            int back = cameBack.values().stream()
                    .filter(c -> c[0] == e[0] && c[1] > e[1] && c[2] != 0)
                    .mapToInt(c -> c[1])
                    .min()
                    .orElse(-1);
            boolean gaveUp = notReadmitted.stream().anyMatch(n -> n[0] == e[0] && Math.abs(n[1] - e[1]) <= 1);
            int backAt = back >= 0
                    ? back
                    : runEnded && !gaveUp
                            ? UnexpectedMask.RUN_ENDED
                            : runEnded && gaveUp && lastStepsOf(e[1])
                                    ? UnexpectedMask.RUN_ENDED
                                    : UnexpectedMask.NOT_BACK;
            out.add(new UnexpectedMask(e[0], e[1], backAt));
        }
        out.sort(java.util.Comparator.comparingInt(UnexpectedMask::step).thenComparingInt(UnexpectedMask::rank));
        return out;
    }

    /** Whether a false mask at {@code step} left the survivors too few steps to readmit the rank before the end. */
    private boolean lastStepsOf(int step) {
        return step >= config.steps() - 2;
    }

    /**
     * Matches an injected failure with the first detection of its rank from its step until the rank's next
     * readmission (a rank may fail, come back and fail again).
     */
    private FailureReport failureReport(FailureSpec f, double[] stepMillis, Set<String> matched) {
        int until = config.readmits().stream()
                .filter(r -> r.rank() == f.rank() && r.step() > f.step())
                .mapToInt(ReadmitSpec::step)
                .min()
                .orElse(config.steps());
        for (Detection d : detections.values()) {
            if (d.step >= f.step() && d.step < until && Arrays.stream(d.ranks).anyMatch(r -> r == f.rank())) {
                matched.add(d.step + ":" + f.rank());
                return new FailureReport(
                        f,
                        d.step,
                        stepMillis[d.step],
                        d.seenIn(f.rank()),
                        d.maskedAfter,
                        d.damaged.get(),
                        d.recomputed.get(),
                        d.moves(),
                        d.unhosted());
            }
        }
        return new FailureReport(f, -1, Double.NaN, "", new int[0], 0, 0, 0, new int[0]);
    }

    private ReadmitReport readmitReport(ReadmitSpec spec) {
        Readmission r = readmissions.get(spec.step());
        if (r == null) {
            return new ReadmitReport(spec, false, Double.NaN, new int[0], 0);
        }
        return new ReadmitReport(
                spec,
                r.ok && Arrays.stream(r.maskedAfter).noneMatch(m -> m == spec.rank()),
                r.survivorNanos / 1e6,
                r.maskedAfter,
                r.moves);
    }

    private static LatencyStats stats(double[] millis, StepKind[] kinds, StepKind kind) {
        return LatencyStats.of(IntStream.range(0, millis.length)
                .filter(s -> kinds[s] == kind)
                .mapToDouble(s -> millis[s])
                .toArray());
    }

    private static int[] masked(int[] mask) {
        return IntStream.range(0, mask.length).filter(r -> mask[r] != 0).toArray();
    }
}
