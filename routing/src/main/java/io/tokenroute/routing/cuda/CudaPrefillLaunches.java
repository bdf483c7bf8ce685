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

import io.tokenroute.device.CudaStream;
import io.tokenroute.device.KernelLaunch;
import io.tokenroute.device.KernelModule;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The launches of one rank's prefill kernels ({@code prefill*.cuh}): each takes the rank descriptor and the by-value
 * {@code TrPfArgs} struct, whose byte layout {@link Arg} mirrors ({@link CudaPrefillLayout#checkKernelAbi} compares
 * them). The step's arguments are kept here once and written into a launch right before it is queued.
 */
final class CudaPrefillLaunches implements AutoCloseable {
    /** The fields of {@code TrPfArgs}, each at its byte offset. */
    enum Arg {
        X(0, 8),
        IDX(8, 8),
        WEIGHTS(16, 8),
        RECV_ROWS(24, 8),
        RECV_SCALES(32, 8),
        RECV_IDS(40, 8),
        RECV_WEIGHTS(48, 8),
        RECV_SRC_RANK(56, 8),
        RECV_SRC_TOKEN(64, 8),
        RECV_EXPERT_POS(72, 8),
        EXPERT_ROWS(80, 8),
        EXPERT_OUT(88, 8),
        PARTIALS(96, 8),
        STEP(104, 8),
        TIMEOUT_NS(112, 8),
        N(120, 4),
        K(124, 4),
        DTYPE(128, 4),
        FORMAT(132, 4),
        ROUND(136, 4),
        KIND(140, 4),
        ROWS(144, 4);

        final long offset;
        final int bytes;

        Arg(long offset, int bytes) {
            this.offset = offset;
            this.bytes = bytes;
        }
    }

    /** {@code sizeof(TrPfArgs)}. */
    static final long ARGS_BYTES = 152;

    /** What {@code tr_pf_wait} waits for ({@code TR_PF_WAIT_*}, by ordinal). */
    enum Wait {
        DISPATCH_CREDIT,
        DISPATCH_TAIL,
        COMBINE_CREDIT,
        COMBINE_TAIL
    }

    /** The prefill kernels. */
    enum Kernel {
        NOTIFY("tr_pf_notify"),
        WAIT("tr_pf_wait"),
        PACK("tr_pf_pack"),
        COPY("tr_pf_copy"),
        HANDLE("tr_pf_handle"),
        COMBINE_START("tr_pf_combine_start"),
        REDUCE("tr_pf_reduce"),
        GATHER("tr_pf_gather"),
        MERGE("tr_pf_merge");

        final String symbol;

        Kernel(String symbol) {
            this.symbol = symbol;
        }

        /** Whether one block runs it (the planning, handle and wait kernels). */
        boolean singleBlock() {
            return this == NOTIFY || this == WAIT || this == HANDLE || this == COMBINE_START;
        }
    }

    private final Map<Kernel, KernelLaunch> launches = new EnumMap<>(Kernel.class);
    private final long[] values = new long[Arg.values().length];
    /** Blocks a row kernel gets at most: a share of one resident wave among the ranks sharing the GPU. */
    private final int rowGridCap;

    /**
     * @param descriptor device address of the rank descriptor
     * @param sharers ranks whose kernels run on the GPU at the same time
     */
    CudaPrefillLaunches(KernelModule module, long descriptor, int sharers) {
        List<KernelLaunch> made = new ArrayList<>();
        try {
            for (Kernel kernel : Kernel.values()) {
                KernelLaunch launch = new KernelLaunch(module.function(kernel.symbol), 8, ARGS_BYTES);
                made.add(launch);
                launch.setLong(0, descriptor);
                launch.shape(1, launch.function().maxThreadsPerBlock(), 0);
                launches.put(kernel, launch);
            }
        } catch (RuntimeException | Error e) {
            made.forEach(KernelLaunch::close);
            throw e;
        }
        KernelLaunch pack = launches.get(Kernel.PACK);
        this.rowGridCap = (int) Math.max(1, pack.function().gridFor(Long.MAX_VALUE) / Math.max(1, sharers));
    }

    /** Sets argument {@code arg} of the following launches. */
    CudaPrefillLaunches set(Arg arg, long value) {
        values[arg.ordinal()] = value;
        return this;
    }

    /** Queues {@code kernel} on {@code stream}; a row kernel gets a warp for each of {@code rows} rows. */
    void launch(Kernel kernel, long rows, CudaStream stream) {
        KernelLaunch launch = launches.get(kernel);
        for (Arg arg : Arg.values()) {
            if (arg.bytes == 8) {
                launch.setLongAt(1, arg.offset, values[arg.ordinal()]);
            } else {
                launch.setIntAt(1, arg.offset, (int) values[arg.ordinal()]);
            }
        }
        if (!kernel.singleBlock()) {
            launch.grid(rowGrid(rows, launch.block() / 32, rowGridCap));
        }
        launch.launch(stream);
    }

    /** Queues {@code tr_pf_wait} of {@code kind} for the round set last. */
    void await(Wait kind, CudaStream stream) {
        set(Arg.KIND, kind.ordinal());
        launch(Kernel.WAIT, 0, stream);
    }

    /** Blocks for {@code rows} rows at one warp per row, at least 1 and at most {@code cap}. */
    static int rowGrid(long rows, int warpsPerBlock, int cap) {
        long blocks = (Math.max(1, rows) + warpsPerBlock - 1) / warpsPerBlock;
        return (int) Math.max(1, Math.min(blocks, cap));
    }

    @Override
    public void close() {
        launches.values().forEach(KernelLaunch::close);
        launches.clear();
    }
}
