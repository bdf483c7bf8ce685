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
 * The result of {@link ElasticBuffer#combine}: one row per dispatched token, aligned with the input batch:
 * {@code hidden} FixedSizeList&lt;tokenroute.bfloat16&gt;[H] = Σ over unmasked experts of weight × expert output (fp32
 * accumulation in top-k order, rounded to bf16 once), and {@code lost_weight} float32 = the summed weights of the
 * experts left out because their rank was masked (0 for undamaged tokens). The experts left out are exactly those of
 * the ranks this rank masks after the call (docs/contract.md §3.8). The same type on every transport; {@link
 * #location()} says where the memory is.
 *
 * <p>Owned by the buffer and reused: valid until the next {@code combine}. Do not close the batch. On the GPU
 * transports the batch is in device memory: the accessors below that return values copy them to the host first (they
 * never let the CPU read device memory), and {@link #readyEvent()} orders a consumer's stream after the output.
 */
public abstract class Combined extends StepReport {

    protected Combined(int ranks) {
        super(ranks);
    }

    /** The output record batch ({@code hidden}, {@code lost_weight}). */
    public abstract VectorSchemaRoot batch();

    /** Number of tokens. */
    public abstract int numTokens();

    /** {@code lost_weight[t]}. */
    public abstract float lostWeight(int t);

    /** Whether token {@code t} lost any expert to a masked rank. */
    public boolean isDamaged(int t) {
        return lostWeight(t) != 0f;
    }

    /** The bf16 bits of {@code hidden[t][h]}. */
    public abstract short hiddenBits(int t, int h);

    /** Address of {@code hidden[0][0]} ({@code n × H} bf16 row-major, in {@link #location()} memory). */
    public abstract long hiddenAddress();

    /** Copies {@code hidden} ({@code n × H} bf16 bits, row-major) to {@code dst} (at least {@code n × H} long). */
    public abstract void copyHiddenTo(short[] dst);

    /** Copies {@code lost_weight} ({@code n} floats) to {@code dst} (at least {@code n} long). */
    public abstract void copyLostWeightTo(float[] dst);

    /** Where the output lives. */
    public abstract MemoryLocation location();

    /** The CUDA event recorded after the output was written; null on host transports. */
    public abstract CudaEvent readyEvent();
}
