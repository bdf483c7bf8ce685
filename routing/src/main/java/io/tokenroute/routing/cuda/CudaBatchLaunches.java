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
package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.KernelLaunch;
import io.tokenroute.device.KernelModule;
import io.tokenroute.routing.DispatchOptions;
import java.util.ArrayList;
import java.util.List;

/**
 * The batching driver's launches ({@link CudaLocalGroup#dispatch(List, DispatchOptions)} and friends): each phase
 * of dispatch and combine is one launch per chunk of up to {@link CudaLaunches#BATCH} hosted ranks
 * ({@code blockIdx.y} = the rank's slot, its arguments in the launch struct), all on the group's origin stream, so a
 * step costs a few launches for the whole group and replays as one CUDA graph. A stalled rank (tests) is left out of
 * the batched launches and runs its own ({@link CudaRankEngine}) on its own stream instead. The ranks' inputs are
 * staged ({@link CudaRankEngine#stageDispatch}, {@link CudaRankEngine#stageCombine}) before these are queued.
 */
final class CudaBatchLaunches implements AutoCloseable {
    private final CudaRankEngine[] ranks;
    private final CudaRankLayout layout;
    private final KernelLaunch[] send;
    private final KernelLaunch[] waitDispatch;
    private final KernelLaunch[] copy;
    private final KernelLaunch[] combineSend;
    private final KernelLaunch[] waitCombine;
    private final KernelLaunch[] reduce;
    private final List<KernelLaunch> all = new ArrayList<>();

