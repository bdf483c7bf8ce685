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
package io.tokenroute.routing.testkit;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * {@link StepChecker#step} cut in two, so a test can act between dispatch and combine (e.g. try a bad combine first):
 * {@link #dispatch} dispatches this rank's bf16 batch and checks what arrived against {@link Reference}; the caller
 * then writes or builds the expert outputs and combines with {@link #combineAndCheck}.
 */
public final class SplitStep implements AutoCloseable {
    private final ElasticBuffer buffer;
    private final RankInput[] inputs;
    private final Presence presence;
    private final TokenBatch batch;
    private final Dispatched dispatched;
    private final List<short[][]> seen;

    private SplitStep(
            ElasticBuffer buffer,
            RankInput[] inputs,
            Presence presence,
            TokenBatch batch,
            Dispatched dispatched,
            List<short[][]> seen) {
        this.buffer = buffer;
        this.inputs = inputs;
        this.presence = presence;
        this.batch = batch;
        this.dispatched = dispatched;
        this.seen = seen;
    }

    /** Dispatches {@code inputs[rank]} (bf16) and checks the received rows; close the step when done. */
    public static SplitStep dispatch(
            ElasticBuffer buffer, BufferAllocator allocator, RankInput[] inputs, Presence presence) {
        int self = buffer.rank();
        int localExperts = buffer.config().localExperts();
        TokenBatch batch = inputs[self].toBatch(allocator);
        try {
            Dispatched d = buffer.dispatch(batch, DispatchOptions.BF16);
            List<short[][]> seen = StepChecker.checkDispatch(
                    d, inputs, self, localExperts, DispatchOptions.BF16, presence.dispatchSources());
            return new SplitStep(buffer, inputs, presence, batch, d, seen);
        } catch (RuntimeException | Error e) {
            batch.close();
            throw e;
        }
    }

    /** The dispatched batch (also the combine routing). */
    public TokenBatch batch() {
        return batch;
    }

    /** This step's dispatch result. */
    public Dispatched dispatched() {
        return dispatched;
    }

    /** This rank's inputs. */
    public RankInput mine() {
        return inputs[buffer.rank()];
    }

    /** Writes the expert outputs into the buffer's zero-copy send rows. */
    public void writeZeroCopyOutputs() {
        ResultAccess access = ResultAccess.of(dispatched);
        for (int l = 0; l < dispatched.numLocalExperts(); l++) {
            StepChecker.writeRows(access, dispatched.expertOutputAddress(l), expert(l), seen.get(l));
        }
    }

    /** The expert outputs as separate host batches, one per local expert; the caller closes them. */
    public List<VectorSchemaRoot> outputBatches(BufferAllocator allocator) {
        List<VectorSchemaRoot> out = new ArrayList<>();
        try {
            for (int l = 0; l < dispatched.numLocalExperts(); l++) {
                short[][] rows = seen.get(l);
                int hidden = buffer.config().hidden();
                VectorSchemaRoot root = TestBatches.hiddenRoot(
                        allocator, io.tokenroute.arrow.types.HiddenDtype.BF16, hidden, rows.length);
                StepChecker.writeRows(ResultAccess.host(), TestBatches.hiddenAddress(root), expert(l), rows);
                out.add(root);
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.forEach(VectorSchemaRoot::close);
            throw e;
        }
    }

    /**
     * Combines ({@code outputs == null}: zero-copy, the outputs must have been written) and checks the result against
     * the reference; returns it.
     */
    public Combined combineAndCheck(List<VectorSchemaRoot> outputs) {
        Combined c = buffer.combine(dispatched, outputs, batch);
        StepChecker.checkCombine(
                c, mine(), buffer.config().localExperts(), presence.combineExperts(), DispatchOptions.BF16);
        return c;
    }

    private int expert(int l) {
        return buffer.rank() * buffer.config().localExperts() + l;
    }

    @Override
    public void close() {
        batch.close();
    }
}
