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
package io.tokenroute.examples.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.examples.notebooks.NotebookFigures.Expected;
import io.tokenroute.examples.notebooks.NotebookFigures.Figure;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The notebooks under {@code examples/notebooks}, read the way a reader reads them: made for the JJava kernel
 * (kernelspec {@code java}), every code cell executed once from top to bottom, no error output and nothing on
 * stderr, the figures each notebook exists to show ({@link NotebookFigures}), and its plots as PNG images.
 *
 * <ul>
 *   <li>{@link #executedInJupyter()} executes the notebooks that need no GPU in real Jupyter, with the command the
 *       README gives users: {@code jupyter nbconvert --to notebook --execute}, this build's class path in
 *       {@code JJAVA_CLASSPATH}, the executed copies in {@code target/notebook-test/}. Skipped, saying why, where no
 *       {@code java} kernelspec exists.
 *   <li>{@link #committedOutputs()} reads the committed notebooks, the GPU one included: what the repository shows has
 *       to pass the same reading, and the first cell has to put the build's jars on the class path with
 *       {@code %classpath} (JJava reports {@code %jars} as deprecated).
 * </ul>
 */
class NotebookTest {
    private static final Path NOTEBOOKS = Path.of("notebooks");
    private static final Path EXECUTED = Path.of("target", "notebook-test");
    /**
     * Where the notebooks' {@code %classpath} glob looks for the packaged runtime jars. Tests run before
     * {@code package} fills it, and JJava rejects a glob whose folder is missing, so the test makes the folder and
     * hands the kernel this build's class path through {@code JJAVA_CLASSPATH} instead.
     */
    private static final Path PACKAGED_LIBS = Path.of("target", "lib");

    private static final Duration CELL_LIMIT = Duration.ofMinutes(10);
    private static final Duration NOTEBOOK_LIMIT = Duration.ofMinutes(20);

    @TestFactory
    Stream<DynamicTest> executedInJupyter() throws IOException, InterruptedException {
        List<Path> withoutGpu =
                notebooks().stream().filter(p -> !read(p).requiresCuda()).toList();
        assertFalse(withoutGpu.isEmpty(), "no notebook without a GPU under " + NOTEBOOKS.toAbsolutePath());
        Optional<String> unavailable = Jupyter.unavailableReason();
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Files.createDirectories(PACKAGED_LIBS);
        return withoutGpu.stream()
                .map(notebook -> DynamicTest.dynamicTest(notebook.getFileName().toString(), () -> {
                    assumeTrue(
                            unavailable.isEmpty(),
                            () -> notebook.getFileName() + " not executed: " + unavailable.get());
                    Path executed = Jupyter.execute(notebook, EXECUTED, classPath, CELL_LIMIT, NOTEBOOK_LIMIT);
                    readAsAReader(NotebookFile.read(executed));
                }));
    }

    @TestFactory
    Stream<DynamicTest> committedOutputs() throws IOException {
        return notebooks().stream()
                .map(notebook -> DynamicTest.dynamicTest(notebook.getFileName().toString(), () -> {
                    NotebookFile file = NotebookFile.read(notebook);
                    List<NotebookFile.CodeCell> cells = file.codeCells();
                    assertFalse(cells.isEmpty(), file.name() + " has no code cell");
                    String first = cells.get(0).source();
                    assertTrue(
                            first.startsWith("//") && first.lines().anyMatch(line -> line.startsWith("%classpath ")),
                            file.name()
                                    + ": the first code cell says in a comment how to point the notebook at the jars, "
                                    + "then puts them on the class path with %classpath:\n" + first);
                    for (NotebookFile.CodeCell cell : cells) {
                        assertFalse(
                                cell.source()
                                        .lines()
                                        .anyMatch(line -> line.strip().startsWith("%jars")),
                                file.name() + ", cell " + cell.index()
                                        + ": %jars is deprecated in JJava, use %classpath");
                    }
                    readAsAReader(file);
                }));
    }

    private static void readAsAReader(NotebookFile file) throws IOException {
        String name = file.name();
        assertEquals(Jupyter.KERNEL, file.kernelName(), name + ": the kernelspec JJava installs is `java`");
        List<Integer> counts = file.codeCells().stream()
                .map(NotebookFile.CodeCell::executionCount)
                .toList();
        assertEquals(
                IntStream.rangeClosed(1, counts.size()).boxed().toList(),
                counts,
                name + ": every code cell executed once, from top to bottom, in one kernel");
        assertEquals(List.of(), file.errors(), name + ": error outputs");
        assertEquals(List.of(), file.stderr(), name + ": text on stderr");

        Expected expected = NotebookFigures.BY_NOTEBOOK.get(name);
        assertNotNull(expected, name + " has no entry in NotebookFigures: add the lines a reader checks");
        List<String> lines = file.textLines();
        for (Figure figure : expected.figures()) {
            long found = lines.stream()
                    .filter(line -> figure.pattern().matcher(line).find())
                    .count();
            assertEquals(
                    figure.count(),
                    found,
                    () -> name + ": " + figure.what() + ": lines matching /" + figure.pattern()
                            + "/; the notebook printed:\n" + String.join("\n", lines));
        }

        List<byte[]> pngs = file.displayedPngs();
        assertEquals(expected.plots(), pngs.size(), name + ": plots shown as image/png display_data");
        for (byte[] png : pngs) {
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
            assertNotNull(image, name + ": an image/png output that is not a PNG");
            assertTrue(
                    colours(image) > 2,
                    name + ": a plot of " + image.getWidth() + "x" + image.getHeight()
                            + " with hardly anything drawn on it");
        }
    }

    /** Distinct colours in the image, up to a few: a blank or one-colour image has one. */
    private static int colours(BufferedImage image) {
        Set<Integer> seen = new HashSet<>();
        for (int y = 0; y < image.getHeight() && seen.size() < 16; y++) {
            for (int x = 0; x < image.getWidth() && seen.size() < 16; x++) {
                seen.add(image.getRGB(x, y));
            }
        }
        return seen.size();
    }

    private static List<Path> notebooks() throws IOException {
        try (Stream<Path> list = Files.list(NOTEBOOKS)) {
            List<Path> notebooks =
                    list.filter(p -> p.toString().endsWith(".ipynb")).sorted().toList();
            assertFalse(notebooks.isEmpty(), "no notebooks under " + NOTEBOOKS.toAbsolutePath());
            return notebooks;
        }
    }

    private static NotebookFile read(Path notebook) {
        try {
            return NotebookFile.read(notebook);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
