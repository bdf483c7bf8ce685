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

import io.tokenroute.examples.demo.DecodeDemo;
import io.tokenroute.examples.demo.DemoConfig;
import io.tokenroute.examples.demo.DemoConfig.Defaults;
import io.tokenroute.examples.demo.DemoConfig.PrefillDefaults;
import io.tokenroute.examples.demo.DemoListener;
import io.tokenroute.examples.demo.DemoMode;
import io.tokenroute.examples.demo.DemoRankProcess;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoTransport;
import io.tokenroute.examples.demo.FailureSpec;
import io.tokenroute.examples.demo.ReadmitSpec;
import io.tokenroute.examples.demo.RoutingSkew;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code tokenroute demo}: parses the options into a {@link DemoConfig}, runs the {@link DecodeDemo} in the
 * {@code --mode} (decode or prefill) on the {@code --transport} (the same engine loop on every transport) with a
 * progress bar, prints the {@link SummaryTable} and writes the {@link DemoPlot} (or says why it could not). Options
 * left out take the mode's defaults ({@link Defaults}, {@link PrefillDefaults}). Exit code 0 when the run is clean, 1
 * on a mismatch, a false mask or an error, 2 on bad options.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        versionProvider = TokenRouteCli.Version.class,
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = {
            "Elastic MoE engine loop: R ranks (by default threads of the local transport, no GPU) route tokens to "
                    + "experts, compute them (block-diagonal matrices in Java), combine, and check every output bit "
                    + "for bit against a plain-loop reference.",
            "--mode decode (default) runs decode steps on the low-latency path; --mode prefill runs prefill steps "
                    + "(by default 4 ranks x 512 tokens) on the high-throughput path, whose rows stream through "
                    + "per-pair queues of --chunks x --chunk-rows rows, far smaller than a step; there a --fail stops "
                    + "a rank in the prefill notify or in the middle of its dispatch or combine stream, and each "
                    + "token's output must equal the reference with exactly the ranks whose weight it lost left out. "
                    + "The prefill mode runs on the host transports (local, shm) in this version.",
            "Injected failures stop a rank inside a step; the survivors mask it after --timeout, agree on the mask, "
                    + "re-place its experts into redundant slots and recompute exactly the damaged tokens. "
                    + "Readmissions bring stopped ranks back.",
            "The engine loop is the same on every transport; --transport only changes how the group is opened. "
                    + "local and cuda-local run every rank as a thread of this JVM (cuda-local: CUDA dispatch/combine "
                    + "kernels on GPU 0, experts and checks on the host over copies of the device results).",
            "shm and nvshmem run each rank as its own JVM process (shm: over a shared-memory file; nvshmem: one "
                    + "NVSHMEM PE each, PE p on GPU p %% GPUs); a --fail rank then SIGKILLs its own process (no "
                    + "--readmit: a killed process cannot come back).",
            "Prints a summary (latency percentiles, detection latency, recomputed tokens, mismatches) and plots "
                    + "step latency and live ranks to --plot. Exits 1 on any mismatch or false mask."
        })
