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

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.demo.DemoConfig;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.LatencyStats;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's plot is written even for a run that ended before any step completed (no latency to draw). */
class DemoPlotTest {
    @TempDir
    Path dir;

    @Test
    void runWithoutACompletedStepStillGivesAPlot() throws Exception {
        DemoConfig config = DemoConfig.builder().steps(5).build();
        double[] latency = new double[config.steps()];
        Arrays.fill(latency, Double.NaN);
        StepKind[] kinds = new StepKind[config.steps()];
        Arrays.fill(kinds, StepKind.WARMUP);
        LatencyStats none = LatencyStats.of(new double[0]);
        DemoSummary summary = new DemoSummary(
                config,
                1_000_000L,
                0,
                0,
                0,
                0,
                0,
                0,
                List.of(),
                List.of(),
                List.of(),
                List.of(),
                List.of(),
                List.of("driver: failed before the first step"),
                latency,
                new int[config.steps()],
                kinds,
                none,
                none,
                none,
                none);

        Path written = DemoPlot.write(summary, dir.resolve("empty.png"));

        assertTrue(Files.size(written) > 0, "a PNG was written");
        assertNotNull(ImageIO.read(written.toFile()), "the plot is a readable image");
    }
}
