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
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.bench.BenchArgs.Option;
import io.tokenroute.examples.bench.DecodeTables.Latency;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the nvshmem bench's PEs report and how the parent turns it into the slowest PE's tables. */
class NvshmemDecodeShapesTest {
    @Test
    void aReportedFigureParsesBack() {
        Latency l = new Latency(12.345, 6.5, 19.0);
        assertEquals("12.345/6.500/19.000", NvshmemDecodeShapes.format(l));
        assertEquals(l, NvshmemDecodeShapes.parse(NvshmemDecodeShapes.format(l)));
    }

    @Test
    void theSlowestPeIsTakenPerPhaseAndAMissingFigureIsNoFigure() {
        List<Map<String, String>> perRank =
                List.of(Map.of("k", "10.000/30.000/40.000"), Map.of("k", "20.000/15.000/35.000"));
        assertEquals(new Latency(20, 30, 40), NvshmemDecodeShapes.slowest(perRank, "k"));
        assertNull(NvshmemDecodeShapes.slowest(List.of(Map.of("k", "1/1/2"), Map.of()), "k"));
    }

    @Test
    void theReportHasBothTimingsOfBothTablesAndNamesAFailedGraphPart() {
        BenchArgs args = BenchArgs.parse(
                new String[] {"--ranks", "2", "--tokens", "1,8", "--skew", "zipf:1.2"},
                8,
                BenchArgs.accepting(Option.RANKS, Option.TOKENS, Option.SKEW));
        Map<String, String> pe0 = new HashMap<>();
        Map<String, String> pe1 = new HashMap<>();
        for (String how : List.of("host", "graph")) {
            pe0.put("small.1.routed." + how, "30.000/20.000/50.000");
            pe0.put("small.1.floor." + how, "20.000/5.000/25.000");
            pe0.put("small.8.routed." + how, "40.000/20.000/60.000");
            pe0.put("small.8.floor." + how, "20.000/10.000/30.000");
            pe0.put("skew.uniform." + how, "100.000/100.000/200.000");
            pe0.put("skew.zipf:1.2." + how, "125.000/100.000/225.000");
            pe1.putAll(pe0);
        }
        pe1.put("small.8.routed.host", "40.000/20.000/90.000"); // PE 1 is the slower one there
        String report = NvshmemDecodeShapes.report(List.of(pe0, pe1), args, 1);
        assertTrue(report.contains("nvshmem, R=2 PEs on 1 GPU(s)"), report);
        assertEquals(2, count(report, "CUDA-graph replay"), report);
        assertEquals(2, count(report, "host wall time"), report);
        assertTrue(report.contains("| 1   | 30.0 µs  | 20.0 µs | 50.0 µs"), report);
        assertTrue(
                report.contains("| 8   | 40.0 µs  | 20.0 µs | 90.0 µs | 20.0 µs         | 10.0 µs        | 30.0 µs"
                        + "     | 3.00"),
                report);
        // 128 tokens x 8 experts x 7168 x 2 B x 2 = 29.4 MB per PE; zipf 125 us against uniform 100 us: 0.80.
        assertTrue(report.contains("29.4 MB per PE"), report);
        assertTrue(report.contains("| zipf:1.2 | 125.0 µs | 234.9"), report);
        assertTrue(report.contains("| 0.80 "), report);
        assertTrue(!report.contains("graph part failed"), report);

        pe1.put(NvshmemDecodeShapes.GRAPH_ERROR, "java.lang.IllegalStateException: capture failed");
        for (String key : List.copyOf(pe1.keySet())) {
            if (key.endsWith(".graph")) {
                pe1.remove(key);
            }
        }
        pe0.put(NvshmemDecodeShapes.ERROR, "io.tokenroute.routing.PeerTimeoutException: peer 1");
        String failed = NvshmemDecodeShapes.report(List.of(pe0, pe1), args, 1);
        assertTrue(
                failed.contains("PE 0: the decode-shaped part failed: io.tokenroute.routing.PeerTimeoutException"),
                failed);
        assertTrue(failed.contains("(not measured)"), failed);
        assertTrue(
                failed.contains("PE 1: the graph part failed: java.lang.IllegalStateException: capture failed"),
                failed);
    }

    private static int count(String text, String part) {
        return text.split(java.util.regex.Pattern.quote(part), -1).length - 1;
    }
}
