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
package io.tokenroute.examples.bench;

import io.tokenroute.examples.bench.DecodeTables.Latency;
import io.tokenroute.examples.bench.DecodeTables.SkewRow;
import io.tokenroute.examples.bench.DecodeTables.SmallBatchRow;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * The decode-shaped tables on the {@code local} transport, from {@link RoutingBench}'s {@code step} benchmark: for
 * each R, (1) T = 1, 8, 32, 128 tokens per rank, uniform routing next to its floor ({@code routing=zero-rows}) in the
 * same run, and (2) at T = 128, Zipf s = 1.0 and 1.2 and {@code half-hot} next to uniform (the same bytes). Takes JMH's
 * own options (forks, iterations, times, {@code -p ranks=2}); it sets the benchmark, {@code tokens} and
 * {@code routing} itself. Dispatch and combine are rank 0's mean phase times, the step is JMH's score (all R ranks).
 *
 * <p>Run: {@code java -cp ... io.tokenroute.examples.bench.DecodeShapeReport -f 1 -wi 3 -i 5 -w 1 -r 1}.
 */
public final class DecodeShapeReport {
    private static final String STEP = RoutingBench.class.getName() + ".step$";
    private static final int SKEW_TOKENS = BenchArgs.SKEW_TOKENS;

    private DecodeShapeReport() {}

    public static void main(String[] args) throws RunnerException {
        CommandLineOptions given;
        try {
            given = new CommandLineOptions(args);
        } catch (CommandLineOptionException e) {
            System.err.println("DecodeShapeReport: " + e.getMessage());
            System.exit(2);
            return;
        }
        String[] tokens = BenchArgs.DEFAULT_TOKENS.stream().map(String::valueOf).toArray(String[]::new);
        Collection<RunResult> small =
                new Runner(options(given, tokens, RoutingBench.ZERO_ROWS, BenchSkew.UNIFORM)).run();
        List<String> skewed = BenchArgs.DEFAULT_SKEWS.stream()
                .filter(s -> !s.equals(BenchSkew.UNIFORM))
                .toList();
        Collection<RunResult> skew = new Runner(
                        options(given, new String[] {Integer.toString(SKEW_TOKENS)}, skewed.toArray(String[]::new)))
                .run();
        List<RunResult> all = new ArrayList<>(small);
        all.addAll(skew);
        List<Integer> ranks = all.stream()
                .map(r -> Integer.parseInt(r.getParams().getParam("ranks")))
                .distinct()
                .sorted()
                .toList();
        System.out.println();
        System.out.print(report(ranks, lookup(all)));
    }

    private static Options options(CommandLineOptions given, String[] tokens, String... routing) {
        return new OptionsBuilder()
                .parent(given)
                .include(STEP)
                .param("tokens", tokens)
                .param("routing", routing)
                .build();
    }

    /** A measured configuration's latencies, or null when it was not run. */
    interface Lookup {
        Latency find(int ranks, int tokens, String routing);
    }

    /** The two tables for each R in {@code ranks}, from what {@code lookup} finds; missing rows are left out. */
    static String report(List<Integer> ranks, Lookup lookup) {
        StringBuilder sb = new StringBuilder();
        for (int r : ranks) {
            sb.append("local, R = ")
                    .append(r)
                    .append(": small batches next to the floor (same calls, every topk_idx = -1)\n\n");
            List<SmallBatchRow> rows = new ArrayList<>();
            for (int t : BenchArgs.DEFAULT_TOKENS) {
                Latency routed = lookup.find(r, t, BenchSkew.UNIFORM);
                Latency floor = lookup.find(r, t, RoutingBench.ZERO_ROWS);
                if (routed != null && floor != null) {
                    rows.add(new SmallBatchRow(t, routed, floor));
                }
            }
            sb.append(DecodeTables.smallBatch(rows)).append('\n');
            long bytes = RoutingBench.phaseBytes(r, SKEW_TOKENS);
            sb.append(String.format(
                    Locale.ROOT,
                    "local, R = %d, T = %d: skewed routing next to uniform, %.1f MB per dispatch and per combine"
                            + " in every row%n%n",
                    r,
                    SKEW_TOKENS,
                    bytes / 1e6));
            List<SkewRow> skews = new ArrayList<>();
            for (String s : BenchArgs.DEFAULT_SKEWS) {
                Latency l = lookup.find(r, SKEW_TOKENS, s);
                if (l != null) {
                    skews.add(new SkewRow(s, l));
                }
            }
            boolean hasUniform = skews.stream().anyMatch(row -> row.routing().equals(BenchSkew.UNIFORM));
            sb.append(hasUniform ? DecodeTables.skew(skews, bytes) : "(uniform not measured)\n")
                    .append('\n');
        }
        return sb.toString();
    }

    /** JMH's results as a {@link Lookup}: rank 0's mean phase times per step and the step's score. */
    private static Lookup lookup(List<RunResult> results) {
        return (ranks, tokens, routing) -> find(results, ranks, tokens, routing);
    }

    private static Latency find(List<RunResult> results, int ranks, int tokens, String routing) {
        for (RunResult r : results) {
            if (Integer.parseInt(r.getParams().getParam("ranks")) == ranks
                    && Integer.parseInt(r.getParams().getParam("tokens")) == tokens
                    && r.getParams().getParam("routing").equals(routing)) {
                Map<String, Result> secondary = r.getSecondaryResults();
                double steps = secondary.get("steps").getScore();
                return new Latency(
                        secondary.get("dispatchNanos").getScore() / steps / 1e3,
                        secondary.get("combineNanos").getScore() / steps / 1e3,
                        r.getPrimaryResult().getScore());
            }
        }
        return null;
    }
}
