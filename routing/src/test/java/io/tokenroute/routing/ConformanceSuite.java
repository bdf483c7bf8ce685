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

import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Correctness of dispatch and combine against the plain-loop reference, for every transport: a transport's test class
 * extends this and says how to run a group.
 */
public abstract class ConformanceSuite {

    /** Runs {@code body} on every rank of a fresh group built from {@code config}, one thread or process per rank. */
    protected abstract void runGroup(BufferConfig config, GroupBody body);

    /** Work of one rank in a group. */
    @FunctionalInterface
    public interface GroupBody {
        void run(ElasticBuffer buffer, org.apache.arrow.memory.BufferAllocator allocator) throws Exception;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                // ranks, experts, topK, hidden, maxTokens
                Arguments.of(1, 4, 2, 64, 8),
                Arguments.of(2, 8, 4, 128, 16),
                Arguments.of(2, 2, 2, 256, 5),
                Arguments.of(4, 16, 8, 128, 12),
                Arguments.of(4, 4, 3, 32, 7),
                Arguments.of(8, 64, 8, 128, 9),
                Arguments.of(8, 8, 1, 16, 4));
    }

    @ParameterizedTest(name = "R={0} E={1} k={2} H={3} T={4}")
    @MethodSource("shapes")
    void dispatchAndCombineMatchReference(int ranks, int experts, int topK, int hidden, int maxTokens) {
        checkSteps(ranks, experts, topK, hidden, maxTokens, DispatchOptions.BF16, 6);
    }

    static Stream<Arguments> fp8Options() {
        return Stream.of(
                Arguments.of(DispatchOptions.FP8),
                Arguments.of(DispatchOptions.FP8_ROUND_SCALE),
                Arguments.of(DispatchOptions.FP8_UE8M0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fp8Options")
    void fp8DispatchMatchesQuantiserBitForBit(DispatchOptions options) {
        checkSteps(4, 8, 4, 256, 6, options, 3);
        checkSteps(2, 4, 2, 128, 10, options, 3);
    }

    /** Every rank sends n = 0 in some steps and n = T in others, so both edges are covered on every shape. */
    private void checkSteps(
            int ranks, int experts, int topK, int hidden, int maxTokens, DispatchOptions options, int steps) {
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .experts(experts)
                .maxTopK(topK)
                .hidden(hidden)
                .maxTokensPerRank(maxTokens)
                .timeout(Duration.ofSeconds(10))
                .build();
        long seed = 1000L * ranks + experts + hidden;
        runGroup(config, (buffer, allocator) -> {
            for (int s = 0; s < steps; s++) {
                RankInput[] inputs = new RankInput[ranks];
                for (int r = 0; r < ranks; r++) {
                    inputs[r] = switch ((s + r) % 4) {
                        case 0 -> RankInput.random(new java.util.Random(seed + 31L * s + r), 0, hidden, topK, experts);
                        case 1 ->
                            RankInput.random(
                                    new java.util.Random(seed + 31L * s + r), maxTokens, hidden, topK, experts);
                        default -> RankInput.random(seed, s, r, maxTokens, hidden, topK, experts, true);
                    };
                }
                StepChecker.StepOutcome out =
                        StepChecker.step(buffer, allocator, inputs, options, s % 2 == 0, Presence.all(ranks));
                assertEquals(0, out.dispatchMaskedCount(), "healthy step masked nobody");
                assertEquals(0, out.combineNewlyMasked().length);
            }
            assertArrayEquals(new int[ranks], buffer.queryMask(), "no false masks");
        });
    }
}
