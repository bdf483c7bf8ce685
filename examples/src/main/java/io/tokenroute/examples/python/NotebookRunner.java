package io.tokenroute.examples.python;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.ExpressionSnippet;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;
import jdk.jshell.VarSnippet;
import jdk.jshell.execution.DirectExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;

/**
 * Runs the Java code cells of a notebook written for the IJava / JJava kernels through JShell, in this JVM, and
 * collects their outputs as Jupyter would: stdout/stderr as {@code stream} outputs, {@code display(...)} calls as
 * {@code display_data} (images as {@code image/png}), the value of a cell's last expression as
 * {@code execute_result}, and the first exception or compile error as an {@code error} output, after which the run
 * stops (as {@code jupyter nbconvert --execute} does).
 *
 * <p>What a cell sees is what IJava gives it: IJava's default imports ({@code java.util.*}, {@code java.io.*},
 * {@code java.math.*}, {@code java.net.*}, {@code java.util.concurrent.*}, {@code java.util.prefs.*},
 * {@code java.util.regex.*}), {@code display(Object)} and {@code printf(...)}. Line magics: {@code %jars} and
 * {@code %classpath} with simple globs, relative to the notebook's folder, add to the class path; any other magic is
 * an error (notebooks must run offline). The runner's own class path (the project's) is on the notebook's class path
 * from the start, so a {@code %jars ../target/...} whose files are not built yet (Maven's {@code test} phase runs
 * before {@code package}) is satisfied by the same classes and only noted.
 *
 * <p>Snippets run in this JVM ({@code local} execution) with the JVM's own options: start it with
 * {@code --add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED} for Arrow's C Data export. One
 * notebook at a time per JVM ({@link System#out} is redirected while a cell runs).
 */
public final class NotebookRunner {
    private static final Pattern MAGIC = Pattern.compile("^\\s*%(\\w+)(.*)$");
    private static final Pattern CELL_MAGIC = Pattern.compile("^\\s*%%(\\w+)");
    private static final Pattern ARG = Pattern.compile("\"([^\"]*)\"|'([^']*)'|(\\S+)");
    private static final List<String> PRELUDE = List.of(
            "import java.util.*;", "import java.io.*;", "import java.math.*;", "import java.net.*;",
            "import java.util.concurrent.*;", "import java.util.prefs.*;", "import java.util.regex.*;",
            "String display(Object o) { return io.tokenroute.examples.python.NotebookDisplay.display(o); }",
            "void printf(String format, Object... args) { System.out.printf(format, args); }");

    private final List<Path> classPath;
    private final Duration cellTimeout;
    private final boolean compileOnly;

    /**
     * @param classPath the project class path, put on every notebook's class path first
     * @param cellTimeout the longest one cell may run before it is stopped (an error); what cells print is also
     *     echoed to this JVM's stdout and stderr
     */
    public NotebookRunner(List<Path> classPath, Duration cellTimeout) {
        this(classPath, cellTimeout, false);
    }

    private NotebookRunner(List<Path> classPath, Duration cellTimeout, boolean compileOnly) {
        this.classPath = List.copyOf(classPath);
        this.cellTimeout = cellTimeout;
        this.compileOnly = compileOnly;
    }

    /**
     * A runner that compiles and loads every snippet but runs none (variables keep their default values): checks that a
     * notebook which needs hardware absent here, such as a GPU, still compiles against the current API.
     */
    public NotebookRunner compileOnly() {
        return new NotebookRunner(classPath, cellTimeout, true);
    }

    /** This JVM's class path: Surefire's test class path when running under it, else {@code java.class.path}. */
    public static List<Path> currentClassPath() {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path", ""));
        return java.util.Arrays.stream(cp.split(File.pathSeparator)).filter(s -> !s.isBlank()).map(Path::of)
                .filter(Files::exists).toList();
    }

    /** One executed code cell. */
    public record CellRun(int index, int executionCount, ArrayNode outputs, String error, List<String> notes,
            long nanos) {
        /** Whether the cell ended without an exception or compile error. */
        public boolean ok() {
            return error == null;
        }
    }

    /** A notebook's run: the executed cells in order (it stops at the first failing one). */
    public record Run(Notebook notebook, List<CellRun> cells) {
        /** The first failing cell, or null. */
        public CellRun failure() {
            return cells.stream().filter(c -> !c.ok()).findFirst().orElse(null);
        }

