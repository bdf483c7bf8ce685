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

import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The demo's PNG: step latency per step (left axis) with detection steps marked, and live ranks (right axis). */
final class DemoPlot {
    private DemoPlot() {}

    /**
     * Renders the plot of {@code summary} to {@code path} (parent folders created).
     *
     * @return the absolute path written
     */
    static Path write(DemoSummary summary, Path path) throws IOException {
        // Rendering needs no display; without this AWT looks for one on machines without X.
        System.setProperty("java.awt.headless", "true");
        double[] latency = summary.stepMillis();
        int[] steps = IntStream.range(0, latency.length)
                .filter(s -> !Double.isNaN(latency[s]))
                .toArray();
        String mode = summary.config().mode().label();
        XYChart chart = new XYChartBuilder()
                .width(1100)
                .height(520)
                .title("TokenRoute " + mode + " demo: " + summary.config().ranks() + " ranks, timeout "
                        + summary.config().timeout().toMillis() + " ms")
                .xAxisTitle(mode + " step")
                .yAxisTitle("step latency (ms)")
                .build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
        chart.getStyler().setYAxisMin(0, 0.0);
        chart.getStyler().setYAxisMin(1, 0.0);
        chart.getStyler().setYAxisMax(1, (double) summary.config().ranks());
        chart.getStyler().putYAxisGroupDecimalPatternMap(1, "#");
        chart.setYAxisGroupTitle(1, "live ranks");

        // XChart refuses a series without points: a run that ended before its first step completed has no latency.
        if (steps.length > 0) {
            XYSeries lat = chart.addSeries("step latency (ms)", xs(steps), ys(steps, latency));
            lat.setMarker(SeriesMarkers.NONE);
        }
        int[] detections = IntStream.of(steps)
                .filter(s -> summary.stepKinds()[s] == StepKind.DETECTION)
                .toArray();
        if (detections.length > 0) {
            XYSeries det = chart.addSeries("failure detected", xs(detections), ys(detections, latency));
            det.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            det.setMarker(SeriesMarkers.DIAMOND);
        }
        double[] live = IntStream.range(0, latency.length)
                .mapToDouble(s -> summary.liveRanks()[s])
                .toArray();
        XYSeries ranks =
                chart.addSeries("live ranks", xs(IntStream.range(0, live.length).toArray()), live);
        ranks.setYAxisGroup(1);
        ranks.setMarker(SeriesMarkers.NONE);

        Path target = path.toAbsolutePath();
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        try (OutputStream out = Files.newOutputStream(target)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        }
        return target;
    }

    private static double[] xs(int[] steps) {
        return IntStream.of(steps).asDoubleStream().toArray();
    }

    private static double[] ys(int[] steps, double[] values) {
        return IntStream.of(steps).mapToDouble(s -> values[s]).toArray();
    }
}
