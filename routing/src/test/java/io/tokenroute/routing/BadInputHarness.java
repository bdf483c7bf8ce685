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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.SplitStep;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.function.Executable;

/**
 * What the bad-input suites share (docs/contract.md §7): one rank, {@link #REJECTER}, makes the bad call while its
 * peers go straight on; before and after it every rank runs healthy steps checked against the reference, plus an
 * allGather whose payloads are checked, so a rejected call that had published a step, a flag or a payload makes them
 * fail or time out (and mask someone). {@link BadInputSuite} gives bad data to dispatch and combine, {@link
 * MisuseSuite} calls out of order and misconfigures.
 *
 * <p>A transport's test class extends a suite and says how to run a group.
 */
public abstract class BadInputHarness {
    protected static final int RANKS = 3;
    protected static final int EXPERTS = 9;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 128;
    protected static final int MAX_TOKENS = 6;
    protected static final int COLLECTIVE_BYTES = 64;
    /** The rank that makes the bad call; the others never see it. */
    protected static final int REJECTER = 1;

    protected static final Duration TIMEOUT = Duration.ofSeconds(10);
    protected static final long SEED = 4242;

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
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .timeout(TIMEOUT)
                .collectiveBytes(COLLECTIVE_BYTES);
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

    protected static byte[] payload(int rank, long step) {
        return ("rank " + rank + " step " + step).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A healthy step on every rank: dispatch → expert → combine against the reference (zero-copy on even steps), nobody
     * newly masked, then an allGather whose every payload is checked (proves the collectives' sequence is aligned).
     */
    protected static Dispatched healthyStep(ElasticBuffer buffer, BufferAllocator allocator, long s) {
        BufferConfig c = buffer.config();
        StepChecker.StepOutcome out = StepChecker.step(
                buffer, allocator, inputs(c, s), DispatchOptions.BF16, s % 2 == 0, Presence.all(c.ranks()));
        assertEquals(0, out.dispatchMaskedCount(), "rank " + buffer.rank() + " step " + s + ": dispatch masked a peer");
        assertEquals(0, out.combineNewlyMasked().length, "rank " + buffer.rank() + " step " + s + ": combine masked");
        byte[][] all = buffer.allGatherBytes(payload(buffer.rank(), s));
        for (int r = 0; r < c.ranks(); r++) {
            assertArrayEquals(payload(r, s), all[r], "rank " + buffer.rank() + " step " + s + ": payload of " + r);
        }
        return out.dispatched();
    }

    protected static void assertNobodyMasked(ElasticBuffer buffer) {
        if (buffer.config().elastic()) {
            assertArrayEquals(
                    new int[buffer.config().ranks()],
                    buffer.queryMask(),
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

    protected static TokenBatch batchWithIdx(BufferAllocator allocator, RankInput in, long[] idx) {
        return new RankInput(in.n(), in.hidden(), in.topK(), in.bits(), idx, in.weights()).toBatch(allocator);
    }
}