        /** Whether every code cell ran without error. */
        public boolean ok() {
            return failure() == null;
        }

        /** Copies the outputs into the notebook (cells after a failure are cleared). */
        public void fillOutputs() {
            notebook.clearOutputs();
            for (CellRun c : cells) {
                notebook.setOutputs(c.index(), c.executionCount(), c.outputs());
            }
        }
    }

    /** Runs every code cell of {@code notebook} in a fresh JShell, stopping at the first error. */
    public Run run(Notebook notebook) {
        System.setProperty("java.awt.headless", "true");
        List<CellRun> runs = new ArrayList<>();
        PrintStream stdout = System.out;
        PrintStream stderr = System.err;
        Outputs outputs = new Outputs();
        ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "notebook-watchdog");
            t.setDaemon(true);
            return t;
        });
        JShell.Builder builder = compileOnly
                ? JShell.builder().executionEngine(new CompileOnlyExecution(), Map.of())
                : JShell.builder().executionEngine("local");
        try (JShell shell = builder.build()) {
            classPath.forEach(p -> shell.addToClasspath(p.toString()));
            for (String line : PRELUDE) {
                String problem = evalSingle(shell, line);
                if (problem != null) {
                    throw new IllegalStateException("the runner's prelude failed: " + line + ": " + problem);
                }
            }
            System.setOut(new PrintStream(outputs.stream("stdout", stdout), true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(outputs.stream("stderr", stderr), true, StandardCharsets.UTF_8));
            NotebookDisplay.attach(outputs::display);
            int count = 0;
            for (Notebook.Cell cell : notebook.cells()) {
                if (!cell.isCode()) {
                    continue;
                }
                count++;
                long start = System.nanoTime();
                List<String> notes = new ArrayList<>();
                outputs.reset();
                String error;
                ScheduledFuture<?> stop = watchdog.schedule(shell::stop, cellTimeout.toMillis(), TimeUnit.MILLISECONDS);
                try {
                    String code = magics(cell.source(), notebook.directory(), shell, notes);
                    error = evalCell(shell, code, outputs);
                } catch (IllegalArgumentException e) {
                    error = e.getMessage();
                    outputs.error("MagicError", e.getMessage(), List.of(e.getMessage()));
                } finally {
                    stop.cancel(false);
                }
                if (error != null && stop.isDone() && !stop.isCancelled()) {
                    error = "stopped after " + cellTimeout + ": " + error;
                }
                runs.add(new CellRun(cell.index(), count, outputs.take(), error, notes, System.nanoTime() - start));
                if (error != null) {
                    break;
                }
            }
        } finally {
            NotebookDisplay.attach(null);
            System.setOut(stdout);
            System.setErr(stderr);
            watchdog.shutdownNow();
        }
        return new Run(notebook, runs);
    }

    // ------------------------------------------------------------------------------------------------ magics

    /** Applies the cell's line magics and returns its code with the magic lines blanked (line numbers kept). */
    private String magics(String source, Path base, JShell shell, List<String> notes) {
        String[] lines = source.split("\n", -1);
        if (lines.length > 0 && CELL_MAGIC.matcher(lines[0]).find()) {
            throw new IllegalArgumentException("cell magic " + lines[0].trim() + " is not supported by the runner");
        }
        for (int i = 0; i < lines.length; i++) {
            Matcher m = MAGIC.matcher(lines[i]);
            if (!m.matches()) {
                continue;
            }
            String name = m.group(1);
            if (!name.equals("jars") && !name.equals("classpath")) {
                throw new IllegalArgumentException("magic %" + name + " is not supported by the runner: notebooks run "
                        + "offline, use %jars or %classpath with files of the build");
            }
            Matcher args = ARG.matcher(m.group(2));
            while (args.find()) {
                String arg = args.group(1) != null ? args.group(1) : args.group(2) != null ? args.group(2)
                        : args.group(3);
                for (Path p : expand(base, arg, notes)) {
                    if (Files.isDirectory(p) && name.equals("jars")) {
                        try (DirectoryStream<Path> jars = Files.newDirectoryStream(p, "*.jar")) {
                            jars.forEach(j -> shell.addToClasspath(j.toString()));
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    } else {
                        shell.addToClasspath(p.toString());
                    }
                }
            }
            lines[i] = "";
        }
        return String.join("\n", lines);
    }

    /** Expands a simple glob (wildcards in the last path element only), relative to {@code base}. */
    private static List<Path> expand(Path base, String pattern, List<String> notes) {
        Path full = base.resolve(pattern).normalize();
        Path dir = full.getParent();
        String name = full.getFileName().toString();
        List<Path> found = new ArrayList<>();
        if (!name.matches(".*[*?\\[{].*")) {
            if (Files.exists(full)) {
                found.add(full);
            }
        } else if (dir != null && Files.isDirectory(dir)) {
            try (DirectoryStream<Path> matches = Files.newDirectoryStream(dir, name)) {
                matches.forEach(found::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        if (found.isEmpty()) {
            boolean buildOutput = false;
            for (Path part : full) {
                buildOutput |= part.toString().equals("target");
            }
            if (!buildOutput) {
                throw new IllegalArgumentException("nothing matches " + pattern + " (" + full + ")");
            }
            notes.add(pattern + " is not built yet: the runner's class path provides it");
        }
        found.sort(null);
        return found;
    }

    // ------------------------------------------------------------------------------------------------ evaluation

    /**
     * Evaluates a cell snippet by snippet, as IJava does; returns null or the error, which is also added to
     * {@code outputs}. The last snippet's value, if it is an expression, becomes the cell's result.
     */
    private static String evalCell(JShell shell, String code, Outputs outputs) {
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
        String lastValue = null;
        while (info.completeness().isComplete()) {
            List<SnippetEvent> events = shell.eval(info.source());
            String problem = problem(shell, events, outputs);
            if (problem != null) {
                return problem;
            }
            lastValue = valueName(events);
            info = analysis.analyzeCompletion(info.remaining());
        }
        if (info.completeness() != SourceCodeAnalysis.Completeness.EMPTY) {
            String message = "incomplete source: " + info.remaining().trim();
            outputs.error("IncompleteSourceException", message, List.of(message));
            return message;
        }
        if (lastValue != null) {
            List<SnippetEvent> events = shell.eval("io.tokenroute.examples.python.NotebookDisplay.result(" + lastValue
                    + ");");
            return problem(shell, events, outputs);
        }
        return null;
    }

    private static String evalSingle(JShell shell, String code) {
        return problem(shell, shell.eval(code), null);
    }

    /** The name holding the value of an expression snippet (a temp var or a variable), or null. */
    private static String valueName(List<SnippetEvent> events) {
        for (SnippetEvent e : events) {
            if (e.causeSnippet() != null) {
                continue;
            }
            Snippet s = e.snippet();
            switch (s.subKind()) {
                case TEMP_VAR_EXPRESSION_SUBKIND:
                    return ((VarSnippet) s).name();
                case VAR_VALUE_SUBKIND:
                    return ((ExpressionSnippet) s).name();
                default:
                    return null;
            }
        }
        return null;
    }

    /** The first exception or compile error of the fresh snippets in {@code events}, or null. */
    private static String problem(JShell shell, List<SnippetEvent> events, Outputs outputs) {
        for (SnippetEvent e : events) {
            if (e.causeSnippet() != null) {
                continue;
            }
            JShellException thrown = e.exception();
            if (thrown != null) {
                String name = thrown instanceof EvalException eval ? eval.getExceptionClassName()
                        : thrown instanceof UnresolvedReferenceException ? "UnresolvedReferenceException"
                        : thrown.getClass().getName();
                List<String> trace = new ArrayList<>();
                trace.add(name + ": " + thrown.getMessage());
                for (StackTraceElement el : thrown.getStackTrace()) {
                    trace.add("\tat " + el);
                }
                for (Throwable cause = thrown.getCause(); cause != null; cause = cause.getCause()) {
                    String causeName = cause instanceof EvalException eval ? eval.getExceptionClassName()
                            : cause.getClass().getName();
                    trace.add("Caused by: " + causeName + ": " + cause.getMessage());
                }
                if (outputs != null) {
                    outputs.error(name, String.valueOf(thrown.getMessage()), trace);
                }
                return String.join("\n", trace);
            }
            Snippet.Status status = e.status();
            if (status != Snippet.Status.VALID && status != Snippet.Status.OVERWRITTEN) {
                List<String> lines = new ArrayList<>();
                lines.add(status + ": " + e.snippet().source().trim());
                shell.diagnostics(e.snippet()).forEach(d -> lines.add(describe(d, e.snippet().source())));
                if (status == Snippet.Status.RECOVERABLE_DEFINED || status == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                    lines.add("unresolved: " + shell.unresolvedDependencies((jdk.jshell.DeclarationSnippet) e.snippet())
                            .collect(Collectors.joining(", ")));
                }
                if (outputs != null) {
                    outputs.error("CompilationException", lines.get(lines.size() - 1), lines);
                }
                return String.join("\n", lines);
            }
        }
        return null;
    }

    private static String describe(Diag d, String source) {
        long pos = d.getPosition();
        String where = "";
        if (pos >= 0 && pos <= source.length()) {
            int lineStart = source.lastIndexOf('\n', (int) Math.max(0, pos - 1)) + 1;
            int lineEnd = source.indexOf('\n', (int) pos);
            where = " at: " + source.substring(lineStart, lineEnd < 0 ? source.length() : lineEnd).trim();
        }
        return (d.isError() ? "error: " : "warning: ") + d.getMessage(null) + where;
    }

    /** Loads snippets like local execution does, but never invokes them. */
    private static final class CompileOnlyExecution implements ExecutionControlProvider {
        @Override
        public String name() {
            return "tokenroute-compile-only";
        }

        @Override
        public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
            return new DirectExecutionControl() {
                @Override
                protected String invoke(Method doitMethod) {
                    return "";
                }
            };
        }
    }

    // ------------------------------------------------------------------------------------------------ outputs

    /** A cell's outputs in order: stream text (merged per stream), displays, the result, an error. */
    private static final class Outputs {
        private final List<ObjectNode> list = new ArrayList<>();
        private final Set<Capture> captures = new LinkedHashSet<>();

        synchronized void reset() {
            captures.forEach(Capture::drain);
            list.clear();
        }

        OutputStream stream(String name, PrintStream echo) {
            Capture c = new Capture(name, echo);
            captures.add(c);
            return c;
        }

        synchronized void display(String type, Map<String, String> data) {
            flushStreams();
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("output_type", type);
            ObjectNode bundle = o.putObject("data");
            data.forEach((mime, value) -> bundle.set(mime, mime.startsWith("text/") ? Notebook.lines(value)
                    : JsonNodeFactory.instance.textNode(value)));
            o.putObject("metadata");
            if (type.equals("execute_result")) {
                o.put("execution_count", 0);
            }
            list.add(o);
        }

        synchronized void error(String name, String value, List<String> traceback) {
            flushStreams();
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("output_type", "error");
            o.put("ename", name);
            o.put("evalue", value);
            ArrayNode tb = o.putArray("traceback");
            traceback.forEach(tb::add);
            list.add(o);
        }

        synchronized ArrayNode take() {
            flushStreams();
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            list.forEach(out::add);
            list.clear();
            return out;
        }

        private void flushStreams() {
            for (Capture c : captures) {
                String text = c.drain();
                if (text.isEmpty()) {
                    continue;
                }
                ObjectNode last = list.isEmpty() ? null : list.get(list.size() - 1);
                if (last != null && "stream".equals(last.path("output_type").asText())
                        && c.name.equals(last.path("name").asText())) {
                    last.put("text", last.path("text").asText() + text);
                } else {
                    ObjectNode o = JsonNodeFactory.instance.objectNode();
                    o.put("output_type", "stream");
                    o.put("name", c.name);
                    o.put("text", text);
                    list.add(o);
                }
            }
        }

        /** Bytes a cell printed to one stream, also echoed to the real stream. */
        private static final class Capture extends OutputStream {
            private final String name;
            private final PrintStream echo;
            private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

            Capture(String name, PrintStream echo) {
                this.name = name;
                this.echo = echo;
            }

            @Override
            public synchronized void write(int b) {
                bytes.write(b);
                if (echo != null) {
                    echo.write(b);
                }
            }

            @Override
            public synchronized void write(byte[] b, int off, int len) {
                bytes.write(b, off, len);
                if (echo != null) {
                    echo.write(b, off, len);
                }
            }

            synchronized String drain() {
                String s = bytes.toString(StandardCharsets.UTF_8);
                bytes.reset();
                return s;
            }
        }
    }
}
