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

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The decode-shaped tables every bench prints, as Markdown (pasted into BENCHMARKS.md as they are): small batches next
 * to their floor, and skewed routing next to the uniform case with the same bytes.
 */
final class DecodeTables {
    private DecodeTables() {}

    /**
     * One measured configuration: median (or mean, as the bench says) microseconds of dispatch, combine and the whole
     * step.
     */
    record Latency(double dispatchMicros, double combineMicros, double stepMicros) {}

    /** One batch size: the routed step and its floor (the same calls with every {@code topk_idx} = -1). */
    record SmallBatchRow(int tokens, Latency routed, Latency floor) {
        /** How many times the floor the routed step takes. */
        double stepOverFloor() {
            return routed.stepMicros() / floor.stepMicros();
        }
    }

    /** One routing distribution's latencies; every row of a table moves the same bytes. */
    record SkewRow(String routing, Latency latency) {}

    /**
     * Columns T, dispatch, combine, step, the floor's dispatch, combine and step, and step / floor; one row per batch
     * size in the order given.
     */
    static String smallBatch(List<SmallBatchRow> rows) {
        List<String[]> out = new ArrayList<>();
        out.add(new String[] {
            "T", "dispatch", "combine", "step", "floor: dispatch", "floor: combine", "floor: step", "step / floor"
        });
        for (SmallBatchRow r : rows) {
            out.add(new String[] {
                Integer.toString(r.tokens()),
                micros(r.routed().dispatchMicros()),
                micros(r.routed().combineMicros()),
                micros(r.routed().stepMicros()),
                micros(r.floor().dispatchMicros()),
                micros(r.floor().combineMicros()),
                micros(r.floor().stepMicros()),
                ratio(r.stepOverFloor())
            });
        }
        return markdown(out);
    }

    /**
     * Columns routing, dispatch, dispatch GB/s, vs uniform, combine, combine GB/s, vs uniform, step, vs uniform: the
     * bandwidth of each phase ({@code bytesPerPhase} over its time) and its ratio to the {@code uniform} row's, which
     * must be among the rows. Equal bytes make the bandwidth ratio the inverse ratio of the times.
     *
     * @param bytesPerPhase bytes one dispatch moves, the same as one combine moves, for every row
     * @throws IllegalArgumentException without a {@code uniform} row
     */
    static String skew(List<SkewRow> rows, long bytesPerPhase) {
        Latency uniform = rows.stream()
                .filter(r -> r.routing().equals(BenchSkew.UNIFORM))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("the skew table needs a uniform row to compare with"))
                .latency();
        List<String[]> out = new ArrayList<>();
        out.add(new String[] {
            "routing",
            "dispatch",
            "dispatch GB/s",
            "vs uniform",
            "combine",
            "combine GB/s",
            "vs uniform",
            "step",
            "vs uniform"
        });
        for (SkewRow r : rows) {
            Latency l = r.latency();
            out.add(new String[] {
                r.routing(),
                micros(l.dispatchMicros()),
                gbPerSecond(bytesPerPhase, l.dispatchMicros()),
                ratio(uniform.dispatchMicros() / l.dispatchMicros()),
                micros(l.combineMicros()),
                gbPerSecond(bytesPerPhase, l.combineMicros()),
                ratio(uniform.combineMicros() / l.combineMicros()),
                micros(l.stepMicros()),
                ratio(uniform.stepMicros() / l.stepMicros())
            });
        }
        return markdown(out);
    }

    static String micros(double us) {
        return String.format(Locale.ROOT, "%.1f µs", us);
    }

    static String ratio(double r) {
        return String.format(Locale.ROOT, "%.2f", r);
    }

    static String gbPerSecond(long bytes, double micros) {
        return String.format(Locale.ROOT, "%.1f", bytes / (micros * 1e-6) / 1e9);
    }

    /** Header, separator, rows; cells padded to their column's width so the plain text reads as a table too. */
    static String markdown(List<String[]> rows) {
        int columns = rows.get(0).length;
        int[] width = new int[columns];
        Arrays.fill(width, 3);
        for (String[] row : rows) {
            if (row.length != columns) {
                throw new IllegalArgumentException("row of " + row.length + " cells in a table of " + columns);
            }
            for (int c = 0; c < columns; c++) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < rows.size(); i++) {
            line(sb, rows.get(i), width);
            if (i == 0) {
                String[] rule = new String[columns];
                for (int c = 0; c < columns; c++) {
                    rule[c] = "-".repeat(width[c]);
                }
                line(sb, rule, width);
            }
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, String[] cells, int[] width) {
        sb.append('|');
        for (int c = 0; c < cells.length; c++) {
            sb.append(' ')
                    .append(cells[c])
                    .append(" ".repeat(Math.max(0, width[c] - cells[c].length())))
                    .append(" |");
        }
        sb.append('\n');
    }
}