public final class DemoCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(
            names = "--transport",
            paramLabel = "NAME",
            defaultValue = "local",
            converter = Transports.Name.class,
            completionCandidates = Transports.Candidates.class,
            description = "Transport; available on this machine: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    private DemoTransport transport;

    @Option(
            names = "--mode",
            paramLabel = "MODE",
            defaultValue = "decode",
            converter = ModeConverter.class,
            description = "decode: low-latency dispatch/combine steps; prefill: high-throughput prefill steps "
                    + "through bounded queues (local and shm only). Options left out take the mode's defaults. "
                    + "Default: ${DEFAULT-VALUE}.")
    private DemoMode mode;

    @Option(
            names = "--ranks",
            paramLabel = "R",
            defaultValue = "" + Defaults.RANKS,
            description = "Ranks. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.RANKS + ".")
    private int ranks;

    @Option(
            names = "--experts",
            paramLabel = "E",
            defaultValue = "" + Defaults.EXPERTS,
            description = "Logical experts (the model's). Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.EXPERTS
                    + ".")
    private int experts;

    @Option(
            names = "--redundant",
            paramLabel = "N",
            defaultValue = "" + Defaults.REDUNDANT,
            description = "Redundant expert slots per rank, empty at start, that host a failed rank's experts; "
                    + "slots per rank = ceil(experts / ranks) + redundant. Default: ${DEFAULT-VALUE}; prefill "
                    + PrefillDefaults.REDUNDANT + ".")
    private int redundant;

    @Option(
            names = "--tokens",
            paramLabel = "T",
            defaultValue = "" + Defaults.TOKENS,
            description =
                    "Tokens per rank per step. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.TOKENS + ".")
    private int tokens;

    @Option(
            names = "--hidden",
            paramLabel = "H",
            defaultValue = "" + Defaults.HIDDEN,
            description = "Hidden size H. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.HIDDEN + ".")
    private int hidden;

    @Option(
            names = "--topk",
            paramLabel = "K",
            defaultValue = "" + Defaults.TOP_K,
            description = "Experts per token. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.TOP_K + ".")
    private int topK;

    @Option(
            names = "--steps",
            paramLabel = "N",
            defaultValue = "" + Defaults.STEPS,
            description = "Steps. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.STEPS + ".")
    private int steps;

    @Option(
            names = "--timeout",
            paramLabel = "DURATION",
            defaultValue = Defaults.TIMEOUT,
            converter = DurationConverter.class,
            description = "Per-peer wait timeout after the warm-up (e.g. 20ms, 500us, 2s): a peer silent this long "
                    + "is masked. Default: ${DEFAULT-VALUE}; prefill " + PrefillDefaults.TIMEOUT + "; "
                    + DemoTransport.GPU_TIMEOUT + " on cuda-local and nvshmem, whose waits run in kernels while the "
                    + "peers do their host work (copies, experts, checks) and where PEs may time-slice one GPU "
                    + "without MPS.")
    private Duration timeout;

    @Option(
            names = "--fail",
            paramLabel = "R@S:PHASE",
            split = ",",
            defaultValue = Defaults.FAILURES,
            converter = FailureConverter.class,
            description = "Stop rank R in step S (repeatable). PHASE dispatch: R parks before publishing its rows, "
                    + "survivors detect it in dispatch; combine: R parks before publishing its expert outputs, "
                    + "survivors detect it in combine. Prefill: prefill-notify parks R before it announces its "
                    + "token counts; prefill-dispatch (or dispatch) and prefill-combine (or combine) park it before "
                    + "the middle chunk of its row or partial-row stream. Default: ${DEFAULT-VALUE} (for 8 ranks and "
                    + "200 steps: ranks 3R/8 and 5R/8 at 30 % and 60 % of --steps); prefill "
                    + PrefillDefaults.FAILURES + " (for 4 ranks and 40 steps: ranks R/4, R/2, 3R/4 at 30, 50 and "
                    + "70 % of --steps). With rank processes, which cannot come back, at most (R - 1) / 2 of the "
                    + "default failures (prefill: the mid-stream ones first).")
    private List<FailureSpec> failures;

    @Option(
            names = "--readmit",
            paramLabel = "R@S",
            split = ",",
            defaultValue = Defaults.READMITS,
            converter = ReadmitConverter.class,
            description = "Bring the stopped rank R back before step S (repeatable). Default: ${DEFAULT-VALUE} (for 8 "
                    + "ranks and 200 steps: the first failed rank at 80 % of --steps); prefill "
                    + PrefillDefaults.READMITS + " (each failed rank 10 % of --steps later); dropped when --fail is "
                    + "given without --readmit.")
    private List<ReadmitSpec> readmits;

    @Option(
            names = "--chunk-rows",
            paramLabel = "N",
            defaultValue = "" + Defaults.PREFILL_CHUNK_ROWS,
            description = "Prefill: rows per chunk of each (source, destination) queue. Default: ${DEFAULT-VALUE}.")
    private int chunkRows;

    @Option(
            names = "--chunks",
            paramLabel = "N",
            defaultValue = "" + Defaults.PREFILL_CHUNKS,
            description = "Prefill: chunks per queue; a pair of ranks streams through chunks x chunk-rows rows "
                    + "whatever the step's tokens. Default: ${DEFAULT-VALUE}.")
    private int chunks;

    @Option(names = "--healthy", description = "No failures and no readmissions (ignores --fail and --readmit).")
    private boolean healthy;

    @Option(
            names = "--warmup",
            paramLabel = "STEPS",
            defaultValue = "" + Defaults.WARMUP_STEPS,
            description = "First steps run with --warmup-timeout while the JIT compiles (so that its pauses do not "
                    + "look like dead ranks); failures must come later. Default: ${DEFAULT-VALUE}.")
    private int warmupSteps;

    @Option(
            names = "--warmup-timeout",
            paramLabel = "DURATION",
            defaultValue = Defaults.WARMUP_TIMEOUT,
            converter = DurationConverter.class,
            description = "Timeout of the warm-up steps. Default: ${DEFAULT-VALUE}.")
    private Duration warmupTimeout;

    @Option(
            names = "--no-rehearsal",
            description = "Skip the throw-away 18-step rehearsal (a failure in dispatch, one in combine) that "
                    + "compiles the failure paths before the run; without it the first failure can stall ranks while "
                    + "the JIT recompiles, and a tight --timeout then masks healthy ones.")
    private boolean noRehearsal;

    @Option(
            names = "--seed",
            paramLabel = "N",
            defaultValue = "" + Defaults.SEED,
            description = "Seed of the router, the hidden states and the expert weights. Default: ${DEFAULT-VALUE}.")
    private long seed;

    @Option(
            names = "--skew",
            paramLabel = "ROUTING",
            defaultValue = "mild",
            converter = SkewConverter.class,
            description = "How unevenly the router spreads tokens over the experts: mild (every expert nearly as "
                    + "popular), zipf:S (expert popularity by Zipf's law with exponent S, e.g. zipf:1.2; the hot "
                    + "experts on different ranks), uniform (every set of k experts equally likely), hot (one "
                    + "expert in every token's top-k) or hot:N (experts 0 to N-1 in every token's top-k; hot:4 gives "
                    + "them half of all (token, expert) pairs at k = 8). Default: ${DEFAULT-VALUE}.")
    private RoutingSkew skew;

    @Option(
            names = "--plot",
            paramLabel = "FILE",
            defaultValue = "target/tokenroute-demo.png",
            description = "PNG of step latency and live ranks per step (relative to the working directory). "
                    + "Default: ${DEFAULT-VALUE}.")
    private Path plot;

    @Option(names = "--no-progress", description = "No progress bar; events are printed as they happen.")
    private boolean noProgress;

    private DecodeDemo.Run run;

    /** The summary of the last run (tests assert on it); null before a run. */
    public DemoSummary summary() {
        return run == null ? null : run.summary();
    }

    /** The last run (with its rank processes on {@code shm} and {@code nvshmem}); null before a run. */
    DecodeDemo.Run lastRun() {
        return run;
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        DemoConfig config = config();
        PrintWriter out = spec.commandLine().getOut();
        out.println(SummaryTable.header(config, transport.id()));
        if (config.mode() == DemoMode.PREFILL) {
            out.println(SummaryTable.prefillQueues(config));
        }
        if (transport == DemoTransport.CUDA_LOCAL) {
            out.println("cuda-local: " + config.ranks() + " ranks on GPU 0, one thread each; experts and reference "
                    + "checks run on the host over copies of the device results, so step latency includes them");
        }
        if (config.rehearse()) {
            out.println("warming up: an 18-step rehearsal with a failure in dispatch and one in combine"
                    + (config.mode() == DemoMode.PREFILL && config.ranks() >= 4 ? " (and one in the notify)" : "")
                    + " compiles the failure paths (not measured)"
                    + (transport.processPerRank() ? "; in each rank process, on local threads" : ""));
        }
        if (transport.processPerRank()) {
            out.println("starting " + config.ranks() + " rank processes (" + DemoRankProcess.class.getSimpleName()
                    + (transport == DemoTransport.NVSHMEM ? "), one NVSHMEM PE each, PE p on GPU p % GPUs" : ")")
                    + "; --fail ranks SIGKILL themselves");
        }
        out.flush();
        DecodeDemo demo = new DecodeDemo(config, transport);
        if (noProgress) {
            run = demo.run(new DemoListener() {
                @Override
                public void onEvent(String message) {
                    out.println(message);
                    out.flush();
                }
            });
        } else {
            Progress progress = new Progress(config);
            try {
                run = demo.run(progress);
            } finally {
                progress.close();
            }
            progress.events.forEach(out::println);
        }
        DemoSummary summary = run.summary();
        StringBuilder table = new StringBuilder(SummaryTable.format(summary));
        SummaryTable.row(table, "plot", writePlot(summary));
        out.print(table);
        out.flush();
        return summary.exitCode();
    }

    /**
     * Writes the plot and returns its path, or a one-line note why it was not written: the plot is a by-product, so
     * it never fails a run whose summary was printed.
     */
    private String writePlot(DemoSummary s) {
        try {
            return DemoPlot.write(s, plot).toString();
        } catch (IOException | RuntimeException e) {
            return "not written: " + e;
        } catch (Error e) {
            // A runtime without java.desktop (the GPU bundle's jlink image) cannot link XChart's AWT classes
            // (NoClassDefFoundError), and AWT without fonts fails with an Error or InternalError. The JVM's own
            // distress (out of memory, stack overflow) is not the plot's business.
            if (e instanceof VirtualMachineError && !(e instanceof InternalError)) {
                throw e;
            }
            return "not written: " + e;
        }
    }

    /**
     * The run's configuration, or a usage error naming the bad option (exit code 2): first whether the mode runs on the
     * transport and this machine has it, then the options given over the mode's defaults.
     */
    private DemoConfig config() {
        if (!mode.runsOn(transport)) {
            throw new ParameterException(spec.commandLine(), mode.refusal(transport));
        }
        String missing = Transports.unavailableReason(transport);
        if (missing != null) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--transport': " + missing);
        }
        boolean failGiven = given("--fail");
        boolean readmitGiven = given("--readmit");
        // Rank processes: a failure SIGKILLs one, and a killed process cannot come back.
        boolean processes = transport.processPerRank();
        if (processes && readmitGiven && !healthy) {
            throw new ParameterException(
                    spec.commandLine(),
                    "--readmit is not possible with --transport " + transport
                            + ": a failed rank's process is SIGKILLed and cannot come back; use --fail without "
                            + "--readmit");
        }
        try {
            // The GPU transports do not rehearse: their long default timeout dwarfs JIT pauses (DemoTransport).
            DemoConfig.Builder b = DemoConfig.builder(mode)
                    .warmupTimeout(warmupTimeout)
                    .rehearse(!noRehearsal && !transport.onGpu())
                    .seed(seed)
                    .skew(skew);
            setGiven(b);
            DemoConfig shape = b.build();
            // Default failures and readmissions scale to the run; the default readmissions are dropped with --fail,
            // and always with rank processes (default failures stay).
            List<FailureSpec> failing = failGiven
                    ? failures
                    : processes
                            ? DemoConfig.defaultFailuresWithoutReturn(
                                    mode, shape.ranks(), shape.steps(), shape.warmupSteps())
                            : DemoConfig.defaultFailures(mode, shape.ranks(), shape.steps(), shape.warmupSteps());
            List<ReadmitSpec> readmissions = healthy || processes || (failGiven && !readmitGiven)
                    ? List.of()
                    : readmitGiven
                            ? readmits
                            : DemoConfig.defaultReadmits(mode, shape.ranks(), shape.steps(), shape.warmupSteps());
            return b.failures(healthy ? List.of() : failing)
                    .readmits(readmissions)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e);
        }
    }

    /** Sets on {@code b} the shape options given on the command line; the others keep the mode's defaults. */
    private void setGiven(DemoConfig.Builder b) {
        ifGiven("--ranks", () -> b.ranks(ranks));
        ifGiven("--experts", () -> b.experts(experts));
        ifGiven("--redundant", () -> b.redundant(redundant));
        ifGiven("--tokens", () -> b.tokens(tokens));
        ifGiven("--hidden", () -> b.hidden(hidden));
        ifGiven("--topk", () -> b.topK(topK));
        ifGiven("--steps", () -> b.steps(steps));
        ifGiven("--warmup", () -> b.warmupSteps(warmupSteps));
        ifGiven("--chunk-rows", () -> b.prefillChunkRows(chunkRows));
        ifGiven("--chunks", () -> b.prefillChunks(chunks));
        if (given("--timeout")) {
            b.timeout(timeout);
        } else if (transport.onGpu()) {
            b.timeout(new DurationConverter().convert(DemoTransport.GPU_TIMEOUT));
        }
    }

    private void ifGiven(String option, Runnable set) {
        if (given(option)) {
            set.run();
        }
    }

    private boolean given(String option) {
        return spec.commandLine().getParseResult().hasMatchedOption(option);
    }

    /**
     * The progress bar (on stderr), shown from the first finished step: the rehearsal before it is not part of the
     * run. Events are kept and printed once the bar is done, since lines printed meanwhile would break it.
     */
    private static final class Progress implements DemoListener {
        private final DemoConfig config;
        private final List<String> events = new ArrayList<>();
        private ProgressBar bar;

        Progress(DemoConfig config) {
            this.config = config;
        }

        @Override
        public synchronized void onProgress(int completed, int liveRanks) {
            if (bar == null) {
                bar = new ProgressBarBuilder()
                        .setTaskName(config.mode().label())
                        .setInitialMax(config.steps())
                        .setUnit(" steps", 1)
                        .setUpdateIntervalMillis(200)
                        .setConsumer(new ConsoleProgressBarConsumer(System.err))
                        .build();
            }
            bar.stepTo(completed);
            bar.setExtraMessage(liveRanks + "/" + config.ranks() + " ranks live");
        }

        @Override
        public synchronized void onEvent(String message) {
            events.add(message);
        }

        synchronized void close() {
            if (bar != null) {
                bar.close();
                bar = null;
            }
        }
    }

    /** A value parsed by the demo's own parser; its message becomes picocli's one line. */
    abstract static class Parsed<T> implements ITypeConverter<T> {
        private final Function<String, T> parser;

        Parsed(Function<String, T> parser) {
            this.parser = parser;
        }

        @Override
        public T convert(String value) {
            try {
                return parser.apply(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --mode} values. */
    static final class ModeConverter extends Parsed<DemoMode> {
        ModeConverter() {
            super(DemoMode::parse);
        }
    }

    /** {@code --fail} values. */
    static final class FailureConverter extends Parsed<FailureSpec> {
        FailureConverter() {
            super(FailureSpec::parse);
        }
    }

    /** {@code --readmit} values. */
    static final class ReadmitConverter extends Parsed<ReadmitSpec> {
        ReadmitConverter() {
            super(ReadmitSpec::parse);
        }
    }

    /** {@code --skew} values. */
    static final class SkewConverter extends Parsed<RoutingSkew> {
        SkewConverter() {
            super(RoutingSkew::parse);
        }
    }
}
