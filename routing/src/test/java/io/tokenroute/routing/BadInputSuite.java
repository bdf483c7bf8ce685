package io.tokenroute.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.SplitStep;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import io.tokenroute.routing.testkit.TestBatches;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * docs/contract.md §7 for every transport: each bad input gets an {@link IllegalArgumentException} or
 * {@link IllegalStateException} whose message names the problem, is refused before anything is published, and leaves
 * the buffer usable. After each rejection (made on one rank, {@link #REJECTER}, while its peers go straight on) every
 * rank runs healthy steps checked against the reference, plus an allGather whose payloads are checked: a rejected call
 * that had published a step, a flag or a payload would make these fail or time out (and mask someone).
 *
 * <p>A transport's test class extends this and says how to run a group.
 */
public abstract class BadInputSuite {
    protected static final int RANKS = 3;
    protected static final int EXPERTS = 9;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 128;
    protected static final int MAX_TOKENS = 6;
    protected static final int COLLECTIVE_BYTES = 64;
    /** The rank that makes the bad call; the others never see it. */
    protected static final int REJECTER = 1;
    protected static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final long SEED = 4242;

    /** Runs {@code body} on every rank of a fresh group built from {@code config}, one thread or process per rank. */
    protected abstract void runGroup(BufferConfig config, ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    /** A bad call made by one rank. */
    @FunctionalInterface
    protected interface Attempt {
        void run(ElasticBuffer buffer, BufferAllocator allocator) throws Exception;
    }

    /** A bad call made by one rank between dispatch and combine. */
    @FunctionalInterface
    protected interface CombineAttempt {
        void run(ElasticBuffer buffer, BufferAllocator allocator, SplitStep step) throws Exception;
    }

    protected static BufferConfig.Builder base() {
        return BufferConfig.builder().ranks(RANKS).experts(EXPERTS).maxTopK(TOP_K).hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS).timeout(TIMEOUT).collectiveBytes(COLLECTIVE_BYTES);
    }

    protected static BufferConfig config() {
        return base().build();
    }

    protected static RankInput[] inputs(BufferConfig c, long step) {
        RankInput[] in = new RankInput[c.ranks()];
        for (int r = 0; r < in.length; r++) {
            in[r] = RankInput.random(SEED, step, r, c.maxTokensPerRank(), c.hidden(), c.maxTopK(), c.experts(), false);
        }
        return in;
    }

    private static byte[] payload(int rank, long step) {
        return ("rank " + rank + " step " + step).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A healthy step on every rank: dispatch → expert → combine against the reference (zero-copy on even steps), nobody
     * newly masked, then an allGather whose every payload is checked (proves the collectives' sequence is aligned).
     */
    protected static Dispatched healthyStep(ElasticBuffer buffer, BufferAllocator allocator, long s) {
        BufferConfig c = buffer.config();
        StepChecker.StepOutcome out = StepChecker.step(buffer, allocator, inputs(c, s), DispatchOptions.BF16,
                s % 2 == 0, Presence.all(c.ranks()));
        assertEquals(0, out.dispatchMaskedCount(), "rank " + buffer.rank() + " step " + s + ": dispatch masked a peer");
        assertEquals(0, out.combineNewlyMasked().length, "rank " + buffer.rank() + " step " + s + ": combine masked");
        byte[][] all = buffer.allGatherBytes(payload(buffer.rank(), s));
        for (int r = 0; r < c.ranks(); r++) {
            assertArrayEquals(payload(r, s), all[r], "rank " + buffer.rank() + " step " + s + ": payload of " + r);
        }
        return out.dispatched();
    }

    private static void assertNobodyMasked(ElasticBuffer buffer) {
        if (buffer.config().elastic()) {
            assertArrayEquals(new int[buffer.config().ranks()], buffer.queryMask(),
                    "rank " + buffer.rank() + ": nobody masked after the rejection");
        }
    }

    /** Asserts {@code call} throws exactly {@code type} (or a subclass) with every {@code part} in its message. */
    protected static <T extends RuntimeException> T assertRejects(Class<T> type, Executable call, String... parts) {
        T e = assertThrows(type, call);
        assertNotNull(e.getMessage(), "the exception has a message");
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "expected '" + part + "' in: " + e.getMessage());
        }
        return e;
    }

    /** Healthy step 0 on all ranks; the rejecter's bad call; healthy steps 1 and 2 on all ranks; nobody masked. */
    protected void rejectedThenHealthy(BufferConfig config, Attempt attempt) {
        runGroup(config, (buffer, allocator) -> {
            healthyStep(buffer, allocator, 0);
            if (buffer.rank() == REJECTER) {
                attempt.run(buffer, allocator);
            }
            healthyStep(buffer, allocator, 1);
            healthyStep(buffer, allocator, 2);
            assertNobodyMasked(buffer);
        });
    }

    /**
     * Healthy step 0; then step 1 is dispatched by all ranks, the expert outputs are written zero-copy, the rejecter
     * makes its bad combine call, and every rank combines (zero-copy, or from separate batches when
     * {@code batchesAfter}) and checks; healthy steps 2 and 3 follow. A rejected combine that had copied anything into
     * the send rows or published its state would break the survivors' combine or the next steps.
     */
    protected void rejectedInCombineThenHealthy(boolean batchesAfter, CombineAttempt attempt) {
        BufferConfig config = config();
        runGroup(config, (buffer, allocator) -> {
            healthyStep(buffer, allocator, 0);
            try (SplitStep step = SplitStep.dispatch(buffer, allocator, inputs(config, 1), Presence.all(RANKS))) {
                assertEquals(0, step.dispatched().newlyMaskedCount());
                step.writeZeroCopyOutputs();
                if (buffer.rank() == REJECTER) {
                    attempt.run(buffer, allocator, step);
                }
                Combined c;
                if (batchesAfter) {
                    List<VectorSchemaRoot> outputs = step.outputBatches(allocator);
                    try {
                        c = step.combineAndCheck(outputs);
                    } finally {
                        outputs.forEach(VectorSchemaRoot::close);
                    }
                } else {
                    c = step.combineAndCheck(null);
                }
                assertEquals(0, c.newlyMaskedCount());
            }
            healthyStep(buffer, allocator, 2);
            healthyStep(buffer, allocator, 3);
            assertNobodyMasked(buffer);
        });
    }

    private static TokenBatch batchWithIdx(BufferAllocator allocator, RankInput in, long[] idx) {
        return new RankInput(in.n(), in.hidden(), in.topK(), in.bits(), idx, in.weights()).toBatch(allocator);
    }

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
                        assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
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
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
                        (MAX_TOKENS + 1) + " tokens exceed maxTokensPerRank = " + MAX_TOKENS);
            }
        });
    }

    @Test
    void hiddenSizeDiffersFromTheBuffers() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            for (int h : new int[] {HIDDEN / 2, HIDDEN + 1}) {
                try (TokenBatch batch = RankInput.random(new Random(2), 3, h, TOP_K, EXPERTS).toBatch(allocator)) {
                    assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
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
            try (TokenBatch batch = TokenBatch.fromFloats(allocator, HiddenDtype.FP32, HIDDEN, x, TOP_K, in.idx(),
                    in.weights())) {
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
                        "dtype FP32 differs from the buffer's BF16");
            }
        });
    }

    @Test
    void topKAboveMaxTopK() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            try (TokenBatch batch = RankInput.random(new Random(3), 2, HIDDEN, TOP_K + 1, EXPERTS)
                    .toBatch(allocator)) {
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
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
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
                        "token 1 lists expert 5 twice");
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
                assertRejects(IllegalArgumentException.class, () -> TokenBatch.wrap(root),
                        "topk_idx has 1 null elements");
            }
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K)) {
                root.getVector(TokenBatchSchema.TOPK_IDX).setNull(0);
                assertRejects(IllegalArgumentException.class, () -> TokenBatch.wrap(root), "topk_idx has 1 null rows");
            }
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K)) {
                TestBatches.items(root, TokenBatchSchema.TOPK_WEIGHTS).setNull(in.n() * TOP_K - 1);
                assertRejects(IllegalArgumentException.class, () -> TokenBatch.wrap(root),
                        "topk_weights has 1 null elements");
            }
        });
    }

    @Test
    void topKMismatchBetweenIdxAndWeights() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            RankInput in = inputs(buffer.config(), 1)[buffer.rank()];
            try (VectorSchemaRoot root = TestBatches.handBuilt(allocator, in, TOP_K - 1)) {
                assertRejects(IllegalArgumentException.class, () -> TokenBatch.wrap(root),
                        "top-k mismatch: topk_idx has k = " + TOP_K + " but topk_weights has k = " + (TOP_K - 1));
            }
        });
    }

    @Test
    void deviceBatchGivenToHostTransport() {
        Capabilities.requireLacking(capabilities(), ElasticGroup.Capability.DEVICE_INPUTS,
                "it reads CUDA batches of its device in place (its own tests refuse another device's)");
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            try (TokenBatch device = TestBatches.fakeDeviceBatch(allocator, 3, HIDDEN, TOP_K)) {
                assertFalse(device.location().isCpuAccessible());
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(device),
                        "dispatch: this transport needs a host batch", "cuda:0");
                assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(device, DispatchOptions.FP8),
                        "needs a host batch");
            }
        });
    }

    @Test
    void closedTokenBatch() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            TokenBatch batch = inputs(buffer.config(), 1)[buffer.rank()].toBatch(allocator);
            batch.close();
            assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch),
                    "dispatch: the token batch is closed");
            assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(null), "dispatch: batch is null");
        });
    }

    @Test
    void fp8DispatchNeedsHiddenMultipleOf128() {
        rejectedThenHealthy(base().hidden(64).build(), (buffer, allocator) -> {
            try (TokenBatch batch = inputs(buffer.config(), 1)[buffer.rank()].toBatch(allocator)) {
                for (DispatchOptions options : List.of(DispatchOptions.FP8, DispatchOptions.FP8_ROUND_SCALE,
                        DispatchOptions.FP8_UE8M0)) {
                    assertRejects(IllegalArgumentException.class, () -> buffer.dispatch(batch, options),
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
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), fewer,
                        step.batch()), "expected " + local + " expert outputs (one per local expert), got "
                        + (local - 1));
                List<VectorSchemaRoot> more = new ArrayList<>(outputs);
                more.add(outputs.get(0));
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), more,
                        step.batch()), "got " + (local + 1));
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(),
                        Collections.emptyList(), step.batch()), "got 0");
            } finally {
                outputs.forEach(VectorSchemaRoot::close);
            }
        });
    }

    /** The correct outputs with expert {@code l}'s replaced by {@code bad}; tries the combine; closes everything. */
    private static void tryReplacedOutput(ElasticBuffer buffer, BufferAllocator allocator, SplitStep step, int l,
            VectorSchemaRoot bad, String... parts) {
        List<VectorSchemaRoot> outputs = step.outputBatches(allocator);
        try {
            List<VectorSchemaRoot> replaced = new ArrayList<>(outputs);
            replaced.set(l, bad);
            assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), replaced,
                    step.batch()), parts);
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
            tryReplacedOutput(buffer, allocator, step, l,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN, received + 1),
                    "expert output " + l + " has " + (received + 1) + " rows, but expert " + l + " received "
                            + received);
            if (received > 0) {
                tryReplacedOutput(buffer, allocator, step, l,
                        TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN, received - 1),
                        "has " + (received - 1) + " rows");
            }
        });
    }

    @Test
    void expertOutputWithWrongHiddenSize() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(0);
            tryReplacedOutput(buffer, allocator, step, 0,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.BF16, HIDDEN / 2, received),
                    "expert output 0 must be bf16 rows of H = " + HIDDEN, "got BF16 rows of " + (HIDDEN / 2));
        });
    }

    @Test
    void expertOutputWithWrongDtype() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(1);
            tryReplacedOutput(buffer, allocator, step, 1,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.FP32, HIDDEN, received),
                    "expert output 1 must be bf16 rows", "got FP32 rows of " + HIDDEN);
            tryReplacedOutput(buffer, allocator, step, 1,
                    TestBatches.hiddenRoot(allocator, HiddenDtype.FP16, HIDDEN, received), "got FP16 rows");
        });
    }

    @Test
    void expertOutputWithoutHiddenColumn() {
        rejectedInCombineThenHealthy(false, (buffer, allocator, step) -> {
            int received = step.dispatched().recvCount(0);
            tryReplacedOutput(buffer, allocator, step, 0,
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
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), other),
                        "combine routing differs from the dispatched topk_idx at token 0, slot 0");
            }
            idx = in.idx().clone();
            int lastSlot = idx.length - 1;
            idx[lastSlot] = idx[lastSlot] >= 0 ? -1 : unusedExpert(idx, in.n() - 1);
            try (TokenBatch other = batchWithIdx(allocator, in, idx)) {
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), other),
                        "at token " + (in.n() - 1) + ", slot " + (TOP_K - 1));
            }
            int n = in.n() > 1 ? in.n() - 1 : in.n() + 1;
            try (TokenBatch other = RankInput.random(new Random(5), n, HIDDEN, TOP_K, EXPERTS).toBatch(allocator)) {
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), other),
                        "combine routing has n = " + n, "but the step dispatched n = " + in.n());
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
            assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), closed),
                    "combine: the token batch is closed");
        });
    }

    @Test
    void combineRoutingBatchOnDeviceGivenToHostTransport() {
        Capabilities.requireLacking(capabilities(), ElasticGroup.Capability.DEVICE_INPUTS,
                "it reads CUDA batches of its device in place (its own tests refuse another device's)");
        rejectedInCombineThenHealthy(true, (buffer, allocator, step) -> {
            try (TokenBatch device = TestBatches.fakeDeviceBatch(allocator, step.mine().n(), HIDDEN, TOP_K)) {
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), device),
                        "combine: this transport needs a host batch", "cuda:0");
            }
        });
    }

    @Test
    void combineTwice() {
        runGroup(config(), (buffer, allocator) -> {
            Dispatched d = healthyStep(buffer, allocator, 0);
            if (buffer.rank() == REJECTER) {
                try (TokenBatch routing = inputs(buffer.config(), 0)[buffer.rank()].toBatch(allocator)) {
                    assertRejects(IllegalArgumentException.class, () -> buffer.combine(d, routing),
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
                assertRejects(IllegalArgumentException.class, () -> buffer.combine(step.dispatched(), step.batch()),
                        "latest dispatch result", "invalidated");
            }
            healthyStep(buffer, allocator, 2);
            healthyStep(buffer, allocator, 3);
            assertNobodyMasked(buffer);
        });
    }

    /**
     * The stale-handle case of the brief: a second dispatch before the first one was combined. Today that second
     * dispatch is not refused: it publishes its step and then waits on every peer's combine of the previous step, so the
     * peers (waiting in that combine for this rank) and this rank time out and mask each other although everybody is
     * healthy. Because {@link Dispatched} is one reused object, a handle from before the second dispatch cannot be told
     * apart from the current one either. Expected (docs/contract.md §7, "checked before anything is sent"): the second dispatch is
     * refused up front and the open step can still be combined.
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

    // ------------------------------------------------------------------------------------------------ lifecycle, threads

    @Test
    void callsAfterCloseAreRefusedAndCloseIsIdempotent() {
        BufferConfig config = base().ranks(2).experts(4).build();
        runGroup(config, (buffer, allocator) -> {
            Dispatched d = healthyStep(buffer, allocator, 0);
            buffer.barrier();
            buffer.close();
            int other = 1 - buffer.rank();
            try (TokenBatch batch = inputs(config, 1)[buffer.rank()].toBatch(allocator)) {
                String closed = "rank " + buffer.rank() + ": the buffer is closed";
                assertRejects(IllegalStateException.class, () -> buffer.dispatch(batch), closed);
                assertRejects(IllegalStateException.class, () -> buffer.dispatch(batch, DispatchOptions.FP8), closed);
                assertRejects(IllegalStateException.class, () -> buffer.combine(d, batch), closed);
                assertRejects(IllegalStateException.class, buffer::barrier, closed);
                assertRejects(IllegalStateException.class, () -> buffer.allGatherBytes(new byte[1]), closed);
                assertRejects(IllegalStateException.class, () -> buffer.allGather(new byte[1], allocator), closed);
                assertRejects(IllegalStateException.class, buffer::cleanBuffer, closed);
                assertRejects(IllegalStateException.class, buffer::agreeMask, closed);
                assertRejects(IllegalStateException.class, () -> buffer.readmit(other, Duration.ofMillis(10)),
                        closed);
                assertRejects(IllegalStateException.class, () -> buffer.readmit(buffer.rank(),
                        Duration.ofMillis(10)), closed);
            }
            assertRejects(IllegalStateException.class, () -> d.expert(0), "closed buffer");
            assertRejects(IllegalStateException.class, d::layout, "closed buffer");
            assertDoesNotThrow(buffer::close, "closing twice is fine");
        });
    }

    @Test
    void callsFromTwoThreadsOnOneRank() {
        ParkAt park = new ParkAt(0, Phase.BEFORE_DISPATCH, 2);
        BufferConfig config = base().ranks(1).experts(4).maxTopK(2).hidden(64).maxTokensPerRank(4)
                .phaseListener(park).build();
        runGroup(config, (buffer, allocator) -> {
            Dispatched d0 = healthyStep(buffer, allocator, 0);
            String owner = Thread.currentThread().getName();
            AtomicReference<Throwable> problem = new AtomicReference<>();
            List<IllegalStateException> refusals = Collections.synchronizedList(new ArrayList<>());
            try (TokenBatch other = inputs(config, 1)[0].toBatch(allocator)) {
                Thread intruder = new Thread(() -> {
                    try {
                        if (!park.awaitParked(Duration.ofSeconds(20))) {
                            throw new AssertionError("the owner never parked inside dispatch");
                        }
                        refusals.add(assertThrows(IllegalStateException.class, () -> buffer.dispatch(other)));
                        refusals.add(assertThrows(IllegalStateException.class, () -> buffer.combine(d0, other)));
                        refusals.add(assertThrows(IllegalStateException.class, buffer::barrier));
                        refusals.add(assertThrows(IllegalStateException.class,
                                () -> buffer.allGatherBytes(new byte[1])));
                        refusals.add(assertThrows(IllegalStateException.class, buffer::cleanBuffer));
                        refusals.add(assertThrows(IllegalStateException.class,
                                () -> buffer.readmit(0, Duration.ofMillis(10))));
                    } catch (Throwable t) {
                        problem.set(t);
                    } finally {
                        park.release();
                    }
                }, "intruder-thread");
                intruder.setDaemon(true);
                intruder.start();
                healthyStep(buffer, allocator, 1);
                intruder.join(Duration.ofSeconds(30).toMillis());
                assertFalse(intruder.isAlive(), "the intruder finished");
            }
            if (problem.get() != null) {
                throw new AssertionError("intruder: " + problem.get(), problem.get());
            }
            assertTrue(park.hasParked());
            assertEquals(6, refusals.size());
            for (IllegalStateException e : refusals) {
                assertTrue(e.getMessage().contains("from thread intruder-thread") && e.getMessage().contains(
                        "while thread " + owner + " is inside a call"), e.getMessage());
            }
            healthyStep(buffer, allocator, 2);
            assertNobodyMasked(buffer);
        });
    }

    // ------------------------------------------------------------------------------------------------ mask API misuse

    @Test
    void maskCallsInNonElasticMode() {
        rejectedThenHealthy(base().elastic(false).build(), (buffer, allocator) -> {
            String mode = "needs elastic mode";
            assertRejects(IllegalStateException.class, buffer::queryMask, "queryMask " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.isMasked(0), "isMasked " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.updateMask(0, true), "updateMask " + mode);
            assertRejects(IllegalStateException.class, buffer::clearMask, "clearMask " + mode);
            assertRejects(IllegalStateException.class, buffer::agreeMask, "agreeMask " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.readmit(0, Duration.ofMillis(10)),
                    "readmit " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.readmit(buffer.rank(), Duration.ofMillis(10)),
                    "readmit " + mode);
        });
    }

    @Test
    void rankIdsOutOfRange() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            String range = " outside [0, " + RANKS + ")";
            assertRejects(IllegalArgumentException.class, () -> buffer.updateMask(-1, true), "rank -1" + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.updateMask(RANKS, true), "rank " + RANKS + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.updateMask(RANKS, false),
                    "rank " + RANKS + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.isMasked(RANKS), "rank " + RANKS + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.readmit(RANKS, Duration.ofMillis(10)),
                    "rank " + RANKS + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.readmit(-1, Duration.ofMillis(10)),
                    "rank -1" + range);
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "the mask is unchanged");
        });
    }

    @Test
    void rankCannotMaskItself() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            assertRejects(IllegalArgumentException.class, () -> buffer.updateMask(buffer.rank(), true),
                    "rank " + buffer.rank() + " cannot mask itself");
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "the mask is unchanged");
            assertFalse(buffer.isMasked(buffer.rank()));
            buffer.updateMask(buffer.rank(), false);
        });
    }

    @Test
    void allGatherPayloadAboveCollectiveBytes() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            byte[] big = new byte[COLLECTIVE_BYTES + 1];
            String message = (COLLECTIVE_BYTES + 1) + " bytes exceeds collectiveBytes";
            assertRejects(IllegalArgumentException.class, () -> buffer.allGatherBytes(big), message);
            assertRejects(IllegalArgumentException.class, () -> buffer.allGather(big, allocator), message);
            assertRejects(IllegalArgumentException.class, () -> buffer.allGatherBytes(new byte[1 << 20]),
                    "exceeds collectiveBytes");
        });
    }

    @Test
    void runtimeTimeoutMustBePositive() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            assertRejects(IllegalArgumentException.class, () -> buffer.setTimeout(Duration.ZERO),
                    "timeout must be positive");
            assertRejects(IllegalArgumentException.class, () -> buffer.setTimeout(Duration.ofMillis(-5)),
                    "timeout must be positive");
            assertEquals(TIMEOUT, buffer.timeout(), "the timeout is unchanged");
        });
    }

    // ------------------------------------------------------------------------------------------------ options, config

    @Test
    void dispatchOptionsRejections() {
        assertRejects(IllegalArgumentException.class, () -> new DispatchOptions(true, false, true, true),
                "ue8m0 scales need roundScale");
        assertRejects(IllegalArgumentException.class, () -> new DispatchOptions(false, false, true, true),
                "ue8m0 scales need roundScale");
        assertRejects(IllegalArgumentException.class, () -> new DispatchOptions(false, true, false, true),
                "roundScale needs fp8");
        assertDoesNotThrow(() -> new DispatchOptions(true, true, true, false));
    }

    @Test
    void bufferConfigBuilderRejections() {
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(4).experts(6).build(),
                "experts must be a positive multiple of ranks: experts = 6, ranks = 4");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(4).experts(2).build(),
                "experts must be a positive multiple of ranks");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().maxTopK(BufferConfig.MAX_TOP_K + 1)
                .build(), "maxTopK must be in [1, 16], got 17");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().maxTopK(0).build(),
                "maxTopK must be in [1, 16], got 0");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(4).experts(8).rank(4).build(),
                "rank 4 outside [0, 4)");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(4).experts(8).rank(-1)
                .build(), "rank -1 outside [0, 4)");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(4).experts(8).build()
                .withRank(4), "rank 4 outside [0, 4)");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().timeout(Duration.ZERO).build(),
                "timeout must be positive");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().timeout(Duration.ofMillis(-1))
                .build(), "timeout must be positive");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().ranks(0).build(),
                "ranks must be >= 1");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().maxTokensPerRank(0).build(),
                "maxTokensPerRank must be >= 1");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().hidden(0).build(),
                "hidden must be >= 1");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().dtype(HiddenDtype.FP8_E4M3)
                .build(), "fp8 is a dispatch option");
        assertRejects(IllegalArgumentException.class, () -> BufferConfig.builder().collectiveBytes(-1).build(),
                "collectiveBytes must be >= 0");
        assertDoesNotThrow(() -> BufferConfig.builder().ranks(4).experts(8).rank(3).maxTopK(16).build());
    }
}
