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

import io.tokenroute.device.CudaGraph;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.util.List;

/**
 * Where a {@code cuda-local} step's time goes: the kernels stamp the first start and last end of each phase
 * (%globaltimer); per phase, the earliest start and latest end over the ranks, relative to the earliest dispatch-send
 * start, median of 21 traced replays.
 */
final class PhaseBreakdown {
    /** Trace phases in CudaLocalGroup#phaseTrace order; the last two are parts of the dispatch send. */
    private static final String[] PHASES = {
        "dispatch send",
        "dispatch wait",
        "dispatch copy",
        "combine send",
        "combine wait",
        "combine reduce",
        " send: plan",
        " send: stage"
    };

    private static final int[] DISPATCH_PHASES = {0, 6, 7, 1, 2};
    private static final int[] STEP_PHASES = {0, 6, 7, 1, 2, 3, 4, 5};
    private static final int REPLAYS = 21;

    private PhaseBreakdown() {}

    /**
     * Replays the graphs (set after set) with tracing and prints the phases under {@code what}.
     *
     * @param combine the combine graphs, or null to trace dispatch only
     */
    static void print(CudaLocalGroup group, List<CudaGraph> dispatch, List<CudaGraph> combine, String what) {
        int ranks = group.ranks();
        int sets = dispatch.size();
        double[][] starts = new double[PHASES.length][REPLAYS];
        double[][] ends = new double[PHASES.length][REPLAYS];
        for (int i = 0; i < REPLAYS; i++) {
            int s = i % sets;
            group.resetTrace();
            group.replay(dispatch.get(s));
            if (combine != null) {
                group.replay(combine.get(s));
            }
            group.synchronize();
            long[][] trace = new long[ranks][];
            long t0 = Long.MAX_VALUE;
            for (int r = 0; r < ranks; r++) {
                trace[r] = group.phaseTrace(r);
                t0 = Math.min(t0, trace[r][0]);
            }
            for (int p = 0; p < PHASES.length; p++) {
                long first = Long.MAX_VALUE;
                long last = 0;
                for (int r = 0; r < ranks; r++) {
                    first = Math.min(first, trace[r][2 * p]);
                    last = Math.max(last, trace[r][2 * p + 1]);
                }
                starts[p][i] = (first - t0) / 1e3;
                ends[p][i] = (last - t0) / 1e3;
            }
        }
        System.out.println(
                "step breakdown (" + what + ", us from the first dispatch-send start; all " + ranks + " ranks):");
        for (int p : combine == null ? DISPATCH_PHASES : STEP_PHASES) {
            System.out.printf(
                    "  %-16s %7.1f .. %7.1f%n", PHASES[p], GraphTiming.median(starts[p]), GraphTiming.median(ends[p]));
        }
    }
}
