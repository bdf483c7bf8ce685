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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.PhaseLatch;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The interleavings behind wrong outputs and split views under overload, reproduced deterministically with phase
 * latches and parked ranks: collectives of different kinds at the same point, a rank cut off inside the agreement, a
 * mask learned from a peer while waiting, and two live ranks masking each other (docs/contract.md §3, "one agreed
 * view", "every output is explained").
 */
public abstract class AgreementSuite {
    protected static final int EXPERTS = 8;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 64;
    protected static final int MAX_TOKENS = 8;
    private static final Duration LATCH_BOUND = Duration.ofSeconds(30);
    private static final Duration READMIT_TIMEOUT = Duration.ofSeconds(20);

    /**
     * Runs {@code body} on every rank of a fresh group; failures of ranks with {@code checked[r] == false} are ignored
     * ({@code null}: all checked); {@code releaseUnchecked} runs once the checked ranks are done.
     */
    protected abstract void runGroup(
            BufferConfig config, boolean[] checked, Runnable releaseUnchecked, ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    /** Every interleaving here is about the confirmed agreement and what a masked rank is told. */
    @BeforeEach
    void requireTheJavaProtocolsAgreement() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.CONFIRMED_AGREEMENT,
                "these interleavings check the confirmed agreement");
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "these interleavings check that a masked rank is told");
    }

    private void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        runGroup(config, null, () -> {}, body);
    }

    protected static BufferConfig.Builder base(int ranks) {
        return BufferConfig.builder()
                .ranks(ranks)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .timeout(Duration.ofSeconds(20));
    }

    private static RankInput[] inputs(BufferConfig c, long step) {
        RankInput[] in = new RankInput[c.ranks()];
        for (int r = 0; r < in.length; r++) {
            in[r] = RankInput.random(4711, step, r, c.maxTokensPerRank(), c.hidden(), c.maxTopK(), c.experts(), false);
        }
        return in;
    }

    private static void fullStep(ElasticBuffer buffer, org.apache.arrow.memory.BufferAllocator allocator, long step) {
        BufferConfig c = buffer.config();
        StepChecker.step(buffer, allocator, inputs(c, step), DispatchOptions.BF16, true, Presence.all(c.ranks()));
    }

    /**
     * The survivors' side of a readmission an engine runs at every step boundary: readmitRequesting until the returning
     * rank has asked (it asks once it found out; the survivors call together, so they stop together).
     */
    private static int readmitWhenAsked(ElasticBuffer buffer) {
        long deadline = System.nanoTime() + READMIT_TIMEOUT.toNanos();
        int back;
        while ((back = buffer.readmitRequesting(READMIT_TIMEOUT)) < 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        return back;
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /**
     * Rank 0 runs agreeMask while rank 1 all-gathers a 516-byte payload at the same point (the demo's load gather when
     * views had diverged): both fail with CollectiveMismatchException naming the other, neither reads the other's
     * payload, both refuse work until cleanBuffer, and afterwards full steps run.
     */
    @Test
    void differentCollectivesAtTheSamePointFailOnBothSidesAndNoPayloadIsUsed() {
        BufferConfig config = base(2).experts(4).build();
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            fullStep(buffer, allocator, 0);
            CollectiveMismatchException e = assertThrows(CollectiveMismatchException.class, () -> {
                if (self == 0) {
                    buffer.agreeMask();
                } else {
                    buffer.allGatherBytes(new byte[516]);
                }
            });
            assertEquals(1 - self, e.peer(), e.getMessage());
            assertTrue(e.getMessage().contains(self == 0 ? "allGather()" : "agreeMask()"), e.getMessage());
            IllegalStateException refused = assertThrows(IllegalStateException.class, buffer::barrier);
            assertTrue(refused.getMessage().contains("cleanBuffer"), refused.getMessage());
            buffer.cleanBuffer();
            fullStep(buffer, allocator, 1);
            assertArrayEquals(new int[2], buffer.agreeMask(), "nobody masked");
        });
    }

    /** A barrier against an allGather at the same point fails the same way. */
    @Test
    void aBarrierAgainstAnAllGatherFailsOnBothSides() {
        BufferConfig config = base(2).experts(4).build();
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            assertThrows(CollectiveMismatchException.class, () -> {
                if (self == 0) {
                    buffer.barrier();
                } else {
                    buffer.allGatherBytes(new byte[8]);
                }
            });
            buffer.cleanBuffer();
            buffer.barrier();
        });
    }

    // ------------------------------------------------------------------------------------------------ agreement

    /**
     * R = 3, rank 2 stops at the start of agreeMask (as a rank descheduled there would) and its peers time out on it:
     * both survivors return the same mask {2}; rank 2, once it runs again, learns it was masked (its own entry is 1,
     * and its next call throws naming both survivors) instead of going on with a view nobody shares. It asks to come
     * back, the survivors readmit it, and the next step is full and exact.
     */
    @Test
    void aRankStoppedInTheAgreementIsMaskedByAllAndLearnsIt() {
        int victim = 2;
        ParkAt park = new ParkAt(victim, Phase.AGREE, 1);
        BufferConfig config = base(3).experts(6)
                .timeout(Duration.ofSeconds(20))
                .phaseListener(park)
                .build();
        CountDownLatch survivorsAgreed = new CountDownLatch(2);
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            fullStep(buffer, allocator, 0);
            buffer.setTimeout(Duration.ofMillis(50));
            int[] agreed = buffer.agreeMask();
            if (self == victim) {
                assertEquals(1, agreed[victim], "the victim learns its peers masked it");
                RankMaskedException e = assertThrows(RankMaskedException.class, buffer::barrier);
                assertArrayEquals(new int[] {0, 1}, e.maskedBy(), e.getMessage());
                assertTrue(buffer.readmit(victim, READMIT_TIMEOUT), "readmitted");
            } else {
                assertArrayEquals(new int[] {0, 0, 1}, agreed, "rank " + self + ": the survivors agree");
                survivorsAgreed.countDown();
                assertTrue(survivorsAgreed.await(LATCH_BOUND.toNanos(), TimeUnit.NANOSECONDS));
                park.release();
                assertEquals(victim, readmitWhenAsked(buffer), "the victim asked to come back");
            }
            buffer.setTimeout(Duration.ofSeconds(20));
            fullStep(buffer, allocator, 1);
            assertArrayEquals(new int[3], buffer.agreeMask(), "rank " + self + ": everyone back");
        });
    }

    // ------------------------------------------------------------------------------------------------ gossip

    /**
     * R = 4: rank 3 stops before publishing its expert outputs; ranks 0 and 2 wait for them in combine (a 20 s timeout,
     * so none of them times out). Only rank 1's engine masks rank 3. Ranks 0 and 2 learn it from rank 1's published
     * mask while they wait and drop rank 3 at once: their outputs equal the reference without rank 3's experts, with
     * exact lost weight, report rank 3 as newly masked, and their mask explains it. Rank 3, once it runs again, learns
     * it was masked.
     */
    @Test
    void aMaskLearnedFromAPeerWhileWaitingDropsThatPeerExactly() throws Exception {
        int victim = 3;
        ParkAt park = new ParkAt(victim, Phase.COMBINE_SEND, 2);
        // Rank 1 too: its engine must not mask rank 3 before rank 1's own dispatch was checked against its mask.
        PhaseLatch waiting = new PhaseLatch(4, Phase.COMBINE_RECV, 2, 0, 1, 2);
        BufferConfig config =
                base(4).phaseListener(PhaseLatch.both(park, waiting)).build();
        AtomicReferenceArray<ElasticBuffer> buffers = new AtomicReferenceArray<>(4);
        AtomicReference<Throwable> engine = new AtomicReference<>();
        boolean[] checked = {true, true, true, false};
        runGroup(config, checked, park::release, (buffer, allocator) -> {
            int self = buffer.rank();
            buffers.set(self, buffer);
            fullStep(buffer, allocator, 0);
            if (self == victim) {
                StepChecker.stepUnchecked(buffer, allocator, inputs(config, 1)[victim]);
                return;
            }
            Thread masker = null;
            if (self == 1) {
                masker = new Thread(
                        () -> {
                            try {
                                if (!waiting.await(LATCH_BOUND) || !park.awaitParked(LATCH_BOUND)) {
                                    throw new AssertionError(
                                            "ranks 0, 1 and 2 never waited in combine on the parked rank 3");
                                }
                                buffers.get(1).updateMask(victim, true);
                            } catch (Throwable t) {
                                engine.set(t);
                            }
                        },
                        "engine-of-rank-1");
                masker.setDaemon(true);
                masker.start();
            }
            long start = System.nanoTime();
            StepChecker.StepOutcome out =
                    StepChecker.stepByOwnMask(buffer, allocator, inputs(config, 1), DispatchOptions.BF16, true);
            long took = System.nanoTime() - start;
            assertTrue(took < Duration.ofSeconds(5).toNanos(), "no timeout was paid: " + took / 1e6 + " ms");
            assertArrayEquals(new int[] {0, 0, 0, 1}, buffer.queryMask(), "rank " + self + " masks rank 3");
            if (self != 1) {
                assertArrayEquals(new int[] {victim}, out.combineNewlyMasked(), "learned in this combine");
            }
            if (masker != null) {
                masker.join(LATCH_BOUND.toMillis());
                assertFalse(masker.isAlive());
                if (engine.get() != null) {
                    throw new AssertionError(engine.get());
                }
            }
            assertArrayEquals(new int[] {0, 0, 0, 1}, buffer.agreeMask(), "the survivors agree");
        });
        assertTrue(park.hasParked());
    }

    // ------------------------------------------------------------------------------------------------ mutual masks

    /**
     * R = 2: each rank's engine masks the other at once (both timed out on each other, say). Two live ranks must not
     * both go on alone: at its next call after seeing the other alive, rank 1 (the group without the lowest rank id, on
     * a tie) gives way with RankMaskedException, rank 0 goes on; rank 1 is then readmitted.
     */
    @Test
    void twoLiveRanksThatMaskEachOtherDoNotBothGoOn() {
        BufferConfig config = base(2).experts(4).build();
        CountDownLatch bothMasked = new CountDownLatch(2);
        CountDownLatch oneNoticed = new CountDownLatch(1);
        CountDownLatch zeroCalledAgain = new CountDownLatch(1);
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            fullStep(buffer, allocator, 0);
            buffer.barrier();
            buffer.updateMask(1 - self, true);
            bothMasked.countDown();
            assertTrue(bothMasked.await(LATCH_BOUND.toNanos(), TimeUnit.NANOSECONDS));
            if (self == 1) {
                buffer.barrier(); // alone; notes that rank 0 masks it too
                oneNoticed.countDown();
                assertTrue(zeroCalledAgain.await(LATCH_BOUND.toNanos(), TimeUnit.NANOSECONDS));
                RankMaskedException e = assertThrows(
                        RankMaskedException.class, buffer::barrier, "rank 1 gives way once rank 0 is seen alive");
                assertArrayEquals(new int[] {0}, e.maskedBy());
                assertTrue(buffer.readmit(1, READMIT_TIMEOUT));
            } else {
                assertTrue(oneNoticed.await(LATCH_BOUND.toNanos(), TimeUnit.NANOSECONDS));
                buffer.barrier(); // alone, and alive
                zeroCalledAgain.countDown();
                buffer.barrier(); // still goes on
                assertEquals(1, readmitWhenAsked(buffer), "rank 1 asked to come back");
            }
            fullStep(buffer, allocator, 1);
            assertArrayEquals(new int[2], buffer.agreeMask());
        });
    }
}
