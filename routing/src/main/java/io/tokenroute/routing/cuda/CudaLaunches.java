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

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.KernelLaunch;

/**
 * How the elastic EP kernels are launched: the byte layout of their by-value launch structs ({@code tokenroute_abi.cuh}
 * {@code TrEpBatch}, {@code TrEpSendBatch}, {@code TrEpReduceBatch}; {@link CudaRankLayout#checkKernelAbi} compares
 * them with the kernels') and the grid sizes. A launch covers up to {@link #BATCH} ranks ({@code blockIdx.y} = the
 * rank's slot): the batching driver fills every slot, a rank's own launches fill slot 0 with {@code gridDim.y = 1}.
 */
final class CudaLaunches {
    /** tokenroute_config.cuh TR_EP_BATCH_RANKS: ranks per batched launch. */
    static final int BATCH = 64;
    /** tokenroute_config.cuh TR_EP_FP8_UNROLL: group pairs a quantising warp of the fp8 send has in flight. */
    static final int FP8_PAIRS_IN_FLIGHT = 2;
    /** {@code TrEpBatch}: one descriptor pointer per slot. */
    static final long BATCH_BYTES = 8L * BATCH;
    // TrEpSendBatch: desc, x, idx (8 bytes per slot), then n, k, dtype (4 bytes per slot).
    static final long SEND_X = 8L * BATCH;
    static final long SEND_IDX = 16L * BATCH;
    static final long SEND_N = 24L * BATCH;
    static final long SEND_K = 28L * BATCH;
    static final long SEND_DTYPE = 32L * BATCH;
    static final long SEND_BYTES = 36L * BATCH;
    // TrEpReduceBatch: desc, weights (8 bytes per slot).
    static final long REDUCE_WEIGHTS = 8L * BATCH;
    static final long REDUCE_BYTES = 16L * BATCH;

    private CudaLaunches() {}

    /**
     * Blocks per rank of a send grid: one plans (the kernel gives the grid's first blocks that role), the others stage
     * rows (bf16) or quantise group pairs (fp8).
     *
     * @param sharers ranks whose sends share the GPU at once (at most {@link #BATCH} per launch)
     */
    static int sendGrid(CudaRankLayout layout, int n, boolean fp8, KernelLaunch send, int sharers) {
        int warps = send.block() / 32;
        if (!fp8) {
            return 1 + Math.max(1, (n + warps - 1) / warps);
        }
        long pairs = ((long) n * layout.scaleGroups + 1) / 2;
        long wanted = (pairs + (long) warps * FP8_PAIRS_IN_FLIGHT - 1) / ((long) warps * FP8_PAIRS_IN_FLIGHT);
        // At most one resident wave over all ranks, plan blocks included: blocks of a second wave start only when
        // first-wave blocks end and finish the send last (H200, R = 8, T = 128: fp8 dispatch 61.6 us with 1.15 waves,
        // 56.8 us with one).
        long wave = send.function().gridFor(Long.MAX_VALUE) / Math.min(sharers, BATCH) - 1;
        return 1 + (int) Math.max(1, Math.min(wanted, wave));
    }

    /**
     * Blocks per rank of a dispatch copy grid: about one resident wave over all ranks, so blocks stay put and each warp
     * copies a few rows.
     *
     * @param rowsPerRank the rows a rank is expected to receive (the entries it sent is a fair guess)
     */
    static int copyGrid(KernelLaunch copy, long rowsPerRank, int sharers) {
        int warps = copy.block() / 32;
        return (int) Math.max(
                1,
                Math.min(
                        (Math.max(1, rowsPerRank) + warps - 1) / warps,
                        copy.function().gridFor(Long.MAX_VALUE) / Math.min(sharers, BATCH)));
    }

    /** The kernels' input dtype code. */
    static int dtypeCode(HiddenDtype dtype) {
        return switch (dtype) {
            case BF16 -> 0;
            case FP16 -> 1;
            case FP32 -> 2;
            default -> throw new IllegalArgumentException("dispatch input dtype " + dtype + " is not supported");
        };
    }

    static long align64(long v) {
        return (v + 63) & ~63L;
    }
}