    CudaBatchLaunches(KernelModule module, CudaRankLayout layout, CudaRankEngine[] ranks, long timeoutNanos) {
        this.ranks = ranks;
        this.layout = layout;
        int chunks = (ranks.length + CudaLaunches.BATCH - 1) / CudaLaunches.BATCH;
        send = new KernelLaunch[chunks];
        waitDispatch = new KernelLaunch[chunks];
        copy = new KernelLaunch[chunks];
        combineSend = new KernelLaunch[chunks];
        waitCombine = new KernelLaunch[chunks];
        reduce = new KernelLaunch[chunks];
        try {
            for (int c = 0; c < chunks; c++) {
                int rows = Math.min(CudaLaunches.BATCH, ranks.length - c * CudaLaunches.BATCH);
                send[c] = batched(module, "tr_ep_dispatch_send", rows, CudaLaunches.SEND_BYTES, 8);
                send[c].shape(2, send[c].function().maxThreadsPerBlock(), layout.planSharedBytes())
                        .gridY(rows);
                waitDispatch[c] = batched(module, "tr_ep_dispatch_wait", rows, CudaLaunches.BATCH_BYTES, 8, 8);
                waitDispatch[c]
                        .shape(1, waitDispatch[c].function().maxThreadsPerBlock(), 0)
                        .gridY(rows);
                copy[c] = batched(module, "tr_ep_dispatch_copy", rows, CudaLaunches.BATCH_BYTES);
                combineSend[c] = batched(module, "tr_ep_combine_send", rows, CudaLaunches.BATCH_BYTES);
                combineSend[c].shape(1, 32, 0).gridY(rows);
                waitCombine[c] = batched(module, "tr_ep_combine_wait", rows, CudaLaunches.BATCH_BYTES, 8);
                waitCombine[c]
                        .shape(1, waitCombine[c].function().maxThreadsPerBlock(), 0)
                        .gridY(rows);
                reduce[c] = batched(module, "tr_ep_combine_reduce", rows, CudaLaunches.REDUCE_BYTES);
                // Each follows the kernel queued just before it on the origin stream and starts with
                // griddepcontrol.wait (sync.cu tr_await_previous_kernel), so it may be launched before that kernel
                // ends.
                waitDispatch[c].programmaticDependency();
                copy[c].programmaticDependency();
                waitCombine[c].programmaticDependency();
                reduce[c].programmaticDependency();
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        setTimeout(timeoutNanos);
    }

    private KernelLaunch batched(KernelModule module, String kernel, int rows, long... argumentBytes) {
        KernelLaunch launch = new KernelLaunch(module.function(kernel), argumentBytes);
        all.add(launch);
        launch.gridY(rows);
        return launch;
    }

    void setTimeout(long nanos) {
        for (int c = 0; c < waitDispatch.length; c++) {
            waitDispatch[c].setLong(1, nanos);
            waitCombine[c].setLong(1, nanos);
        }
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Queues the send of every rank with a staged batch: the unstalled ones in the batched launches on {@code origin},
     * a stalled one on its own stream.
     *
     * @return whether any rank is in the batched launches
     */
    boolean queueDispatchSend(List<TokenBatch> perRank, DispatchOptions options, CudaStream origin) {
        int format = options.formatCode();
        int maxTokens = 0;
        boolean anyBatched = false;
        for (int r = 0; r < ranks.length; r++) {
            CudaRankEngine rank = ranks[r];
            int c = r / CudaLaunches.BATCH;
            long cell = 8L * (r % CudaLaunches.BATCH);
            long quarter = cell / 2;
            boolean batched = perRank.get(r) != null && !rank.stalled;
            send[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            waitDispatch[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            copy[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            if (perRank.get(r) == null) {
                continue;
            }
            if (rank.stalled) {
                rank.launchSend(format);
                continue;
            }
            send[c].setLongAt(0, CudaLaunches.SEND_X + cell, rank.inputX)
                    .setLongAt(0, CudaLaunches.SEND_IDX + cell, rank.inputIdx)
                    .setIntAt(0, CudaLaunches.SEND_N + quarter, rank.tokens)
                    .setIntAt(0, CudaLaunches.SEND_K + quarter, rank.topK)
                    .setIntAt(0, CudaLaunches.SEND_DTYPE + quarter, rank.inputDtype);
            maxTokens = Math.max(maxTokens, rank.tokens);
            anyBatched = true;
        }
        if (anyBatched) {
            for (KernelLaunch launch : send) {
                launch.setInt(1, format)
                        .grid(CudaLaunches.sendGrid(layout, maxTokens, options.fp8(), launch, ranks.length))
                        .launch(origin);
            }
        }
        return anyBatched;
    }

    /** Queues the dispatch wait and copy of the same ranks, then {@code ready} on {@code origin}. */
    void queueDispatchReceive(
            List<TokenBatch> perRank, DispatchOptions options, boolean anyBatched, CudaStream origin, CudaEvent ready) {
        long entries = 0;
        for (int r = 0; r < ranks.length; r++) {
            if (perRank.get(r) != null) {
                entries += (long) ranks[r].tokens * ranks[r].topK;
            }
        }
        for (int r = 0; r < ranks.length; r++) {
            if (perRank.get(r) != null && ranks[r].stalled) {
                ranks[r].launchDispatchReceive(options.stats());
            }
        }
        if (!anyBatched) {
            return;
        }
        int stats = options.stats() ? 1 : 0;
        int grid = CudaLaunches.copyGrid(copy[0], entries / ranks.length, ranks.length);
        for (int c = 0; c < waitDispatch.length; c++) {
            waitDispatch[c].setInt(2, stats).launch(origin);
            copy[c].grid(grid).launch(origin);
        }
        ready.record(origin);
        for (int r = 0; r < ranks.length; r++) {
            if (perRank.get(r) != null && !ranks[r].stalled) {
                ranks[r].ranOn(ready, origin, true);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Queues the combine send of every rank with a routing batch (its outputs and weights staged).
     *
     * @param weights per rank the device address of its combine weights
     * @return whether any rank is in the batched launches
     */
    boolean queueCombineSend(List<TokenBatch> routing, long[] weights, CudaStream origin) {
        int maxTokens = 0;
        boolean anyBatched = false;
        for (int r = 0; r < ranks.length; r++) {
            CudaRankEngine rank = ranks[r];
            int c = r / CudaLaunches.BATCH;
            long cell = 8L * (r % CudaLaunches.BATCH);
            boolean batched = routing.get(r) != null && !rank.stalled;
            combineSend[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            waitCombine[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            reduce[c].setLongAt(0, cell, batched ? rank.desc() : 0);
            if (routing.get(r) == null) {
                continue;
            }
            if (rank.stalled) {
                rank.launchCombineSend();
                continue;
            }
            reduce[c].setLongAt(0, CudaLaunches.REDUCE_WEIGHTS + cell, weights[r]);
            maxTokens = Math.max(maxTokens, rank.tokens);
            anyBatched = true;
        }
        if (anyBatched) {
            for (KernelLaunch launch : combineSend) {
                launch.launch(origin);
            }
            for (KernelLaunch launch : reduce) {
                launch.grid(Math.max(1, maxTokens));
            }
        }
        return anyBatched;
    }

    /** Queues the combine wait and reduce of the same ranks, then {@code ready} on {@code origin}. */
    void queueCombineReceive(
            List<TokenBatch> routing, long[] weights, boolean anyBatched, CudaStream origin, CudaEvent ready) {
        for (int r = 0; r < ranks.length; r++) {
            if (routing.get(r) != null && ranks[r].stalled) {
                ranks[r].launchCombineReceive(weights[r]);
            }
        }
        if (!anyBatched) {
            return;
        }
        for (int c = 0; c < waitCombine.length; c++) {
            waitCombine[c].launch(origin);
            reduce[c].launch(origin);
        }
        ready.record(origin);
        for (int r = 0; r < ranks.length; r++) {
            if (routing.get(r) != null && !ranks[r].stalled) {
                ranks[r].ranOn(ready, origin, false);
            }
        }
    }

    @Override
    public void close() {
        all.forEach(KernelLaunch::close);
        all.clear();
    }
}
