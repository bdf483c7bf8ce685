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

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * This machine's Jupyter, as far as executing the notebooks needs it: the {@code jupyter} command on the PATH with a
 * kernelspec named {@code java} (JJava's), and {@code jupyter nbconvert --to notebook --execute}, the command the
 * README gives users.
 */
final class Jupyter {
    static final String KERNEL = "java";

    private static final Duration KERNELSPEC_LIST_LIMIT = Duration.ofMinutes(1);
    private static final String HOW_TO_INSTALL = "install the JJava kernel (kernelspec `java`) to execute the "
            + "notebooks, see the README's notebook section";

    private Jupyter() {}

    /** Why no notebook can be executed here, or empty where a {@code java} kernelspec exists. */
    static Optional<String> unavailableReason() throws IOException, InterruptedException {
        Process list;
        try {
            list = new ProcessBuilder("jupyter", "kernelspec", "list", "--json")
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            return Optional.of("no `jupyter` command on the PATH (" + e.getMessage() + "); " + HOW_TO_INSTALL);
        }
        byte[] json = list.getInputStream().readAllBytes();
        if (!list.waitFor(KERNELSPEC_LIST_LIMIT.toSeconds(), TimeUnit.SECONDS) || list.exitValue() != 0) {
            list.destroy();
            return Optional.of("`jupyter kernelspec list --json` failed; " + HOW_TO_INSTALL);
        }
        JsonNode specs = new ObjectMapper().readTree(json).path("kernelspecs");
        if (!specs.has(KERNEL)) {
            List<String> names = new ArrayList<>();
            specs.fieldNames().forEachRemaining(names::add);
            return Optional.of("no Jupyter kernelspec named `" + KERNEL + "` (kernelspecs here: " + names + "); "
                    + HOW_TO_INSTALL);
        }
        return Optional.empty();
    }

    /**
     * Runs {@code jupyter nbconvert --to notebook --execute} on {@code notebook}, with {@code classPath} in
     * {@code JJAVA_CLASSPATH} for the kernel, and returns the executed copy in {@code outputDir}. nbconvert's own
     * output goes to {@code outputDir/NAME.log}.
     *
     * @param cellLimit how long one cell may run (nbconvert's {@code ExecutePreprocessor.timeout})
     * @param totalLimit how long the whole run may take before it is stopped
     * @throws AssertionError if nbconvert fails (a cell raised an error, timed out, or the kernel died) or overruns
     */
    static Path execute(Path notebook, Path outputDir, String classPath, Duration cellLimit, Duration totalLimit)
            throws IOException, InterruptedException {
        Files.createDirectories(outputDir);
        Path executed = outputDir.resolve(notebook.getFileName());
        Path log = outputDir.resolve(notebook.getFileName() + ".log");
        Files.deleteIfExists(executed);
        ProcessBuilder nbconvert = new ProcessBuilder(
                        "jupyter",
                        "nbconvert",
                        "--to",
                        "notebook",
                        "--execute",
                        "--ExecutePreprocessor.timeout=" + cellLimit.toSeconds(),
                        "--output-dir",
                        outputDir.toAbsolutePath().toString(),
                        notebook.toAbsolutePath().toString())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        nbconvert.environment().put("JJAVA_CLASSPATH", classPath);
        Process process = nbconvert.start();
        if (!process.waitFor(totalLimit.toSeconds(), TimeUnit.SECONDS)) {
            // The kernel is nbconvert's child: stop it too, or it outlives the test.
            process.descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            process.waitFor();
            fail(notebook.getFileName() + ": jupyter nbconvert still running after " + totalLimit + "; its log (" + log
                    + ") ends:\n" + tail(log));
        }
        if (process.exitValue() != 0 || !Files.exists(executed)) {
            fail(notebook.getFileName() + ": jupyter nbconvert exited with " + process.exitValue() + "; its log (" + log
                    + ") ends:\n" + tail(log));
        }
        return executed;
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }
}
