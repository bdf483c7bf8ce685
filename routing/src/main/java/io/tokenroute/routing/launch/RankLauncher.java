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
package io.tokenroute.routing.launch;

import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.security.JobSecret;
import io.tokenroute.routing.security.PrivateFiles;
import io.tokenroute.routing.shm.Processes;
import io.tokenroute.routing.shm.ShmGroup;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Starts the R ranks of an {@code shm} group as processes of this host and gathers what they report: the same
 * {@code java} binary and class path as this JVM (or the ones given), plus {@link #requiredJvmOptions()}, one process
 * per rank running a main class that reads its rank and group file through {@link LaunchedRank}.
 *
 * <pre>{@code
 * try (RankLauncher ranks = RankLauncher.builder("com.example.RankMain", 4)
 *         .args((rank, groupFile) -> List.of(groupFile.toString(), Integer.toString(rank)))
 *         .fault(2, RankFault.kill(Phase.DISPATCH_SEND, 3))
 *         .start()) {
 *     List<RankLauncher.RankResult> results = ranks.awaitAll(Duration.ofMinutes(1));
 * }
 * }</pre>
 *
 * <p>Each rank reports events ({@link LaunchedRank#event}) and one result line ({@link LaunchedRank#result}) on stdout;
 * its stderr is kept (the tail) for diagnostics. A fault ({@link RankFault}) makes the chosen rank SIGKILL or SIGSTOP
 * itself at a chosen phase and occurrence; {@link #resume} sends SIGCONT to a stopped one, {@link #kill} SIGKILLs a
 * rank from outside. By default the group file lives in a fresh directory under {@link ShmGroup#defaultDirectory()},
 * private to this user (0700 whatever the umask); {@link #close()} kills what still runs and deletes that directory.
 *
 * <p>Like a cluster launcher, it gives the ranks of one launch their job secret ({@link JobSecret}, which the
 * {@code nvshmem} rendezvous authenticates with) in their environment as {@value JobSecret#ENV}, never on the command
 * line: the one of this process's environment if it has one, else a fresh random one per launch, or the one given to
 * {@link Builder#jobSecret}.
 */
public final class RankLauncher implements AutoCloseable {
    private static final int TAIL_CHARS = 64 * 1024;
    private static final List<String> REQUIRED_JVM_OPTIONS = List.of(
            "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
            "--add-modules=jdk.incubator.vector");

    /** The program arguments of one rank. */
    @FunctionalInterface
    public interface RankArgs {
        List<String> of(int rank, Path groupFile);
    }

    /** What one rank process did. */
    public record RankResult(
            int rank,
            long pid,
            int exitCode,
            boolean exitedInTime,
            Map<String, String> values,
            List<String> events,
            String stdoutTail,
            String stderrTail) {

        /** Exited with 0 within the bound. */
        public boolean ok() {
            return exitedInTime && exitCode == 0;
        }

        /** Whether the process ended by signal {@code signal} (e.g. 9 for SIGKILL): exit code 128 + signal. */
        public boolean endedBySignal(int signal) {
            return exitedInTime && exitCode == 128 + signal;
        }

        /** Whether the rank reported event {@code name}. */
        public boolean hasEvent(String name) {
            return events.stream().anyMatch(e -> e.equals(name) || e.startsWith(name + " "));
        }

        /** A summary for assertion messages: rank, pid, exit, events, result and the output tails. */
        public String describe() {
            return "rank " + rank + " (pid " + pid + "): "
                    + (exitedInTime ? "exit code " + exitCode : "did not exit in time (killed)") + ", events " + events
                    + ", result " + values
                    + (stderrTail.isBlank() ? "" : "\n--- stderr ---\n" + stderrTail)
                    + (stdoutTail.isBlank() ? "" : "\n--- stdout ---\n" + stdoutTail);
        }
    }

    /** The flags every rank JVM gets: Arrow's {@code --add-opens} and the incubating Vector API. */
    public static List<String> requiredJvmOptions() {
        return REQUIRED_JVM_OPTIONS;
    }

    /** Whether this machine can send signals to processes ({@code kill} is on the PATH or in /bin, /usr/bin). */
    public static boolean signalsAvailable() {
        return Signals.killCommand() != null;
    }

    /** A launcher of {@code ranks} processes running {@code mainClass}. */
    public static Builder builder(String mainClass, int ranks) {
        return new Builder(mainClass, ranks);
    }

    /** Configures and starts a {@link RankLauncher}. */
    public static final class Builder {
        private final String mainClass;
        private final int ranks;
        private String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        private String classpath = System.getProperty("java.class.path");
        private final List<String> jvmOptions = new ArrayList<>();
        private RankArgs args = (rank, file) -> List.of();
        private final Map<Integer, RankFault> faults = new LinkedHashMap<>();
        private final Map<String, String> environment = new LinkedHashMap<>();
        private boolean[] only;
        private Path groupFile;
        private JobSecret jobSecret;

        private Builder(String mainClass, int ranks) {
            if (ranks < 1) {
                throw new IllegalArgumentException("ranks must be >= 1, got " + ranks);
            }
            this.mainClass = Objects.requireNonNull(mainClass, "mainClass");
            this.ranks = ranks;
        }

        /** The {@code java} executable (default: this JVM's). */
        public Builder java(String executable) {
            this.java = Objects.requireNonNull(executable);
            return this;
        }

        /** The class path of the ranks (default: this JVM's {@code java.class.path}). */
        public Builder classpath(String cp) {
            this.classpath = Objects.requireNonNull(cp);
            return this;
        }

        /** JVM options added after {@link #requiredJvmOptions()} (e.g. {@code -Xmx256m}). */
        public Builder jvmOptions(String... options) {
            jvmOptions.addAll(Arrays.asList(options));
            return this;
        }

        /** The program arguments of each rank (default: none; the rank reads {@link LaunchedRank} instead). */
        public Builder args(RankArgs perRank) {
            this.args = Objects.requireNonNull(perRank);
            return this;
        }

        /** Makes {@code rank} inject {@code fault} into itself. */
        public Builder fault(int rank, RankFault fault) {
            checkRank(rank);
            faults.put(rank, Objects.requireNonNull(fault));
            return this;
        }

        /** Starts only these ranks (the others never join; e.g. to test join timeouts). Default: all. */
        public Builder only(int... which) {
            only = new boolean[ranks];
            for (int r : which) {
                only[checkRank(r)] = true;
            }
            return this;
        }

        /** The group file (default: {@code group.shm} in a fresh directory that {@link #close()} deletes). */
        public Builder groupFile(Path file) {
            this.groupFile = Objects.requireNonNull(file);
            return this;
        }

        /**
         * The job secret every rank gets in its environment (default: this process's
         * {@link JobSecret#fromEnvironment()}, else a fresh {@link JobSecret#generate()}). Pass one when this process
         * takes part in the job itself, with the same secret.
         */
        /**
         * Sets {@code name=value} in every rank's environment (for example the {@code nvshmem} rendezvous address,
         * {@code TOKENROUTE_RENDEZVOUS}); the rank variables themselves are set by the launcher.
         */
        public Builder environment(String name, String value) {
            environment.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
            return this;
        }

        public Builder jobSecret(JobSecret secret) {
            this.jobSecret = Objects.requireNonNull(secret);
            return this;
        }

        private int checkRank(int rank) {
            if (rank < 0 || rank >= ranks) {
                throw new IllegalArgumentException("rank " + rank + " outside [0, " + ranks + ")");
            }
            return rank;
        }

        /**
         * Starts the rank processes (all at once) and returns without waiting for them.
         *
         * @throws IllegalArgumentException if this process's environment holds an unusable job secret
         */
        public RankLauncher start() throws IOException {
            JobSecret secret =
                    jobSecret != null ? jobSecret : JobSecret.fromEnvironment().orElseGet(JobSecret::generate);
            Path dir = null;
            Path file = groupFile;
            if (file == null) {
                Path base = ShmGroup.defaultDirectory();
                dir = Files.createTempDirectory(
                        base, "tokenroute-launch-", PrivateFiles.permissionsAttribute(true, null));
                try {
                    PrivateFiles.restrict(dir, true, null);
                } catch (IOException e) {
                    Files.deleteIfExists(dir);
                    throw e;
                }
                file = dir.resolve("group.shm");
            }
            RankLauncher launcher = new RankLauncher(dir, file.toAbsolutePath(), ranks);
            try {
                for (int r = 0; r < ranks; r++) {
                    if (only == null || only[r]) {
                        launcher.launch(r, command(r, launcher.groupFile), secret, environment);
                    }
                }
            } catch (IOException | RuntimeException e) {
                launcher.close();
                throw e;
            }
            return launcher;
        }

        private List<String> command(int rank, Path file) {
            List<String> cmd = new ArrayList<>();
            cmd.add(java);
            cmd.addAll(REQUIRED_JVM_OPTIONS);
            cmd.addAll(jvmOptions);
            cmd.add("-cp");
            cmd.add(classpath);
            cmd.add("-D" + LaunchedRank.RANK_PROPERTY + "=" + rank);
            cmd.add("-D" + LaunchedRank.RANKS_PROPERTY + "=" + ranks);
            cmd.add("-D" + LaunchedRank.GROUP_PROPERTY + "=" + file);
            RankFault fault = faults.get(rank);
            if (fault != null) {
                cmd.add("-D" + LaunchedRank.FAULT_PROPERTY + "=" + fault);
            }
            cmd.add(mainClass);
            cmd.addAll(args.of(rank, file));
            return cmd;
        }
    }

    /** One launched process and what it said. */
    private static final class Rank {
        final Process process;
        final List<String> events = new ArrayList<>();
        final Map<String, String> values = new LinkedHashMap<>();
        final StringBuilder stdout = new StringBuilder();
        final StringBuilder stderr = new StringBuilder();
        final Thread outReader;
        final Thread errReader;
        boolean outDone;

        Rank(int rank, Process process) {
            this.process = process;
            this.outReader = new Thread(() -> readStdout(process.getInputStream()), "rank-" + rank + "-stdout");
            this.errReader = new Thread(() -> readInto(process.getErrorStream(), stderr), "rank-" + rank + "-stderr");
            outReader.setDaemon(true);
            errReader.setDaemon(true);
            outReader.start();
            errReader.start();
        }

        private void readStdout(InputStream in) {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (this) {
                        if (line.startsWith(LaunchedRank.EVENT_PREFIX)) {
                            events.add(line.substring(LaunchedRank.EVENT_PREFIX.length()));
                            notifyAll();
                        } else if (line.startsWith(LaunchedRank.RESULT_PREFIX)) {
                            parseResult(line.substring(LaunchedRank.RESULT_PREFIX.length()));
                        } else {
                            append(stdout, line);
                        }
                    }
                }
            } catch (IOException e) {
                // the process is gone
            } finally {
                synchronized (this) {
                    outDone = true;
                    notifyAll();
                }
            }
        }

        private void parseResult(String text) {
            for (String pair : text.trim().split(" ")) {
                int eq = pair.indexOf('=');
                if (eq > 0) {
                    values.put(
                            pair.substring(0, eq), URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
        }

        private void readInto(InputStream in, StringBuilder into) {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (this) {
                        append(into, line);
                    }
                }
            } catch (IOException e) {
                // the process is gone
            }
        }

        private static void append(StringBuilder into, String line) {
            into.append(line).append('\n');
            if (into.length() > TAIL_CHARS) {
                into.delete(0, into.length() - TAIL_CHARS);
            }
        }
    }

    private final Path ownedDirectory;
    private final Path groupFile;
    private final Rank[] ranks;
    private final RankResult[] results;

    private RankLauncher(Path ownedDirectory, Path groupFile, int ranks) {
        this.ownedDirectory = ownedDirectory;
        this.groupFile = groupFile;
        this.ranks = new Rank[ranks];
        this.results = new RankResult[ranks];
    }

    /**
     * Starts rank {@code rank} with the variables a launcher such as torchrun, Slurm or Open MPI would set
     * (TokenRoute's own names, which {@link LaunchEnvironment} reads first, so a launcher-style environment inherited
     * from this process does not override them): rank, world size and local rank (all ranks run on this host).
     */
    private void launch(int rank, List<String> command, JobSecret secret, Map<String, String> environment)
            throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command);
        Map<String, String> env = builder.environment();
        env.putAll(environment);
        env.put(LaunchEnvironment.RANK_ENV, Integer.toString(rank));
        env.put(LaunchEnvironment.WORLD_SIZE_ENV, Integer.toString(ranks.length));
        env.put(LaunchEnvironment.LOCAL_RANK_ENV, Integer.toString(rank));
        secret.exportTo(env);
        Process p = builder.start();
        ranks[rank] = new Rank(rank, p);
    }

    /** The group file the ranks were given. */
    public Path groupFile() {
        return groupFile;
    }

    /** The directory holding the group file. */
    public Path directory() {
        return groupFile.getParent();
    }

    /** R. */
    public int ranks() {
        return ranks.length;
    }

    /** The pid of rank {@code rank}'s process. */
    public long pid(int rank) {
        return started(rank).process.pid();
    }

    private Rank started(int rank) {
        Rank r = ranks[rank];
        if (r == null) {
            throw new IllegalArgumentException("rank " + rank + " was not started");
        }
        return r;
    }

    /**
     * Waits until rank {@code rank} reports event {@code name} ({@link LaunchedRank#event}); false if it did not within
     * {@code bound}, or ended without it.
     */
    public boolean awaitEvent(int rank, String name, Duration bound) throws InterruptedException {
        Rank r = started(rank);
        long deadline = System.nanoTime() + bound.toNanos();
        synchronized (r) {
            while (true) {
                for (String e : r.events) {
                    if (e.equals(name) || e.startsWith(name + " ")) {
                        return true;
                    }
                }
                long left = deadline - System.nanoTime();
                if (r.outDone || left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(r, left);
            }
        }
    }

    /** The events rank {@code rank} reported so far. */
    public List<String> events(int rank) {
        Rank r = started(rank);
        synchronized (r) {
            return List.copyOf(r.events);
        }
    }

    /**
     * Whether rank {@code rank}'s process is stopped by a signal ({@code /proc/<pid>/stat} state T; false where there
     * is no procfs).
     */
    public boolean isStopped(int rank) {
        return Processes.linuxState(pid(rank)) == 'T';
    }

    /**
     * Waits until rank {@code rank}'s process is stopped (SIGSTOP took effect); false if not within {@code bound} or
     * where there is no procfs. Polls the process state, since the kernel sends no notice of a stop to non-parents.
     */
    public boolean awaitStopped(int rank, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!isStopped(rank)) {
            if (System.nanoTime() > deadline || !started(rank).process.isAlive()) {
                return false;
            }
            LockSupport.parkNanos(1_000_000);
        }
        return true;
    }

    /**
     * Resumes a rank stopped by a {@link RankFault.Action#STOP} fault (or by {@link #stop}): SIGCONT, then a
     * {@code resume} line on its stdin, which its faulting thread waits for.
     */
    public void resume(int rank) throws IOException {
        Rank r = started(rank);
        Signals.send(r.process.pid(), "CONT", true);
        OutputStream in = r.process.getOutputStream();
        in.write((LaunchedRank.RESUME + "\n").getBytes(StandardCharsets.US_ASCII));
        in.flush();
    }

    /** SIGSTOPs rank {@code rank} from outside, wherever it is. */
    public void stop(int rank) throws IOException {
        Signals.send(pid(rank), "STOP", true);
    }

    /** SIGKILLs rank {@code rank} now, from outside. */
    public void kill(int rank) {
        started(rank).process.destroyForcibly();
    }

    /**
     * Waits up to {@code bound} for rank {@code rank} to exit; one that does not is SIGKILLed and reported with
     * {@code exitedInTime == false}.
     */
    public RankResult await(int rank, Duration bound) throws InterruptedException {
        return await(rank, System.nanoTime() + bound.toNanos());
    }

    /** {@link #await} for every started rank, within one common bound. */
    public List<RankResult> awaitAll(Duration bound) throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        List<RankResult> out = new ArrayList<>();
        for (int r = 0; r < ranks.length; r++) {
            if (ranks[r] != null) {
                out.add(await(r, deadline));
            }
        }
        return out;
    }

    private RankResult await(int rank, long deadline) throws InterruptedException {
        if (results[rank] != null) {
            return results[rank];
        }
        Rank r = started(rank);
        boolean exited = r.process.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (!exited) {
            r.process.destroyForcibly();
            r.process.waitFor(10, TimeUnit.SECONDS);
        }
        r.outReader.join(10_000);
        r.errReader.join(10_000);
        RankResult result;
        synchronized (r) {
            result = new RankResult(
                    rank,
                    r.process.pid(),
                    r.process.isAlive() ? -1 : r.process.exitValue(),
                    exited,
                    Collections.unmodifiableMap(new LinkedHashMap<>(r.values)),
                    List.copyOf(r.events),
                    r.stdout.toString(),
                    r.stderr.toString());
        }
        results[rank] = result;
        return result;
    }

    /**
     * SIGKILLs every rank still running and deletes the launcher's directory (or, with a given group file, that file
     * and its siblings named after it): what a group leaves behind when all its ranks died.
     */
    @Override
    public void close() {
        for (Rank r : ranks) {
            if (r != null && r.process.isAlive()) {
                r.process.destroyForcibly();
            }
        }
        for (Rank r : ranks) {
            if (r != null) {
                try {
                    r.process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        try {
            if (ownedDirectory != null) {
                deleteRecursively(ownedDirectory);
            } else {
                String name = groupFile.getFileName().toString();
                try (Stream<Path> siblings = Files.list(groupFile.getParent())) {
                    for (Path p : (Iterable<Path>) siblings::iterator) {
                        String n = p.getFileName().toString();
                        if (n.equals(name) || n.startsWith(name + ".")) {
                            Files.deleteIfExists(p);
                        }
                    }
                }
            }
        } catch (IOException e) {
            // best effort: /dev/shm is cleared at reboot at the latest
        }
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }
}
