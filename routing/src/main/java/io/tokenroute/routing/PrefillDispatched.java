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
 * The result of {@link ElasticBuffer#prefillDispatch}, the high-throughput mode's receive batch (docs/contract.md §3b):
 * every token a source rank routed to at least one of this rank's experts, once, contiguous per source rank
 * (ascending), in ascending source-token order within a source. {@link #batch()} has {@link #numReceived()} rows:
 * <ul>
 *   <li>{@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H], or {@code fp8} + {@code scales} as in
 *       {@link Dispatched};</li>
 *   <li>{@code topk_idx} FixedSizeList&lt;int64&gt;[maxTopK]: the token's top-k slots restricted to this rank's
 * experts,
 *       as local expert ids ({@code 0 <= l < L}), -1 for slots of other ranks' experts (and past the source's k);</li>
 *   <li>{@code topk_weights} FixedSizeList&lt;float32&gt;[maxTopK]: the matching weights, 0 where the id is -1;</li>
 *   <li>{@code src_rank} int32, {@code src_token} int32.</li>
 * </ul>
 *
 * <p>The handle the combine reuses: per source the rows' range ({@link #sourceBegin}, {@link #sourceCount}), and per
 * local expert the receive rows routed to it ({@link #expertCount}, {@link #expertBegin}, {@link #expertRow}), a row
 * routed to two local experts being listed under both. The expert writes one bf16 output row per listed row into
 * {@link #expertOutput(int)} (zero-copy), then the combine reduces them per token with the weights.
 *
 * <p>Owned by the buffer and reused: valid until the next prefill dispatch. Do not close the batches.
 */
public abstract class PrefillDispatched extends StepReport {

    protected PrefillDispatched(int ranks) {
        super(ranks);
    }

    /** The prefill step's sequence number (dispatch and its combine share it). */
    public abstract long step();

    /** Whether rows are fp8 (with scales) rather than bf16. */
    public abstract boolean isFp8();

    /** n, the tokens this rank dispatched (the row count of its combine output). */
    public abstract int numTokens();

    /** Rows this rank received, over all sources. */
    public abstract int numReceived();

    /** The received rows (see the class comment for columns). */
    public abstract VectorSchemaRoot batch();

    /** First receive row from source rank {@code p}. */
    public abstract int sourceBegin(int p);

    /** Receive rows from source rank {@code p} (0 if it is masked). */
    public abstract int sourceCount(int p);

    /** L, local experts. */
    public abstract int numLocalExperts();

    /** Receive rows routed to local expert {@code l}. */
    public abstract int expertCount(int l);

    /** Where local expert {@code l}'s entries start in the expert-major list (the prefix sum of the counts). */
    public abstract int expertBegin(int l);

    /** The receive row of entry {@code i} of local expert {@code l} ({@code 0 <= i < expertCount(l)}, ascending). */
    public abstract int expertRow(int l, int i);

    /**
     * Zero-copy combine: a writable view ({@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H], one row per entry
     * of local expert {@code l}) to write the expert's outputs into before {@link ElasticBuffer#prefillCombine}.
     */
    public abstract VectorSchemaRoot expertOutput(int l);

    /** Address of local expert {@code l}'s first expert-output row ({@code expertCount(l) × H} bf16). */
    public abstract long expertOutputAddress(int l);

    /** Where the rows live. */
    public abstract MemoryLocation location();

    /** The CUDA event after which the rows are ready; null on host transports. */
    public abstract CudaEvent readyEvent();
}
