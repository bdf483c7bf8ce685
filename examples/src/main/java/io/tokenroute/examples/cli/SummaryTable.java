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
package io.tokenroute.examples.cli;

import io.tokenroute.examples.demo.DemoConfig;
import io.tokenroute.examples.demo.DemoMode;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.LatencyStats;
import io.tokenroute.examples.demo.DemoSummary.ReadmitReport;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import io.tokenroute.examples.demo.RoutingSkew;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Formats a {@link DemoSummary} as the plain-text table {@code tokenroute demo} prints. */
final class SummaryTable {
    private static final String ROW = "  %-20s%s";

    private SummaryTable() {}

    /** One line describing the run about to start. */
    static String header(DemoConfig c, String transport) {
        return String.format(
                        Locale.ROOT,
                        "tokenroute demo: transport %s, %d ranks, %d experts on %d slots (%d per"
                                + " rank, %d redundant), %d tokens/rank/step, H %d, top-%d, %d steps, timeout %s "
                                + "(first %d "
                                + "steps: %s)",
                        transport,
                        c.ranks(),
                        c.experts(),
                        c.physicalExperts(),
                        c.slotsPerRank(),
                        c.redundant(),
                        c.tokens(),
                        c.hidden(),
                        c.topK(),
                        c.steps(),
                        duration(c.timeout()),
                        c.warmupSteps(),
                        duration(c.warmupTimeout()))
                + (c.skew().equals(RoutingSkew.MILD) ? "" : ", routing " + c.skew());
    }

    /** One line on the prefill queues the run's rows stream through (docs/contract.md §3b.4). */
    static String prefillQueues(DemoConfig c) {
        int queueRows = c.prefillChunks() * c.prefillChunkRows();
        return String.format(
                Locale.ROOT,
                "prefill: each (source, destination) queue holds %d chunks x %d rows = %d"
                        + " rows; a step's %d tokens per rank stream through it (%d refills of a full queue)",
                c.prefillChunks(),
                c.prefillChunkRows(),
                queueRows,
                c.tokens(),
                (c.tokens() + queueRows - 1) / queueRows);
    }

