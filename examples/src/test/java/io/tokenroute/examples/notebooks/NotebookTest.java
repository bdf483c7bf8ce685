package io.tokenroute.examples.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenroute.device.Cuda;
import io.tokenroute.examples.python.Notebook;
import io.tokenroute.examples.python.NotebookRunner;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Executes every notebook under {@code examples/notebooks} headlessly, so they cannot rot: each Java code cell runs
 * through JShell with the project class path ({@link NotebookRunner}, which translates {@code %jars} /
 * {@code %classpath}), and any exception or compile error fails the notebook. Images a cell displays must be valid
 * PNGs (written to {@code target/notebooks/} for a look). The committed outputs must match what the cells produce now
 * in kind (stream, image, result), so a notebook edited without refilling its outputs fails too. Notebooks marked
 * {@code requires: cuda} are skipped, with the reason, where no CUDA device is visible; they are still compiled
 * everywhere, cell by cell ({@link NotebookRunner#compileOnly()}), so an API change breaks them here first.
 */
class NotebookTest {
    private static final Path NOTEBOOKS = Path.of("notebooks");
    private static final Path IMAGES = Path.of("target", "notebooks");

    @TestFactory
    Stream<DynamicTest> everyNotebookRuns() throws IOException {
        List<Path> files;
        try (Stream<Path> list = Files.list(NOTEBOOKS)) {
            files = list.filter(p -> p.toString().endsWith(".ipynb")).sorted().toList();
        }
        assertFalse(files.isEmpty(), "no notebooks under " + NOTEBOOKS.toAbsolutePath());
        NotebookRunner runner = new NotebookRunner(NotebookRunner.currentClassPath(), Duration.ofMinutes(5));
        return files.stream().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), () -> run(runner,
                file)));
    }

    /**
     * Notebooks that need a GPU are still compiled here, cell by cell, against the current API (nothing runs), so an
     * API change breaks them in CI and not first on the GPU machine.
     */
    @TestFactory
    Stream<DynamicTest> gpuNotebooksCompile() throws IOException {
        NotebookRunner compiler = new NotebookRunner(NotebookRunner.currentClassPath(), Duration.ofMinutes(5))
                .compileOnly();
        List<Path> gpu = new ArrayList<>();
        try (Stream<Path> list = Files.list(NOTEBOOKS)) {
            for (Path p : list.filter(f -> f.toString().endsWith(".ipynb")).sorted().toList()) {
                if (Notebook.read(p).requiresCuda()) {
                    gpu.add(p);
                }
            }
        }
        return gpu.stream().map(file -> DynamicTest.dynamicTest(file.getFileName() + " compiles", () -> {
            NotebookRunner.Run run = compiler.run(Notebook.read(file));
            NotebookRunner.CellRun failed = run.failure();
            if (failed != null) {
                fail(file.getFileName() + ", cell " + failed.index() + " does not compile:\n" + failed.error());
            }
        }));
    }

    private static void run(NotebookRunner runner, Path file) throws IOException {
        Notebook notebook = Notebook.read(file);
        assertEquals("java", notebook.kernelName(), "IJava and JJava register kernelspec 'java'");
        assertEquals("java", notebook.language());
        if (notebook.requiresCuda()) {
            assumeTrue(Cuda.isAvailable(), file.getFileName() + " needs a CUDA device: " + Cuda.unavailableReason());
        }
        NotebookRunner.Run run = runner.run(notebook);
        NotebookRunner.CellRun failed = run.failure();
        if (failed != null) {
            fail(file.getFileName() + ", cell " + failed.index() + ":\n"
                    + notebook.cells().get(failed.index()).source() + "\n---\n" + failed.error());
        }
        long codeCells = notebook.cells().stream().filter(Notebook.Cell::isCode).count();
        assertEquals(codeCells, run.cells().size(), "every code cell ran");
        Files.createDirectories(IMAGES);
        boolean committedOutputs = notebook.cells().stream().filter(Notebook.Cell::isCode)
                .anyMatch(c -> !notebook.outputs(c.index()).isEmpty());
        for (NotebookRunner.CellRun cell : run.cells()) {
            int image = 0;
            for (JsonNode output : cell.outputs()) {
                JsonNode png = output.path("data").path("image/png");
                if (!png.isMissingNode()) {
                    byte[] bytes = Base64.getMimeDecoder().decode(png.asText());
                    BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(bytes));
                    assertNotNull(decoded, "cell " + cell.index() + " displayed an image that is not a PNG");
                    assertTrue(decoded.getWidth() > 0 && decoded.getHeight() > 0);
                    String name = file.getFileName().toString().replace(".ipynb", "") + "-cell" + cell.index()
                            + "-" + image++ + ".png";
                    Files.write(IMAGES.resolve(name), bytes);
                }
            }
            if (committedOutputs) {
                assertEquals(kinds(notebook.outputs(cell.index())), kinds(cell.outputs()), file.getFileName()
                        + ", cell " + cell.index() + ": the committed outputs differ in kind from what the cell "
                        + "prints now; refill the notebook (io.tokenroute.examples.python.FillNotebook)");
            }
        }
        assertTrue(committedOutputs || notebook.requiresCuda(), file.getFileName() + " is committed without "
                + "outputs; fill them with io.tokenroute.examples.python.FillNotebook");
    }

    /** Output kinds of a cell: {@code stream:stdout}, {@code display_data:image/png+text/plain}, ... */
    private static Set<String> kinds(JsonNode outputs) {
        Set<String> kinds = new TreeSet<>();
        for (JsonNode o : outputs) {
            StringBuilder kind = new StringBuilder(o.path("output_type").asText());
            if (o.has("name")) {
                kind.append(':').append(o.path("name").asText());
            }
            Set<String> mimes = new TreeSet<>();
            o.path("data").fieldNames().forEachRemaining(mimes::add);
            if (!mimes.isEmpty()) {
                kind.append(':').append(String.join("+", mimes));
            }
            kinds.add(kind.toString());
        }
        return kinds;
    }
}
