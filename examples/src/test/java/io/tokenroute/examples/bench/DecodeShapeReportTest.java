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
package io.tokenroute.examples.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.bench.DecodeTables.Latency;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The CPU report: per R, the small-batch table over T = 1, 8, 32, 128 and the skew table at T = 128. */
class DecodeShapeReportTest {
    @Test
    void printsBothTablesPerRankCountFromTheMeasuredConfigurations() {
        Map<String, Latency> measured = new HashMap<>();
        for (int t : List.of(1, 8, 32, 128)) {
            measured.put("2/" + t + "/uniform", new Latency(10 * t, 5 * t, 16 * t));
            measured.put("2/" + t + "/zero-rows", new Latency(t, t, 4 * t));
        }
        measured.put("2/128/zipf:1.0", new Latency(1280, 640, 2048));
        measured.put("2/128/half-hot", new Latency(2560, 640, 4096));
        String report =
                DecodeShapeReport.report(List.of(2), (r, t, routing) -> measured.get(r + "/" + t + "/" + routing));
        List<String> lines = report.lines().toList();
        assertEquals("local, R = 2: small batches next to the floor (same calls, every topk_idx = -1)", lines.get(0));
        assertTrue(report.contains("| 1   | 10.0 µs  "), report);
        assertEquals(
                4, report.lines().filter(l -> l.endsWith("| 4.00         |")).count(), "step / floor per T");
        assertTrue(
                report.contains("local, R = 2, T = 128: skewed routing next to uniform, 58.7 MB per dispatch and per"
                        + " combine in every row"),
                report);
        assertTrue(report.contains("| zipf:1.0 | 1280.0 µs"), report);
        assertTrue(report.contains("| half-hot | 2560.0 µs | 22.9          | 0.50"), report);
        assertTrue(!report.contains("zipf:1.2"), "a configuration not measured is left out");
    }

    @Test
    void aSkewTableWithoutItsBaselineSaysSo() {
        String report = DecodeShapeReport.report(
                List.of(8), (r, t, routing) -> routing.equals("zipf:1.2") ? new Latency(1, 1, 2) : null);
        assertTrue(report.contains("(uniform not measured)"), report);
    }
}