    /** The summary table, ending with a newline. */
    static String format(DemoSummary s) {
        StringBuilder b = new StringBuilder("summary\n");
        row(
                b,
                "steps",
                String.format(
                        Locale.ROOT,
                        "%d in %.1f s: %d warm-up, %d healthy, %d degraded, %d detection",
                        s.config().steps(),
                        s.elapsedNanos() / 1e9,
                        s.count(StepKind.WARMUP),
                        s.count(StepKind.HEALTHY),
                        s.count(StepKind.DEGRADED),
                        s.count(StepKind.DETECTION)));
        line(b, "  %-20s%6s %8s %8s %8s %8s", "step latency (ms)", "steps", "p50", "p90", "p99", "max");
        latency(b, "healthy", s.healthy());
        latency(b, "degraded", s.degraded());
        latency(b, "detection", s.detection());
        latency(b, "agreeMask per rank", s.agreeMask());
        if (!s.failures().isEmpty()) {
            line(b, "  failures");
            // Prefill phases are longer than the decode ones: the first column fits the longest.
            int specWidth = Math.max(
                    16,
                    1
                            + s.failures().stream()
                                    .mapToInt(f -> f.spec().toString().length())
                                    .max()
                                    .orElse(0));
            line(
                    b,
                    "    %-" + specWidth + "s%-10s%12s  %-18s%-12s%8s%12s%7s",
                    "rank@step:phase",
                    "detected",
                    "latency(ms)",
                    "masked in",
                    "mask after",
                    "damaged",
                    "recomputed",
                    "moves");
            for (FailureReport f : s.failures()) {
                line(
                        b,
                        "    %-" + specWidth + "s%-10s%12s  %-18s%-12s%8d%12d%7d",
                        f.spec(),
                        f.detected() ? "step " + f.detectedStep() : "NEVER",
                        millis(f.detectionMillis()),
                        f.detectedIn(),
                        Arrays.toString(f.maskedAfter()),
                        f.damagedTokens(),
                        f.recomputedTokens(),
                        f.expertsMoved());
                if (f.unhostedExperts().length > 0) {
                    line(
                            b,
                            "      no live rank can host experts %s now; the router skips them",
                            Arrays.toString(f.unhostedExperts()));
                }
            }
        }
        if (!s.readmits().isEmpty()) {
            line(b, "  readmits");
            line(b, "    %-16s%-10s%12s  %-18s%7s", "rank@step", "done", "latency(ms)", "mask after", "moves");
            for (ReadmitReport r : s.readmits()) {
                line(
                        b,
                        "    %-16s%-10s%12s  %-18s%7d",
                        r.spec(),
                        r.readmitted() ? "yes" : "NO",
                        millis(r.millis()),
                        Arrays.toString(r.maskedAfter()),
                        r.expertsMoved());
            }
        }
        row(
                b,
                s.config().mode() == DemoMode.PREFILL ? "tokens prefilled" : "tokens decoded",
                s.tokensDecoded() + " (" + s.outputsChecked() + " outputs checked bit for bit against the reference)");
        row(b, "tokens recomputed", s.recomputedTokens() + " of " + s.damagedTokens() + " damaged");
        if (s.tokensRerouted() > 0) {
            row(b, "tokens re-routed", s.tokensRerouted() + " (around experts no live rank hosted)");
        }
        row(
                b,
                "false masks",
                s.unexpectedMasks().isEmpty()
                        ? "none"
                        : s.unexpectedMasks().size() + ": "
                                + s.unexpectedMasks().stream()
                                        .map(SummaryTable::falseMask)
                                        .collect(Collectors.joining(", ")));
        row(
                b,
                "split views",
                s.splitViews().isEmpty()
                        ? "none (every agreement gave every live rank the same mask)"
                        : s.splitViews().size() + ": " + String.join("; ", s.splitViews()));
        s.errors().forEach(e -> row(b, "error", e));
        row(
                b,
                "mismatches",
                s.mismatches()
                        + (s.mismatchExamples().isEmpty()
                                ? ""
                                : " (e.g. " + String.join("; ", s.mismatchExamples()) + ")"));
        row(b, "result", s.ok() ? "OK" : "FAILED");
        return b.toString();
    }

    private static String falseMask(DemoSummary.UnexpectedMask m) {
        String back = m.backAt() >= 0
                ? "readmitted before step " + m.backAt()
                : m.backAt() == DemoSummary.UnexpectedMask.RUN_ENDED ? "run ended first" : "not readmitted";
        return "rank " + m.rank() + " at step " + m.step() + " (" + back + ")";
    }

    /** A labelled line in the summary's layout (the plot's path uses it too). */
    static void row(StringBuilder b, String label, String value) {
        line(b, ROW, label, value);
    }

    private static void latency(StringBuilder b, String label, LatencyStats l) {
        line(
                b,
                "    %-18s%6d %8s %8s %8s %8s",
                label,
                l.count(),
                millis(l.p50()),
                millis(l.p90()),
                millis(l.p99()),
                millis(l.max()));
    }

    private static String millis(double ms) {
        return Double.isNaN(ms) ? "-" : String.format(Locale.ROOT, ms < 10 ? "%.2f" : "%.1f", ms);
    }

    /** 20 ms, 500 us, 5 s, 1.5 s. */
    private static String duration(Duration d) {
        long nanos = d.toNanos();
        if (nanos >= 1_000_000_000L) {
            return trim(nanos / 1e9) + " s";
        }
        return nanos >= 1_000_000 ? trim(nanos / 1e6) + " ms" : trim(nanos / 1e3) + " us";
    }

    private static String trim(double v) {
        return v == Math.rint(v)
                ? String.valueOf((long) v)
                : String.format(Locale.ROOT, "%.3f", v).replaceAll("0+$", "");
    }

    private static void line(StringBuilder b, String format, Object... args) {
        b.append(String.format(Locale.ROOT, format, args)).append('\n');
    }
}
