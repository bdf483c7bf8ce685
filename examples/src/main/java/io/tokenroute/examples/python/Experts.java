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
package io.tokenroute.examples.python;

import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.routing.Dispatched;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The expert computation a {@link LocalSession#step} runs between dispatch and combine, on each rank's own thread: it
 * reads {@link Dispatched#expert(int)} and writes one bf16 row per received row into
 * {@link Dispatched#expertOutputAddress(int)} (zero-copy combine). Must be thread-safe: ranks call it concurrently,
 * each with its own {@code Dispatched}.
 */
@FunctionalInterface
public interface Experts {
    /**
     * Identity experts: every output row is the received bf16 row, so combine returns
     * {@code bf16(Σ_j w_j × x)} (fp32 accumulation in top-k order) for each token. Needs a bf16 dispatch.
     */
    Experts IDENTITY = (rank, dispatched) -> {
        if (dispatched.isFp8()) {
            throw new IllegalArgumentException("identity experts copy bf16 rows; this dispatch was fp8");
        }
        for (int l = 0; l < dispatched.numLocalExperts(); l++) {
            FixedSizeListVector rows =
                    (FixedSizeListVector) dispatched.expert(l).getVector(TokenBatchSchema.HIDDEN);
            long bytes = (long) dispatched.recvCount(l) * rows.getListSize() * 2;
            MemoryUtil.copyMemory(
                    rows.getDataVector().getDataBuffer().memoryAddress(), dispatched.expertOutputAddress(l), bytes);
        }
    };

    /** Experts that write nothing: the caller fills the expert outputs itself between dispatch and combine. */
    Experts NONE = (rank, dispatched) -> {};

    /**
     * Computes every local expert of {@code rank}.
     *
     * @param rank the rank whose thread calls
     * @param dispatched the rank's dispatch result (valid during the call)
     */
    void compute(int rank, Dispatched dispatched);
}
