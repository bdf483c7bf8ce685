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
package io.tokenroute.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.Cuda;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.ReadmitReport;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokenroute demo --transport cuda-local} on a GPU (skipped with the reason elsewhere): one thread per rank,
 * each driving its rank's {@code ElasticBuffer} through the same engine loop as on {@code local}; a failure in
 * dispatch, one in combine and a readmission are detected by every survivor, every damaged token is recomputed, every
 * output matches the plain-loop reference bit for bit, and the run agrees with the {@code local} transport's on
 * everything that does not depend on timing.
 */
class CudaLocalDemoGpuTest {
    /** The scenario of {@link DemoCommandTest}: 4 ranks, rank 2 fails in dispatch, rank 1 in combine, 2 returns. */
    private static final List<String> SCENARIO = List.of(
            "--ranks",
            "4",
            "--experts",
            "16",
            "--tokens",
            "16",
            "--hidden",
            "64",
            "--steps",
            "40",
            "--fail",
            "2@10:dispatch",
            "--fail",
            "1@20:combine",
            "--readmit",
            "2@30",
            "--no-progress");

    @TempDir
    Path dir;

    @BeforeAll
    static void gpu() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
    }

    private static DemoRuns.Run demo(List<String> args) {
        return DemoRuns.demo(args);
    }

    private List<String> on(String transport, String plotName, String... more) {
        List<String> args = new ArrayList<>(SCENARIO);
        args.addAll(List.of(
                "--transport", transport, "--plot", dir.resolve(plotName).toString()));
        args.addAll(List.of(more));
        return args;
    }

    @Test
    void failuresAreDetectedRecomputedAndReadmittedOnTheGpu() {
        // The default GPU timeout (1 s): no --timeout.
        DemoRuns.Run gpu = demo(on("cuda-local", "cuda.png"));
        DemoSummary s = gpu.summary();
        String printed = gpu.printed();
        System.out.println(printed);

        assertEquals(0, gpu.exit(), printed);
        assertNotNull(s);
        assertTrue(printed.contains("timeout 1 s"), "the GPU transports' default timeout: " + printed);
        assertTrue(printed.contains("4 ranks on GPU 0, one thread each"), printed);
        assertTrue(gpu.run().rankProcesses().isEmpty(), "the ranks are threads of this JVM");
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no error: " + s.errors());

        FailureReport first = s.failures().get(0);
        assertEquals(10, first.detectedStep(), printed);
        assertArrayEquals(new int[] {2}, first.maskedAfter());
        assertEquals("dispatch 3", first.detectedIn(), "all three survivors masked it in dispatch");
        FailureReport second = s.failures().get(1);
        assertEquals(20, second.detectedStep(), printed);
        assertArrayEquals(new int[] {1, 2}, second.maskedAfter());
        assertEquals("combine 2", second.detectedIn(), "both survivors masked it in combine");
        for (FailureReport f : s.failures()) {
            assertTrue(f.damagedTokens() > 0, f + " damaged some tokens");
            assertEquals(f.damagedTokens(), f.recomputedTokens(), f + ": every damaged token recomputed");
        }
        assertEquals(s.damagedTokens(), s.recomputedTokens());
        ReadmitReport readmit = s.readmits().get(0);
        assertTrue(readmit.readmitted(), printed);
        assertArrayEquals(new int[] {1}, readmit.maskedAfter());

        assertEquals(16L * (4 * 10 + 3 * 10 + 2 * 10 + 3 * 10), s.tokensDecoded());
        assertTrue(s.outputsChecked() > s.tokensDecoded(), "recompute rounds were checked too");
        assertEquals(StepKind.DETECTION, s.stepKinds()[10]);
        assertEquals(StepKind.DETECTION, s.stepKinds()[20]);
        assertEquals(2, s.count(StepKind.DETECTION));
        assertTrue(printed.matches("(?s).*\\n  result +OK\\n.*"), printed);
        assertTrue(printed.matches("(?s).*\\n  plot +\\S.*"), "the plot's path, or why it was not written: " + printed);

        // Routing, placement and damage do not depend on the transport: the local run must agree exactly.
        DemoRuns.Run local = demo(on("local", "local.png", "--timeout", "200ms"));
        assertEquals(0, local.exit(), local.printed());
        assertEquals(DemoRuns.signature(local.summary()), DemoRuns.signature(s), "cuda-local and local agree");
    }

    @Test
    void defaultShapesPassTheAgreementAndStayExact() {
        // 8 ranks, 64 experts, H 1024, 128 tokens, top-8 on 8 rank threads: the shapes whose allGather stride
        // (8 + 4 + 8 × 64 bytes) was misaligned before the demo rounded collectiveBytes up.
        DemoRuns.Run gpu = demo(List.of(
                "--transport",
                "cuda-local",
                "--steps",
                "30",
                "--fail",
                "3@12:dispatch",
                "--fail",
                "5@18:combine",
                "--readmit",
                "3@24",
                "--no-progress",
                "--plot",
                dir.resolve("default.png").toString()));
        DemoSummary s = gpu.summary();
        System.out.println(gpu.printed());
        assertEquals(0, gpu.exit(), gpu.printed());
        assertEquals(0, s.mismatches(), gpu.printed());
        assertTrue(s.errors().isEmpty(), "no error: " + s.errors());
        assertTrue(s.damagedTokens() > 0);
        assertEquals(s.damagedTokens(), s.recomputedTokens(), "every damaged token recomputed");
        assertEquals(128L * (8 * 12 + 7 * 6 + 6 * 6 + 7 * 6), s.tokensDecoded());
    }
}
