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
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.testkit.BusyProcesses;
import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Healthy steps on an overloaded host (four busy processes beside the ranks, the 2-core CI machine's overload of
 * docs/contract.md §3), at the demo's timeout: every output is checked against the reference for the rank's own mask,
 * every agreement must give every live rank the same mask, and a rank masked by mistake is told, asks to come back and
 * is readmitted, as an engine would. False masks are counted and printed, not asserted; wrong outputs, split views and
 * rank errors fail the test. {@code -Dtokenroute.overload.steps=N} runs longer.
 */
public abstract class OverloadSuite {
    private static final int RANKS = 4;
    private static final int EXPERTS = 16;
    private static final int TOP_K = 4;
    private static final int HIDDEN = 64;
    private static final int MAX_TOKENS = 8;
    private static final int BUSY = 4;
    /** The demo's default timeout ({@code -Dtokenroute.overload.timeoutMillis=N} to stress false masks). */
    private static final Duration TIMEOUT = Duration.ofMillis(Long.getLong("tokenroute.overload.timeoutMillis", 20));

    private static final Duration WARM_UP_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration READMIT_TIMEOUT = Duration.ofSeconds(3);
    private static final int RETURN_ATTEMPTS = 5;

    /** Runs {@code body} on every rank of a fresh group, each on its own thread; all ranks are checked. */
    protected abstract void runGroup(BufferConfig config, ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    @Test
    void healthyStepsOnAnOverloadedHostStayExactAndAgreed() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.CONFIRMED_AGREEMENT,
                "every agreement must give every live rank the same mask");
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "a rank masked by mistake must be told, to ask to come back");
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.READMIT_REQUESTS,
                "the survivors readmit the ranks that ask (readmitRequesting)");
        int steps = Integer.getInteger("tokenroute.overload.steps", 1500);
        BufferConfig config = BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .timeout(WARM_UP_TIMEOUT)
                .build();
        Map<Integer, String> agreements = new ConcurrentHashMap<>();
        List<String> splits = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger falseMasks = new AtomicInteger();
        AtomicInteger readmitted = new AtomicInteger();
        long start = System.nanoTime();
        try (BusyProcesses busy = new BusyProcesses(BUSY)) {
            runGroup(config, (buffer, allocator) -> {
                int self = buffer.rank();
                int s = 0;
                while (s < steps) {
                    if (s == 1) {
                        buffer.setTimeout(TIMEOUT);
                    }
                    try {
                        StepChecker.stepByOwnMask(buffer, allocator, inputs(s), DispatchOptions.BF16, s % 2 == 0);
                        s = afterStep(buffer, s, agreements, splits, readmitted);
                    } catch (RankMaskedException e) {
                        falseMasks.incrementAndGet();
                        int resume = comeBack(buffer, s);
                        if (resume < 0) {
                            return;
                        }
                        s = resume;
                    }
                }
            });
            assertEquals(BUSY, busy.count(), "the overload lasted the whole run");
        }
        System.out.printf(
                "overload soak: %d steps x %d ranks with %d busy processes in %.1f s, timeout %s: %d false"
                        + " masks, %d readmissions, %d agreements compared%n",
                steps,
                RANKS,
                BUSY,
                (System.nanoTime() - start) / 1e9,
                TIMEOUT,
                falseMasks.get(),
                readmitted.get(),
                agreements.size());
        assertTrue(splits.isEmpty(), "every agreement gave every live rank the same mask: " + splits);
    }

    /**
     * What an engine does after step {@code s}: agree on the mask (recording it, and any split view), and readmit a
     * masked rank that asks to come back (counted in {@code readmitted}). Returns the step to go on with.
     *
     * @throws RankMaskedException if the agreement says this rank is masked
     */
    static int afterStep(
            ElasticBuffer buffer,
            int s,
            Map<Integer, String> agreements,
            List<String> splits,
            AtomicInteger readmitted) {
        int self = buffer.rank();
        int[] agreed = buffer.agreeMask();
        if (agreed[self] != 0) {
            throw new RankMaskedException(self, new int[0], Phase.AGREE);
        }
        String mine = Arrays.toString(agreed);
        String first = agreements.putIfAbsent(s, mine);
        if (first != null && !first.equals(mine)) {
            splits.add("step " + s + ": rank " + self + " agreed " + mine + ", another " + first);
        }
        if (Arrays.stream(agreed).anyMatch(m -> m != 0) && buffer.readmitRequesting(READMIT_TIMEOUT) >= 0) {
            readmitted.incrementAndGet();
            return agreeOnStep(buffer, s + 1);
        }
        return s + 1;
    }

    /** A rank its peers masked asks to come back; returns the step to go on with, or -1 if nobody readmitted it. */
    static int comeBack(ElasticBuffer buffer, int step) {
        for (int attempt = 0; attempt < RETURN_ATTEMPTS; attempt++) {
            if (buffer.readmit(buffer.rank(), READMIT_TIMEOUT)) {
                return agreeOnStep(buffer, step);
            }
        }
        return -1;
    }

    /** All-gathers the participants' next step; everyone goes on with the latest. */
    private static int agreeOnStep(ElasticBuffer buffer, int mine) {
        int resume = mine;
        for (byte[] part :
                buffer.allGatherBytes(ByteBuffer.allocate(4).putInt(mine).array())) {
            if (part != null) {
                resume = Math.max(resume, ByteBuffer.wrap(part).getInt());
            }
        }
        return resume;
    }

    private static RankInput[] inputs(int s) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(31, s, r, MAX_TOKENS, HIDDEN, TOP_K, EXPERTS, true);
        }
        return in;
    }
}
