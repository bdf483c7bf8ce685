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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.examples.demo.RankInputs.Round;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.placement.ExpertPlacement;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The decode mode's round (docs/contract.md §2): {@code dispatch} → every local slot runs the logical expert it hosts
 * → {@code combine}, checked against {@link ReferenceCheck}. Where the results are in host memory ({@code local},
 * {@code shm}) the experts read the received rows in place and write straight into
 * {@link Dispatched#expertOutputAddress} (zero-copy combine); where they are in device memory ({@code cuda-local},
 * {@code nvshmem}) the rows, the outputs and the combine output cross through host copies ({@link DeviceStaging}),
 * since the CPU never reads device memory.
 */
final class DecodeRounds extends RoundRunner {
    /** Host copies of device results; null where the results are in host memory. */
    private final DeviceStaging staging;

    private final ReferenceCheck reference;
    /** The latest round's results (valid until the next dispatch / combine of this buffer). */
    private Dispatched dispatched;

    private Combined combined;
    private final short[] rowBits;
    private final float[] x;
    private final float[] y;

    /** @param allocator pays for the host copies of device results; close this runner first */
    DecodeRounds(
            int rank,
            DemoConfig config,
            ElasticBuffer buffer,
            BufferAllocator allocator,
            BlockExperts experts,
            FaultInjector faults) {
        super(rank, config, buffer, experts, faults);
        int hidden = config.hidden();
        this.reference = new ReferenceCheck(experts, hidden, config.topK(), slotsPerRank);
        this.rowBits = new short[hidden];
        this.x = new float[hidden];
        this.y = new float[hidden];
        this.staging = buffer.location().isCpuAccessible()
                ? null
                : new DeviceStaging(buffer.location(), allocator, slotsPerRank, config.tokens(), hidden, config.topK());
    }

    @Override
    Outcome route(Round round, ExpertPlacement placement) {
        int[] before = buffer.queryMask();
        TokenBatch batch = staging == null ? round.batch() : staging.upload(round.batch());
        try {
            dispatched = routed(() -> buffer.dispatch(batch));
            note(dispatched, maskedInDispatch);
            if (staging != null) {
                staging.fetchRows(dispatched);
            }
            runExperts(placement);
            if (staging != null) {
                staging.uploadOutputs(dispatched);
            }
            combined = routed(() -> buffer.combine(dispatched, batch));
            note(combined, maskedInCombine);
            if (staging != null) {
                staging.fetchOutput(combined);
            }
        } finally {
            if (batch != round.batch()) {
                batch.close();
            }
        }
        return outcome(before, combined, round.n());
    }

    @Override
    boolean matches(int t, Round round, Outcome outcome) {
        long out = staging == null ? combined.hiddenAddress() : staging.outputAddress();
        return reference.matches(
                t,
                round.bits(),
                round.logical(),
                round.physical(),
                round.weights(),
                outcome.maskAfter(),
                out,
                lostWeight(t));
    }

    @Override
    float lostWeight(int t) {
        return staging == null ? combined.lostWeight(t) : staging.lostWeight(t);
    }

    /** Each local slot runs the logical expert it hosts on the rows it received, into its expert-output rows. */
    private void runExperts(ExpertPlacement placement) {
        for (int l = 0; l < slotsPerRank; l++) {
            int rows = dispatched.recvCount(l);
            if (rows == 0) {
                continue;
            }
            int expert = hostedExpert(placement, l, rows);
            long in = staging == null ? receivedRows(dispatched, l) : staging.receivedAddress(l);
            long out = staging == null ? dispatched.expertOutputAddress(l) : staging.computedAddress(l);
            experts.applyRows(expert, in, out, rows, rowBits, x, y);
            buffer.heartbeat();
        }
    }

    /** Host address of the rows local expert {@code l} received (host transports: the receive memory itself). */
    private static long receivedRows(Dispatched d, int l) {
        FixedSizeListVector rows = (FixedSizeListVector) d.expert(l).getVector(TokenBatchSchema.HIDDEN);
        return rows.getDataVector().getDataBuffer().memoryAddress();
    }

    /** Frees the host copies of device results. */
    @Override
    public void close() {
        if (staging != null) {
            staging.close();
        }
    }
}
