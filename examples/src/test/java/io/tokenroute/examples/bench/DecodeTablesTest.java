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
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenroute.examples.bench.DecodeTables.Latency;
import io.tokenroute.examples.bench.DecodeTables.SkewRow;
import io.tokenroute.examples.bench.DecodeTables.SmallBatchRow;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The decode-shaped tables: their cells, the ratios they compute, and Markdown that renders as a table. */
class DecodeTablesTest {
    @Test
    void smallBatchesPrintEachSizeNextToItsFloorAndTheRatio() {
        String table = DecodeTables.smallBatch(List.of(
                new SmallBatchRow(1, new Latency(12.25, 10.0, 22.5), new Latency(10.0, 5.0, 15.0)),
                new SmallBatchRow(128, new Latency(72.5, 59.0, 131.6), new Latency(20.0, 12.9, 32.9))));
        String expected = """
                | T   | dispatch | combine | step     | floor: dispatch | floor: combine | floor: step | step / floor |
                | --- | -------- | ------- | -------- | --------------- | -------------- | ----------- | ------------ |
                | 1   | 12.3 µs  | 10.0 µs | 22.5 µs  | 10.0 µs         | 5.0 µs         | 15.0 µs     | 1.50         |
                | 128 | 72.5 µs  | 59.0 µs | 131.6 µs | 20.0 µs         | 12.9 µs        | 32.9 µs     | 4.00         |
                """;
        assertEquals(expected, table);
    }

    @Test
    void skewRowsGetTheirBandwidthAndItsRatioToUniform() {
        long bytes = 200_000_000L; // 200 MB in 100 µs is 2000 GB/s
        String table = DecodeTables.skew(
                List.of(
                        new SkewRow("uniform", new Latency(100, 50, 150)),
                        new SkewRow("zipf:1.2", new Latency(125, 40, 165)),
                        new SkewRow("half-hot", new Latency(200, 100, 300))),
                bytes);
        List<String> lines = table.lines().toList();
        assertEquals(5, lines.size(), table);
        assertEquals(
                List.of("uniform", "100.0 µs", "2000.0", "1.00", "50.0 µs", "4000.0", "1.00", "150.0 µs", "1.00"),
                cells(lines.get(2)));
        assertEquals(
                List.of("zipf:1.2", "125.0 µs", "1600.0", "0.80", "40.0 µs", "5000.0", "1.25", "165.0 µs", "0.91"),
                cells(lines.get(3)));
        assertEquals(
                List.of("half-hot", "200.0 µs", "1000.0", "0.50", "100.0 µs", "2000.0", "0.50", "300.0 µs", "0.50"),
                cells(lines.get(4)));
        assertEquals(
                List.of(
                        "routing",
                        "dispatch",
                        "dispatch GB/s",
                        "vs uniform",
                        "combine",
                        "combine GB/s",
                        "vs uniform",
                        "step",
                        "vs uniform"),
                cells(lines.get(0)));
        assertEquals(
                9, cells(lines.get(1)).stream().filter(c -> c.matches("-{3,}")).count(), "a rule per column");
    }

    @Test
    void theSkewTableNeedsItsBaseline() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> DecodeTables.skew(List.of(new SkewRow("zipf:1.0", new Latency(1, 1, 2))), 1000));
        assertEquals("the skew table needs a uniform row to compare with", e.getMessage());
    }

    @Test
    void rowsOfTheWrongWidthAreRefused() {
        assertThrows(
                IllegalArgumentException.class,
                () -> DecodeTables.markdown(List.of(new String[] {"a", "b"}, new String[] {"1"})));
    }

    private static List<String> cells(String line) {
        String inner = line.substring(line.indexOf('|') + 1, line.lastIndexOf('|'));
        return java.util.Arrays.stream(inner.split("\\|")).map(String::trim).toList();
    }
}
