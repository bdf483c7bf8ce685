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
import java.util.List;

/**
 * What a {@link DecodeDemo} run did, for the CLI's table and plot and for tests.
 *
 * @param config the run's configuration
 * @param elapsedNanos wall time of the run, group set-up to teardown (the rehearsal before it excluded)
 * @param tokensDecoded tokens of the steps the survivors completed (a damaged token counts once)
 * @param outputsChecked combine outputs compared with the reference, recompute rounds and damaged tokens included
 * @param tokensRerouted tokens whose router choice skipped an expert that no live rank hosted (more failures than the
 *     redundant slots absorb); their outputs are complete for the experts they got
 * @param damagedTokens tokens that lost expert weight to a masked rank, over all detections
 * @param recomputedTokens damaged tokens recomputed under a new placement, over all detections
 * @param mismatches outputs that differed from the reference (any bit of {@code hidden}, or {@code lost_weight})
 * @param mismatchExamples the first few mismatches, for diagnosis
 * @param failures one entry per {@code --fail}, in the order given
 * @param readmits one entry per {@code --readmit}, in the order given
 * @param unexpectedMasks ranks that were masked although no {@code --fail} stopped them (false masks of live ranks,
 *     e.g. on an overloaded host), each with the step it came back at
 * @param splitViews agreements in which live ranks returned different masks (each fails the run)
 * @param errors exceptions rank threads ended with
 * @param stepMillis per step, the slowest rank's step time, from its first dispatch to the end of the step (combine,
 *     agreement, check, and any replan and recompute rounds); NaN for a step no rank completed
 * @param liveRanks per step, the ranks active in the agreed mask at the end of the step
 * @param stepKinds per step, warm-up / healthy / degraded / detection
 * @param healthy latency of healthy steps (after the warm-up)
 * @param degraded latency of degraded steps
 * @param detection latency of detection steps
 * @param agreeMask per rank and step, the time of the step's first {@code agreeMask()} (mostly waiting for the slowest
 *     rank, as it is a collective)
 */
public record DemoSummary(
        DemoConfig config,
        long elapsedNanos,
        long tokensDecoded,
        long outputsChecked,
        long tokensRerouted,
        long damagedTokens,
        long recomputedTokens,
        long mismatches,
        List<String> mismatchExamples,
        List<FailureReport> failures,
        List<ReadmitReport> readmits,
        List<UnexpectedMask> unexpectedMasks,
        List<String> splitViews,
        List<String> errors,
        double[] stepMillis,
        int[] liveRanks,
        StepKind[] stepKinds,
        LatencyStats healthy,
        LatencyStats degraded,
        LatencyStats detection,
        LatencyStats agreeMask) {

    /** How a step went. */
    public enum StepKind {
        /** One of the first {@code warmupSteps}, run with the warm-up timeout while the JIT compiles. */
        WARMUP,
        /** Every rank active, nothing new. */
        HEALTHY,
        /** Some ranks stopped, none newly. */
        DEGRADED,
        /** A failure was first reported in this step (timeout, replan and recompute included). */
        DETECTION
    }

    /** Latency percentiles in milliseconds (nearest rank); all NaN when {@code count == 0}. */
    public record LatencyStats(int count, double p50, double p90, double p99, double max) {
        /** The percentiles of {@code millis} (NaN entries ignored). */
        public static LatencyStats of(double[] millis) {
            double[] v =
                    Arrays.stream(millis).filter(d -> !Double.isNaN(d)).sorted().toArray();
            if (v.length == 0) {
                return new LatencyStats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
            return new LatencyStats(v.length, rank(v, 0.50), rank(v, 0.90), rank(v, 0.99), v[v.length - 1]);
        }

        private static double rank(double[] sorted, double q) {
            int i = (int) Math.ceil(q * sorted.length) - 1;
            return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
        }
    }

    /**
     * One injected failure and how the survivors handled it.
     *
     * @param spec the injected failure
     * @param detectedStep the step in which the survivors first agreed the rank was masked; -1 if never
     * @param detectionMillis that step's latency (the timeout, agreement, replan and recompute)
     * @param detectedIn how many survivors masked the rank in dispatch, in combine, or only learned it from
     *     {@code agreeMask}, e.g. {@code "dispatch 7"}
     * @param maskedAfter the agreed masked ranks after the detection, ascending
     * @param damagedTokens tokens with {@code lost_weight > 0} in the detection step, over all survivors (shared with
     *     any other failure detected in the same step)
     * @param recomputedTokens damaged tokens recomputed under the new placement and then complete
     * @param expertsMoved expert weight loads the replan needed
     * @param unhostedExperts logical experts the new placement could not host (empty: complete)
     */
    public record FailureReport(
            FailureSpec spec,
            int detectedStep,
            double detectionMillis,
            String detectedIn,
            int[] maskedAfter,
            long damagedTokens,
            long recomputedTokens,
            int expertsMoved,
            int[] unhostedExperts) {
        /** Whether the survivors detected it. */
        public boolean detected() {
            return detectedStep >= 0;
        }
    }

    /**
     * One readmission.
     *
     * @param spec the readmission
     * @param readmitted whether every participant's {@code readmit} succeeded
     * @param millis the survivors' time for readmit and re-placement (the slowest survivor)
     * @param maskedAfter the masked ranks afterwards, ascending
     * @param expertsMoved expert weight loads of the re-placement
     */
    public record ReadmitReport(
            ReadmitSpec spec, boolean readmitted, double millis, int[] maskedAfter, int expertsMoved) {}

    /**
     * A rank masked at {@code step} that no injected failure had stopped: it found out, asked to come back and was
     * readmitted before step {@code backAt} (-1 if it was not, -2 if the run ended first).
     */
    public record UnexpectedMask(int rank, int step, int backAt) {
        /** Not readmitted. */
        public static final int NOT_BACK = -1;
        /** The run ended before the survivors could readmit it. */
        public static final int RUN_ENDED = -2;

        /** Whether the rank came back (or the run ended before it could). */
        public boolean settled() {
            return backAt >= 0 || backAt == RUN_ENDED;
        }
    }

    /**
     * Whether the run is correct and complete: no mismatch, no error, no split view, every failure detected, every
     * readmit done, and every falsely masked live rank back. False masks themselves are reported, not failures: the
     * protocol told the rank and readmitted it, and no output depended on them.
     */
    public boolean ok() {
        return mismatches == 0
                && errors.isEmpty()
                && splitViews.isEmpty()
                && unexpectedMasks.stream().allMatch(UnexpectedMask::settled)
                && failures.stream().allMatch(FailureReport::detected)
                && readmits.stream().allMatch(ReadmitReport::readmitted);
    }

    /** The process exit code the CLI uses: 0 when {@link #ok()}, else 1. */
    public int exitCode() {
        return ok() ? 0 : 1;
    }

    /** Steps of each kind. */
    public int count(StepKind kind) {
        return (int) Arrays.stream(stepKinds).filter(k -> k == kind).count();
    }
}
