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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The failure/readmit syntax and the schedule checks of {@link DemoConfig}. */
class DemoConfigTest {

    @Test
    void parsesSpecs() {
        assertEquals(new FailureSpec(3, 60, FailurePhase.DISPATCH), FailureSpec.parse("3@60:dispatch"));
        assertEquals(new FailureSpec(5, 120, FailurePhase.COMBINE), FailureSpec.parse(" 5@120:COMBINE "));
        assertEquals(new ReadmitSpec(3, 160), ReadmitSpec.parse("3@160"));
        assertEquals("3@60:dispatch", FailureSpec.parse("3@60:dispatch").toString());
        assertThrows(IllegalArgumentException.class, () -> FailureSpec.parse("3@60:"));
        assertThrows(IllegalArgumentException.class, () -> FailureSpec.parse("99999999999@1:dispatch"));
        assertThrows(IllegalArgumentException.class, () -> ReadmitSpec.parse("-1@3"));
    }

    @Test
    void defaultsMatchTheCli() {
        DemoConfig c = DemoConfig.builder().build();
        assertEquals(8, c.ranks());
        assertEquals(10, c.slotsPerRank(), "64 / 8 + 2 redundant");
        assertEquals(80, c.physicalExperts());
    }

    @Test
    void scheduleIsReplayed() {
        DemoConfig c = DemoConfig.builder()
                .ranks(4)
                .experts(16)
                .steps(40)
                .failures(List.of(
                        FailureSpec.parse("2@10:dispatch"),
                        FailureSpec.parse("1@20:combine"),
                        FailureSpec.parse("2@35:combine")))
                .readmits(List.of(ReadmitSpec.parse("2@30")))
                .build();
        assertArrayEquals(new boolean[] {false, true, true, false}, c.stoppedAtEnd());
        assertEquals(List.of(ReadmitSpec.parse("2@30")), c.readmitsAt(30));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> DemoConfig.builder()
                        .ranks(4)
                        .experts(16)
                        .readmits(List.of(ReadmitSpec.parse("2@30")))
                        .build());
        assertTrue(e.getMessage().contains("is not stopped"), e.getMessage());
    }

    @Test
    void prefillPhasesParseAndBelongToThePrefillMode() {
        assertEquals(new FailureSpec(1, 12, FailurePhase.PREFILL_NOTIFY), FailureSpec.parse("1@12:prefill-notify"));
        assertEquals(new FailureSpec(2, 20, FailurePhase.PREFILL_DISPATCH), FailureSpec.parse("2@20:PREFILL_DISPATCH"));
        assertEquals(
                "3@28:prefill-combine",
                FailureSpec.parse("3@28:Prefill-Combine").toString());
        // In the prefill mode, dispatch and combine name the prefill stream's phases.
        DemoConfig prefill = DemoConfig.builder(DemoMode.PREFILL)
                .failures(List.of(
                        FailureSpec.parse("1@12:dispatch"),
                        FailureSpec.parse("2@20:combine"),
                        FailureSpec.parse("3@28:prefill-notify")))
                .build();
        assertEquals(
                List.of(
                        new FailureSpec(1, 12, FailurePhase.PREFILL_DISPATCH),
                        new FailureSpec(2, 20, FailurePhase.PREFILL_COMBINE),
                        new FailureSpec(3, 28, FailurePhase.PREFILL_NOTIFY)),
                prefill.failures());
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> DemoConfig.builder()
                        .failures(List.of(FailureSpec.parse("3@60:prefill-combine")))
                        .build());
        assertTrue(
                e.getMessage().contains("--fail 3@60:prefill-combine: phase prefill-combine is a prefill phase"),
                e.getMessage());
        assertEquals(DemoMode.PREFILL, DemoMode.parse(" Prefill "));
        assertThrows(IllegalArgumentException.class, () -> DemoMode.parse("train"));
    }

    @Test
    void prefillDefaultsStreamThroughQueuesSmallerThanAStep() {
        DemoConfig c = DemoConfig.builder(DemoMode.PREFILL).build();
        assertEquals(DemoMode.PREFILL, c.mode());
        assertEquals(4, c.ranks());
        assertEquals(512, c.tokens());
        assertTrue(c.prefillChunks() * c.prefillChunkRows() < c.tokens(), "a step refills every queue");
        List<FailureSpec> failures =
                DemoConfig.defaultFailures(DemoMode.PREFILL, c.ranks(), c.steps(), c.warmupSteps());
        assertEquals(
                List.of(FailurePhase.PREFILL_NOTIFY, FailurePhase.PREFILL_DISPATCH, FailurePhase.PREFILL_COMBINE),
                failures.stream().map(FailureSpec::phase).toList());
        List<ReadmitSpec> readmits =
                DemoConfig.defaultReadmits(DemoMode.PREFILL, c.ranks(), c.steps(), c.warmupSteps());
        assertEquals(
                List.of(ReadmitSpec.parse("1@16"), ReadmitSpec.parse("2@24"), ReadmitSpec.parse("3@32")), readmits);
        DemoConfig scheduled = DemoConfig.builder(DemoMode.PREFILL)
                .failures(failures)
                .readmits(readmits)
                .build();
        assertArrayEquals(new boolean[4], scheduled.stoppedAtEnd(), "every failed rank is back at the end");
        assertFalse(DemoMode.PREFILL.runsOn(DemoTransport.CUDA_LOCAL));
        assertTrue(DemoMode.PREFILL.runsOn(DemoTransport.SHM));
    }

    @Test
    void rankProcessesKeepMoreThanHalfOfTheRanksByDefault() {
        assertEquals(
                List.of(FailureSpec.parse("2@20:prefill-dispatch")),
                DemoConfig.defaultFailuresWithoutReturn(DemoMode.PREFILL, 4, 40, 5));
        List<FailureSpec> decode = DemoConfig.defaultFailures(DemoMode.DECODE, 8, 200, 5);
        assertEquals(2, decode.size());
        assertEquals(decode, DemoConfig.defaultFailuresWithoutReturn(DemoMode.DECODE, 8, 200, 5));
        for (int ranks = 2; ranks <= 16; ranks++) {
            for (DemoMode mode : DemoMode.values()) {
                int failed = DemoConfig.defaultFailuresWithoutReturn(mode, ranks, 200, 5)
                        .size();
                assertTrue(ranks - failed > ranks / 2 || failed <= 1, mode + " R=" + ranks + ": " + failed + " fail");
            }
        }
    }

    @Test
    void rankProcessesGetTheModeAndTheQueues() {
        DemoConfig c = DemoConfig.builder(DemoMode.PREFILL)
                .tokens(300)
                .prefillChunkRows(8)
                .prefillChunks(3)
                .skew(RoutingSkew.parse("zipf:1.2"))
                .failures(List.of(FailureSpec.parse("2@10:prefill-combine")))
                .build();
        DemoConfig back = RankProcesses.parse(RankProcesses.args(c).toArray(String[]::new));
        assertEquals(c, back);
    }
}
