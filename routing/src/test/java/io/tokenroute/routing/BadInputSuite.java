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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.SplitStep;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import io.tokenroute.routing.testkit.TestBatches;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;

/**
 * docs/contract.md §7 for every transport: each bad input gets an {@link IllegalArgumentException} or
 * {@link IllegalStateException} whose message names the problem, is refused before anything is published, and leaves
 * the buffer usable. After each rejection (made on one rank, {@link #REJECTER}, while its peers go straight on) every
 * rank runs healthy steps checked against the reference, plus an allGather whose payloads are checked: a rejected call
 * that had published a step, a flag or a payload would make these fail or time out (and mask someone).
 *
 * <p>A transport's test class extends this and says how to run a group.
 */
public abstract class BadInputSuite extends BadInputHarness {
    // ------------------------------------------------------------------------------------------------ dispatch input

    @Test
    void expertIdOutOfRange() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = inputs(buffer.config(), 1)[buffer.rank()];
            int last = in.n() * TOP_K - 1;
            for (long bad : new long[] {EXPERTS, -2, Long.MAX_VALUE}) {
                for (int slot : new int[] {1, last}) {
                    long[] idx = in.idx().clone();
                    idx[slot] = bad;
                    try (TokenBatch batch = batchWithIdx(allocator, in, idx)) {
                        assertRejects(
                                IllegalArgumentException.class,
                                () -> buffer.dispatch(batch),
                                "topk_idx[" + slot / TOP_K + "][" + slot % TOP_K + "] = " + bad,
                                "outside [0, " + EXPERTS + ")");
                    }
                }
            }
        });
    }

    @Test
    void moreTokensThanMaxTokensPerRank() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            try (TokenBatch batch = RankInput.random(new Random(1), MAX_TOKENS + 1, HIDDEN, TOP_K, EXPERTS)
                    .toBatch(allocator)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(batch),
                        (MAX_TOKENS + 1) + " tokens exceed maxTokensPerRank = " + MAX_TOKENS);
            }
        });
    }

    @Test
    void hiddenSizeDiffersFromTheBuffers() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            for (int h : new int[] {HIDDEN / 2, HIDDEN + 1}) {
                try (TokenBatch batch =
                        RankInput.random(new Random(2), 3, h, TOP_K, EXPERTS).toBatch(allocator)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.dispatch(batch),
                            "hidden size " + h + " differs from the buffer's " + HIDDEN);
                }
            }
        });
    }

    @Test
    void dtypeDiffersFromTheBuffers() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = inputs(buffer.config(), 1)[buffer.rank()];
            float[] x = new float[in.n() * HIDDEN];
            for (int i = 0; i < x.length; i++) {
                x[i] = 0.5f + i % 7;
            }
            try (TokenBatch batch =
                    TokenBatch.fromFloats(allocator, HiddenDtype.FP32, HIDDEN, x, TOP_K, in.idx(), in.weights())) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(batch),
                        "dtype FP32 differs from the buffer's BF16");
            }
        });
    }

    @Test
    void topKAboveMaxTopK() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            try (TokenBatch batch = RankInput.random(new Random(3), 2, HIDDEN, TOP_K + 1, EXPERTS)
                    .toBatch(allocator)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(batch),
                        "k = " + (TOP_K + 1) + " exceeds maxTopK = " + TOP_K);
            }
        });
    }

    @Test
    void sameExpertTwiceInOneToken() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = RankInput.random(new Random(4), 2, HIDDEN, TOP_K, EXPERTS);
            long[] idx = {0, 1, 2, 3, 5, -1, -1, 5};
            try (TokenBatch batch = batchWithIdx(allocator, in, idx)) {
                assertRejects(
                        IllegalArgumentException.class, () -> buffer.dispatch(batch), "token 1 lists expert 5 twice");
            }
        });
    }

    @Test
    void nullsInRoutingColumnsAreRefusedBeforeDispatch() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = inputs(buffer.config(), 1)[buffer.rank()];
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K)) {
                try (TokenBatch ok = TokenBatch.wrap(root)) {
                    assertEquals(in.n(), ok.numTokens(), "the hand-built root is valid before a null is set");
                }
                TestBatches.items(root, TokenBatchSchema.TOPK_IDX).setNull(1);
                assertRejects(
                        IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_idx has 1 null elements");
            }
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K)) {
                root.getVector(TokenBatchSchema.TOPK_IDX).setNull(0);
                assertRejects(IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_idx has 1 null rows");
            }
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K)) {
                TestBatches.items(root, TokenBatchSchema.TOPK_WEIGHTS).setNull(in.n() * TOP_K - 1);
                assertRejects(
                        IllegalArgumentException.class,
                        () -> TokenBatch.wrap(root),
                        "topk_weights has 1 null elements");
            }
        });
    }

    @Test
    void topKMismatchBetweenIdxAndWeights() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = inputs(buffer.config(), 1)[buffer.rank()];
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K - 1)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> TokenBatch.wrap(root),
                        "top-k mismatch: topk_idx has k = " + TOP_K + " but topk_weights has k = " + (TOP_K - 1));
            }
        });
    }

    @Test
    void deviceBatchGivenToHostTransport() {
        Capabilities.requireLacking(
                capabilities(),
                ElasticGroup.Capability.DEVICE_INPUTS,
                "it reads CUDA batches of its device in place (its own tests refuse another device's)");
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            try (TokenBatch device = TestBatches.fakeDeviceBatch(allocator, 3, HIDDEN, TOP_K)) {
                assertFalse(device.location().isCpuAccessible());
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(device),
                        "dispatch: this transport needs a host batch",
                        "cuda:0");
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(device, DispatchOptions.FP8),
                        "needs a host batch");
            }
        });
    }

    @Test
    void closedTokenBatch() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            TokenBatch batch = inputs(buffer.config(), 1)[buffer.rank()].toBatch(allocator);
            batch.close();
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.dispatch(batch),
                    "dispatch: the token batch is closed");
            assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(null), "dispatch: batch is null");
        });
    }

    @Test
    void fp8DispatchNeedsHiddenMultipleOf128() {
        rejectedThenHealthy(base().hidden(64).build(), (buffer, allocator) -> {
            try (TokenBatch batch = inputs(buffer.config(), 1)[buffer.rank()].toBatch(allocator)) {
                for (DispatchOptions options :
                        List.of(DispatchOptions.FP8, DispatchOptions.FP8_ROUND_SCALE, DispatchOptions.FP8_UE8M0)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.dispatch(batch, options),
                            "fp8 dispatch needs hidden % 128 == 0, hidden is 64");
                }
            }
        });
    }

    // ------------------------------------------------------------------------------------------------ combine input

    @Test
    void wrongNumberOfExpertOutputs() {
        int local = EXPERTS / RANKS;
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            List<VectorSchemaRoot> outputs = step.outputBatches(allocator);
            try {
                List<VectorSchemaRoot> fewer = outputs.subList(0, local - 1);
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), fewer, step.batch()),
                        "expected " + local + " expert outputs (one per local expert), got " + (local - 1));
                List<VectorSchemaRoot> more = new ArrayList<>(outputs);
                more.add(outputs.get(0));
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), more, step.batch()),
                        "got " + (local + 1));
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), Collections.emptyList(), step.batch()),
                        "got 0");
            } finally {
                outputs.forEach(VectorSchemaRoot::close);
            }
        });
    }

    /** The correct outputs with expert {@code l}'s replaced by {@code bad}; tries the combine; closes everything. */
    private static void tryReplacedOutput(
            ElasticBuffer buffer,
            BufferAllocator allocator,
            SplitStep step,
            int l,
            VectorSchemaRoot bad,
            String... parts) {
        List<VectorSchemaRoot> outputs = step.outputBatches(allocator);
        try {
            List<VectorSchemaRoot> replaced = new ArrayList<>(outputs);
            replaced.set(l, bad);
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.combine(step.dispatched(), replaced, step.batch()),
                    parts);
        } finally {
            outputs.forEach(VectorSchemaRoot::close);
            bad.close();
        }
    }

    @Test
    void expertOutputWithWrongRowCount() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int l = EXPERTS / RANKS - 1;
            int received = step.dispatched().recvCount(l);
            tryReplacedOutput(
                    buffer,
                    allocator,
                    step,
                    l,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN, received + 1),
                    "expert output " + l + " has " + (received + 1) + " rows, but expert " + l + " received "
                            + received);
            if (received > 0) {
                tryReplacedOutput(
                        buffer,
                        allocator,
                        step,
                        l,
                        TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN, received - 1),
                        "has " + (received - 1) + " rows");
            }
        });
    }

    @Test
    void expertOutputWithWrongHiddenSize() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(0);
            tryReplacedOutput(
                    buffer,
                    allocator,
                    step,
                    0,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN / 2, received),
                    "expert output 0 must be bf16 rows of H = " + HIDDEN,
                    "got BF16 rows of " + (HIDDEN / 2));
        });
    }

    @Test
    void expertOutputWithWrongDtype() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(1);
            tryReplacedOutput(
                    buffer,
                    allocator,
                    step,
                    1,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.FP32, HIDDEN, received),
                    "expert output 1 must be bf16 rows",
                    "got FP32 rows of " + HIDDEN);
            tryReplacedOutput(
                    buffer,
                    allocator,
                    step,
                    1,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.FP16, HIDDEN, received),
                    "got FP16 rows");
        });
    }

    @Test
    void expertOutputWithoutHiddenColumn() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(0);
            tryReplacedOutput(
                    buffer,
                    allocator,
                    step,
                    0,
                    TestBatches.zeroedRoot(allocator, "output", HiddenDtype.BF16, HIDDEN, received),
                    "expert output 0 needs a 'hidden' FixedSizeList column");
        });
    }

    @Test
    void combineRoutingDiffersFromTheDispatchedOne() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            RankInput in = step.mine();
            long[] idx = in.idx().clone();
            long first = idx[0];
            idx[0] = first >= 0 ? -1 : unusedExpert(idx, 0);
            try (TokenBatch other = batchWithIdx(allocator, in, idx)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), other),
                        "combine routing differs from the dispatched topk_idx at token 0, slot 0");
            }
            idx = in.idx().clone();
            int lastSlot = idx.length - 1;
            idx[lastSlot] = idx[lastSlot] >= 0 ? -1 : unusedExpert(idx, in.n() - 1);
            try (TokenBatch other = batchWithIdx(allocator, in, idx)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), other),
                        "at token " + (in.n() - 1) + ", slot " + (TOP_K - 1));
            }
            int n = in.n() > 1 ? in.n() - 1 : in.n() + 1;
            try (TokenBatch other =
                    RankInput.random(new Random(5), n, HIDDEN, TOP_K, EXPERTS).toBatch(allocator)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), other),
                        "combine routing has n = " + n,
                        "but the step dispatched n = " + in.n());
            }
        });
    }

    /** An expert id that token {@code t} of {@code idx} does not list. */
    private static long unusedExpert(long[] idx, int t) {
        for (long e = 0; e < EXPERTS; e++) {
            boolean used = false;
            for (int j = 0; j < TOP_K; j++) {
                used |= idx[t * TOP_K + j] == e;
            }
            if (!used) {
                return e;
            }
        }
        throw new AssertionError("token uses every expert");
    }

    @Test
    void combineRoutingBatchClosed() {
        rejectedInCombineThenHealthy(true, (buffer, allocator, step) -> {
            TokenBatch closed = step.mine().toBatch(allocator);
            closed.close();
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.combine(step.dispatched(), closed),
                    "combine: the token batch is closed");
        });
    }

    @Test
    void combineRoutingBatchOnDeviceGivenToHostTransport() {
        Capabilities.requireLacking(
                capabilities(),
                ElasticGroup.Capability.DEVICE_INPUTS,
                "it reads CUDA batches of its device in place (its own tests refuse another device's)");
        rejectedInCombineThenHealthy(true, (buffer, allocator, step) -> {
            try (TokenBatch device =
                    TestBatches.fakeDeviceBatch(allocator, step.mine().n(), HIDDEN, TOP_K)) {
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), device),
                        "combine: this transport needs a host batch",
                        "cuda:0");
            }
        });
    }

    @Test
    void combineTwice() {
        runGroup(config(), (buffer, allocator) -> {
            Dispatched d = healthyStep(buffer, allocator, 0);
            if (buffer.rank() == REJECTER) {
                try (TokenBatch routing = inputs(buffer.config(), 0)[buffer.rank()].toBatch(allocator)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.combine(d, routing),
                            "combine needs this buffer's latest dispatch result, not yet combined");
                }
            }
            healthyStep(buffer, allocator, 1);
            healthyStep(buffer, allocator, 2);
            assertNobodyMasked(buffer);
        });
    }

    @Test
    void combineWithDispatchResultInvalidatedByCleanBuffer() {
        BufferConfig config = config();
        runGroup(config, (buffer, allocator) -> {
            healthyStep(buffer, allocator, 0);
            try (SplitStep step = SplitStep.dispatch(buffer, allocator, inputs(config, 1), Presence.all(RANKS))) {
                step.writeZeroCopyOutputs();
                buffer.cleanBuffer();
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.combine(step.dispatched(), step.batch()),
                        "latest dispatch result",
                        "invalidated");
            }
            healthyStep(buffer, allocator, 2);
            healthyStep(buffer, allocator, 3);
            assertNobodyMasked(buffer);
        });
    }

    /**
     * The stale-handle case of the brief: a second dispatch before the first one was combined. Today that second
     * dispatch is not refused: it publishes its step and then waits on every peer's combine of the previous step, so
     * the peers (waiting in that combine for this rank) and this rank time out and mask each other although everybody
     * is healthy. Because {@link Dispatched} is one reused object, a handle from before the second dispatch cannot be
     * told apart from the current one either. Expected (docs/contract.md §7, "checked before anything is sent"): the
     * second dispatch is refused up front and the open step can still be combined.
     */
    @Test
    void secondDispatchBeforeCombineIsRefused() {
        BufferConfig config = config();
        runGroup(config, (buffer, allocator) -> {
            healthyStep(buffer, allocator, 0);
            try (SplitStep step = SplitStep.dispatch(buffer, allocator, inputs(config, 1), Presence.all(RANKS))) {
                step.writeZeroCopyOutputs();
                if (buffer.rank() == REJECTER) {
                    try (TokenBatch next = inputs(config, 2)[buffer.rank()].toBatch(allocator)) {
                        assertRejects(IllegalStateException.class, () -> buffer.dispatch(next), "combine");
                    }
                }
                assertEquals(0, step.combineAndCheck(null).newlyMaskedCount());
            }
            healthyStep(buffer, allocator, 2);
            assertNobodyMasked(buffer);
        });
    }
}
