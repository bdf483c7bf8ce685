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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaGraph;
import io.tokenroute.device.CudaStream;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Times steps as CUDA graph replays: one graph of the dispatch and one of the combine per input set, replayed set
 * after set (so L2 cannot serve the inputs) with CUDA events around each on the group's origin stream; median of
 * {@code iters} steps after {@code warmup}, both rounded up to whole rounds of the sets. Works on a
 * {@code cuda-local} group of all ranks and on the one-rank group under an {@code nvshmem} PE (each PE replays its own
 * graphs; the kernels wait for the peers). Owns its three events.
 */
final class GraphTiming implements AutoCloseable {
    private final int warmup;
    private final int iters;
    private final CudaEvent start = CudaEvent.create();
    private final CudaEvent mid = CudaEvent.create();
    private final CudaEvent end = CudaEvent.create();

    GraphTiming(int warmup, int iters) {
        this.warmup = warmup;
        this.iters = iters;
    }

    /**
     * Median µs of {dispatch, combine, step} over the input sets ({@code sets.get(s)}: one batch per hosted rank, null
     * to leave a rank out). {@code combine = false}: dispatch graphs only (combine and step are then NaN).
     *
     * @param breakdown when not null, {@link PhaseBreakdown} prints where the step goes under this label, while the
     *     graphs exist (cuda-local groups of all ranks only)
     */
    double[] time(
            CudaLocalGroup group,
            List<List<TokenBatch>> sets,
            DispatchOptions options,
            boolean combine,
            String breakdown) {
        group.synchronize();
        List<CudaGraph> dispatchGraphs = new ArrayList<>();
        List<CudaGraph> combineGraphs = new ArrayList<>();
        try {
            for (List<TokenBatch> batch : sets) {
                dispatchGraphs.add(group.captureGraph(() -> group.queueDispatch(batch, options)));
                if (combine) {
                    combineGraphs.add(group.captureGraph(() -> group.queueCombine(batch)));
                }
            }
            int n = sets.size();
            CudaStream origin = group.originStream();
            int warm = (warmup + n - 1) / n * n;
            int count = (iters + n - 1) / n * n;
            double[] dispatchMs = new double[count];
            double[] combineMs = new double[count];
            double[] stepMs = new double[count];
            for (int i = -warm; i < count; i++) {
                int s = Math.floorMod(i, n);
                start.record(origin);
                group.replay(dispatchGraphs.get(s));
                mid.record(origin);
                if (combine) {
                    group.replay(combineGraphs.get(s));
                }
                end.record(origin);
                end.synchronize();
                if (i >= 0) {
                    dispatchMs[i] = CudaEvent.elapsedMillis(start, mid);
                    combineMs[i] = CudaEvent.elapsedMillis(mid, end);
                    stepMs[i] = CudaEvent.elapsedMillis(start, end);
                }
            }
            group.synchronize();
            if (breakdown != null) {
                PhaseBreakdown.print(group, dispatchGraphs, combine ? combineGraphs : null, breakdown);
            }
            double nan = Double.NaN;
            return new double[] {
                1e3 * median(dispatchMs), combine ? 1e3 * median(combineMs) : nan, combine ? 1e3 * median(stepMs) : nan
            };
        } finally {
            dispatchGraphs.forEach(CudaGraph::close);
            combineGraphs.forEach(CudaGraph::close);
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    @Override
    public void close() {
        start.close();
        mid.close();
        end.close();
    }
}
