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
package io.tokenroute.routing;

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaEvent;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The result of {@link ElasticBuffer#dispatch}: per local expert, the rows this rank received, as Arrow record batches
 * that are views of the buffer's receive memory (no copy), plus the layout and the handle combine needs. The same type
 * on every transport; {@link #location()} says where the memory is.
 *
 * <p>Per local expert {@code l} ({@code 0 <= l < L}), {@link #expert(int)} has {@link #recvCount(int)} rows:
 * <ul>
 *   <li>bf16 dispatch: {@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H];</li>
 *   <li>fp8 dispatch: {@code fp8} FixedSizeList&lt;tokenroute.float8_e4m3&gt;[H] and {@code scales}
 *       FixedSizeList&lt;float32&gt;[H/128] (dequantisation scales) or
 * FixedSizeList&lt;tokenroute.ue8m0&gt;[H/128];</li>
 *   <li>{@code src_rank} int32 and {@code src_token} int32: where each row came from.</li>
 * </ul>
 * Rows are grouped by source rank (ascending), and within a group by source token (ascending) (docs/contract.md §2).
 *
 * <p>Owned by the buffer and reused: valid until the next {@code dispatch} on the same buffer. Do not close the
 * batches. Host memory on {@code local} and {@code shm}; CUDA device memory on {@code cuda-local} and {@code nvshmem},
 * where the CPU must not read the views (Arrow's getters would touch device memory): wait on {@link #readyEvent()} on
 * a CUDA stream, or copy.
 */
public abstract class Dispatched extends StepReport {

    protected Dispatched(int ranks) {
        super(ranks);
    }

    /** The step's sequence number (dispatch and its combine share it). */
    public abstract long step();

    /** Whether rows are fp8 (with scales) rather than bf16. */
    public abstract boolean isFp8();

    /** L, local experts on this rank. */
    public abstract int numLocalExperts();

    /** n, the number of tokens this rank dispatched (the row count of its combine output). */
    public abstract int numTokens();

    /** Rows received for local expert {@code l} (a host-side count on every transport). */
    public abstract int recvCount(int l);

    /** The received rows of local expert {@code l} (see the class comment for columns). */
    public abstract VectorSchemaRoot expert(int l);

    /**
     * The layout batch: {@code L × R} rows of {@code local_expert}, {@code src_rank}, {@code begin}, {@code count}
     * (int32): the rows of {@code expert(local_expert)} that came from {@code src_rank}. In host memory on every
     * transport.
     */
    public abstract VectorSchemaRoot layout();

    /** First row of local expert {@code l} that came from {@code srcRank}. */
    public abstract int layoutBegin(int l, int srcRank);

    /** Rows of local expert {@code l} that came from {@code srcRank} (0 if that rank was masked). */
    public abstract int layoutCount(int l, int srcRank);

    /**
     * Zero-copy combine: a writable view ({@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H], one row per
     * received row of expert {@code l}) over this rank's combine-send memory (same location as the rows). Write the
     * expert's outputs here, then call {@link ElasticBuffer#combine(Dispatched, io.tokenroute.arrow.batch.TokenBatch)}.
     */
    public abstract VectorSchemaRoot expertOutput(int l);

    /** Address of the first combine-send row of expert {@code l} ({@code recvCount(l) × H} bf16, row-major). */
    public abstract long expertOutputAddress(int l);

    /** Where the rows and the expert-output rows live. */
    public abstract MemoryLocation location();

    /**
     * The CUDA event recorded after the rows were written: a consumer's stream waits on it before reading them. Null
     * on host transports, whose results are complete when the call returns.
     */
    public abstract CudaEvent readyEvent();
}
