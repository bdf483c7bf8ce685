package io.tokenroute.examples.python;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Executes notebooks through {@link NotebookRunner} and writes their outputs (text and {@code image/png}) into the
 * {@code .ipynb}, the way the committed notebooks under {@code examples/notebooks} get their outputs:
 *
 * <pre>
 * java --add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED --add-modules=jdk.incubator.vector \
 *      -cp "examples/target/tokenroute-examples-0.1.0-SNAPSHOT.jar:examples/target/lib/*" \
 *      io.tokenroute.examples.python.FillNotebook [--out DIR] examples/notebooks/*.ipynb
 * </pre>
 *
 * <p>Notebooks are rewritten in place, or into {@code --out DIR} under their own file names. A notebook that fails is
 * not written (its error is printed) and the exit code is 1; a notebook marked {@code requires: cuda} is skipped
 * (exit code unaffected) when no CUDA device is visible. Needs a JDK (JShell compiles the cells).
 */
public final class FillNotebook {
    private FillNotebook() {
    }

    public static void main(String[] args) throws IOException {
        Path out = null;
        List<Path> notebooks = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--out") && i + 1 < args.length) {
                out = Path.of(args[++i]);
            } else if (args[i].startsWith("-")) {
                System.err.println("usage: FillNotebook [--out DIR] NOTEBOOK.ipynb...");
                System.exit(2);
            } else {
                notebooks.add(Path.of(args[i]));
            }
        }
        if (notebooks.isEmpty()) {
            System.err.println("usage: FillNotebook [--out DIR] NOTEBOOK.ipynb...");
            System.exit(2);
        }
        NotebookRunner runner = new NotebookRunner(NotebookRunner.currentClassPath(), Duration.ofMinutes(10));
        int failures = 0;
        for (Path path : notebooks) {
            Notebook notebook = Notebook.read(path);
            if (notebook.requiresCuda() && !io.tokenroute.device.Cuda.isAvailable()) {
                System.out.println("skipped " + path + ": needs CUDA (" + io.tokenroute.device.Cuda.unavailableReason()
                        + ")");
                continue;
            }
            NotebookRunner.Run run = runner.run(notebook);
            if (!run.ok()) {
                failures++;
                NotebookRunner.CellRun bad = run.failure();
                System.err.println("FAILED " + path + ", cell " + bad.index() + ":\n" + bad.error());
                continue;
            }
            run.fillOutputs();
            Path target = out == null ? path : out.resolve(path.getFileName());
            if (target.getParent() != null) {
                Files.createDirectories(target.getParent());
            }
            notebook.write(target);
            long images = run.cells().stream().flatMap(c -> java.util.stream.StreamSupport.stream(
                    c.outputs().spliterator(), false)).filter(o -> o.path("data").has("image/png")).count();
            System.out.printf("filled %s: %d code cells, %d images, %.1f s%n", target, run.cells().size(), images,
                    run.cells().stream().mapToLong(NotebookRunner.CellRun::nanos).sum() / 1e9);
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
