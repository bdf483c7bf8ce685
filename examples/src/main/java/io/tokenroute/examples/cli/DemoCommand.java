package io.tokenroute.examples.cli;

import io.tokenroute.examples.demo.CudaLocalDemo;
import io.tokenroute.examples.demo.DecodeDemo;
import io.tokenroute.examples.demo.DemoConfig;
import io.tokenroute.examples.demo.DemoConfig.Defaults;
import io.tokenroute.examples.demo.DemoListener;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.FailureSpec;
import io.tokenroute.examples.demo.NvshmemDemo;
import io.tokenroute.examples.demo.NvshmemDemoRank;
import io.tokenroute.examples.demo.ReadmitSpec;
import io.tokenroute.examples.demo.ShmDemo;
import io.tokenroute.examples.demo.ShmDemoRank;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
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
 * {@code tokenroute demo}: parses the options into a {@link DemoConfig}, runs the {@link DecodeDemo} (or, by
 * {@code --transport}, the {@link ShmDemo}, the {@link CudaLocalDemo} or the {@link NvshmemDemo}) with a progress bar,
 * prints the {@link SummaryTable} and writes the {@link DemoPlot} (or says why it could not). Exit code 0 when the run
 * is clean, 1 on a mismatch, a false mask or an error, 2 on bad options.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = TokenRouteCli.Version.class,
        sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Elastic MoE decode loop: R ranks (threads of the local transport, no GPU) route tokens to experts, "
                    + "compute them (block-diagonal matrices in Java), combine, and check every output bit for bit "
                    + "against a plain-loop reference.",
            "Injected failures stop a rank inside a step; the survivors mask it after --timeout, agree on the mask, "
                    + "re-place its experts into redundant slots and recompute exactly the damaged tokens. "
                    + "Readmissions bring stopped ranks back.",
            "--transport shm runs each rank as its own JVM process over a shared-memory file; a --fail rank then "
                    + "SIGKILLs its own process (no --readmit: a killed process cannot come back).",
            "--transport cuda-local emulates the ranks on GPU 0 (CUDA dispatch/combine kernels, one driving thread; "
                    + "experts and checks on the host); a --fail rank is no longer launched and its peers mask it "
                    + "inside their kernels.",
            "--transport nvshmem runs each rank as its own JVM process and NVSHMEM PE (PE p on GPU p %% GPUs; CUDA "
                    + "kernels reach the peers' symmetric heaps, experts and checks on the host); a --fail rank "
                    + "SIGKILLs its own process (no --readmit).",
            "Prints a summary (latency percentiles, detection latency, recomputed tokens, mismatches) and plots "
                    + "step latency and live ranks to --plot. Exits 1 on any mismatch or false mask."})
public final class DemoCommand implements Callable<Integer> {
    /**
     * The cuda-local default timeout: its waits spin in kernels that every rank's send phase precedes, so host work
     * never counts against a peer and the timeout only bounds how long a failure takes to detect.
     */
    static final String CUDA_LOCAL_TIMEOUT = "1ms";
    /**
     * The nvshmem default timeout: a rank's host work between two calls counts against its peers' waits, and several
     * PEs may time-slice one GPU without MPS.
     */
    static final String NVSHMEM_TIMEOUT = NvshmemDemo.DEFAULT_TIMEOUT;

    @Spec
    private CommandSpec spec;

    @Option(names = "--transport", paramLabel = "NAME", defaultValue = "local", converter = Transports.Converter.class,
            completionCandidates = Transports.Candidates.class,
            description = "Transport; available on this machine: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    private String transport;

    @Option(names = "--ranks", paramLabel = "R", defaultValue = "" + Defaults.RANKS,
            description = "Ranks. Default: ${DEFAULT-VALUE}.")
    private int ranks;

    @Option(names = "--experts", paramLabel = "E", defaultValue = "" + Defaults.EXPERTS,
            description = "Logical experts (the model's). Default: ${DEFAULT-VALUE}.")
    private int experts;

    @Option(names = "--redundant", paramLabel = "N", defaultValue = "" + Defaults.REDUNDANT,
            description = "Redundant expert slots per rank, empty at start, that host a failed rank's experts; "
                    + "slots per rank = ceil(experts / ranks) + redundant. Default: ${DEFAULT-VALUE}.")
    private int redundant;

    @Option(names = "--tokens", paramLabel = "T", defaultValue = "" + Defaults.TOKENS,
            description = "Tokens per rank per step. Default: ${DEFAULT-VALUE}.")
    private int tokens;

    @Option(names = "--hidden", paramLabel = "H", defaultValue = "" + Defaults.HIDDEN,
            description = "Hidden size H. Default: ${DEFAULT-VALUE}.")
    private int hidden;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "" + Defaults.TOP_K,
            description = "Experts per token. Default: ${DEFAULT-VALUE}.")
    private int topK;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "" + Defaults.STEPS,
            description = "Decode steps. Default: ${DEFAULT-VALUE}.")
    private int steps;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = Defaults.TIMEOUT,
            converter = DurationConverter.class,
            description = "Per-peer wait timeout after the warm-up (e.g. 20ms, 500us, 2s): a peer silent this long "
                    + "is masked. Default: ${DEFAULT-VALUE}; " + CUDA_LOCAL_TIMEOUT + " on cuda-local, whose waits "
                    + "run in kernels; " + NVSHMEM_TIMEOUT + " on nvshmem, where a rank's host work between calls "
                    + "counts against its peers' waits and PEs may time-slice one GPU without MPS.")
    private Duration timeout;

    @Option(names = "--fail", paramLabel = "R@S:PHASE", split = ",", defaultValue = Defaults.FAILURES,
            converter = FailureConverter.class,
            description = "Stop rank R in step S (repeatable). PHASE dispatch: R parks before publishing its rows, "
                    + "survivors detect it in dispatch; combine: R parks before publishing its expert outputs, "
                    + "survivors detect it in combine. Default: ${DEFAULT-VALUE} (for 8 ranks and 200 steps: ranks 3R/8 "
                    + "and 5R/8 at 30 % and 60 % of --steps).")
    private List<FailureSpec> failures;

    @Option(names = "--readmit", paramLabel = "R@S", split = ",", defaultValue = Defaults.READMITS,
            converter = ReadmitConverter.class,
            description = "Bring the stopped rank R back before step S (repeatable). Default: ${DEFAULT-VALUE} (for 8 "
                    + "ranks and 200 steps: the first failed rank at 80 % of --steps), dropped when --fail is given "
                    + "without --readmit.")
    private List<ReadmitSpec> readmits;

    @Option(names = "--healthy", description = "No failures and no readmissions (ignores --fail and --readmit).")
    private boolean healthy;

    @Option(names = "--warmup", paramLabel = "STEPS", defaultValue = "" + Defaults.WARMUP_STEPS,
            description = "First steps run with --warmup-timeout while the JIT compiles (so that its pauses do not "
                    + "look like dead ranks); failures must come later. Default: ${DEFAULT-VALUE}.")
    private int warmupSteps;

    @Option(names = "--warmup-timeout", paramLabel = "DURATION", defaultValue = Defaults.WARMUP_TIMEOUT,
            converter = DurationConverter.class,
            description = "Timeout of the warm-up steps. Default: ${DEFAULT-VALUE}.")
    private Duration warmupTimeout;

    @Option(names = "--no-rehearsal",
            description = "Skip the throw-away 18-step rehearsal (a failure in dispatch, one in combine) that "
                    + "compiles the failure paths before the run; without it the first failure can stall ranks while "
                    + "the JIT recompiles, and a tight --timeout then masks healthy ones.")
    private boolean noRehearsal;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "" + Defaults.SEED,
            description = "Seed of the router, the hidden states and the expert weights. Default: ${DEFAULT-VALUE}.")
    private long seed;

    @Option(names = "--plot", paramLabel = "FILE", defaultValue = "target/tokenroute-demo.png",
            description = "PNG of step latency and live ranks per step (relative to the working directory). "
                    + "Default: ${DEFAULT-VALUE}.")
    private Path plot;

    @Option(names = "--no-progress", description = "No progress bar; events are printed as they happen.")
    private boolean noProgress;

    private DemoSummary summary;
    private ShmDemo.Run shmRun;
    private NvshmemDemo.Run nvshmemRun;

    /** The summary of the last run (tests assert on it); null before a run. */
    public DemoSummary summary() {
        return summary;
    }

    /** The last {@code --transport shm} run (group file, rank processes); null otherwise. */
    ShmDemo.Run shmRun() {
        return shmRun;
    }

    /** The last {@code --transport nvshmem} run (rank processes); null otherwise. */
    NvshmemDemo.Run nvshmemRun() {
        return nvshmemRun;
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        DemoConfig config = config();
        boolean shm = transport.equals("shm");
        boolean nvshmem = transport.equals(Transports.NVSHMEM);
        PrintWriter out = spec.commandLine().getOut();
        out.println(SummaryTable.header(config, transport));
        if (transport.equals(Transports.CUDA_LOCAL)) {
            out.println("cuda-local: " + config.ranks() + " ranks emulated on GPU 0 and driven by one thread; experts "
                    + "and reference checks run on the host, so step latency includes them");
        }
        if (config.rehearse()) {
            out.println("warming up: an 18-step rehearsal with a failure in dispatch and one in combine compiles the "
                    + "failure paths (not measured)" + (shm ? "; in each rank process, on local threads" : ""));
        }
        if (shm) {
            out.println("starting " + config.ranks() + " rank processes (" + ShmDemoRank.class.getSimpleName()
                    + "); --fail ranks SIGKILL themselves");
        }
        if (nvshmem) {
            out.println("starting " + config.ranks() + " rank processes (" + NvshmemDemoRank.class.getSimpleName()
                    + "), one NVSHMEM PE each, PE p on GPU p % GPUs; --fail ranks SIGKILL themselves");
        }
        out.flush();
        if (noProgress) {
            summary = run(config, new DemoListener() {
                @Override
                public void onEvent(String message) {
                    out.println(message);
                    out.flush();
                }
            });
        } else {
            Progress progress = new Progress(config);
            try {
                summary = run(config, progress);
            } finally {
                progress.close();
            }
            progress.events.forEach(out::println);
        }
        StringBuilder table = new StringBuilder(SummaryTable.format(summary));
        SummaryTable.row(table, "plot", writePlot(summary));
        out.print(table);
        out.flush();
        return summary.exitCode();
    }

    private DemoSummary run(DemoConfig config, DemoListener listener) throws IOException, InterruptedException {
        if (transport.equals("shm")) {
            shmRun = new ShmDemo(config).run(listener);
            return shmRun.summary();
        }
        if (transport.equals(Transports.CUDA_LOCAL)) {
            return new CudaLocalDemo(config).run(listener);
        }
        if (transport.equals(Transports.NVSHMEM)) {
            nvshmemRun = new NvshmemDemo(config).run(listener);
            return nvshmemRun.summary();
        }
        return new DecodeDemo(config).run(listener);
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

    /** The run's configuration, or a usage error naming the bad option (exit code 2). */
    private DemoConfig config() {
        boolean failGiven = spec.commandLine().getParseResult().hasMatchedOption("--fail");
        boolean readmitGiven = spec.commandLine().getParseResult().hasMatchedOption("--readmit");
        boolean cudaLocal = transport.equals(Transports.CUDA_LOCAL);
        boolean nvshmem = transport.equals(Transports.NVSHMEM);
        // Rank processes: a failure SIGKILLs one, and a killed process cannot come back.
        boolean processes = transport.equals("shm") || nvshmem;
        if (processes && readmitGiven && !healthy) {
            throw new ParameterException(spec.commandLine(), "--readmit is not possible with --transport " + transport
                    + ": a failed rank's process is SIGKILLed and cannot come back; use --fail without --readmit");
        }
        // Default failures and readmission scale to --ranks and --steps; the default readmission is dropped with
        // --fail, and always with rank processes (default failures stay).
        List<FailureSpec> failing = failGiven ? failures : DemoConfig.defaultFailures(ranks, steps, warmupSteps);
        List<ReadmitSpec> readmissions = healthy || processes || (failGiven && !readmitGiven) ? List.of()
                : readmitGiven ? readmits : DemoConfig.defaultReadmits(ranks, steps, warmupSteps);
        boolean timeoutGiven = spec.commandLine().getParseResult().hasMatchedOption("--timeout");
        Duration peerTimeout = timeoutGiven ? timeout
                : cudaLocal ? new DurationConverter().convert(CUDA_LOCAL_TIMEOUT)
                : nvshmem ? new DurationConverter().convert(NVSHMEM_TIMEOUT) : timeout;
        try {
            // Neither GPU transport rehearses: cuda-local's waits run in kernels, untouched by the JIT
            // (CudaLocalDemo), and nvshmem's long timeout dwarfs JIT pauses (NvshmemDemo).
            return DemoConfig.builder().ranks(ranks).experts(experts).redundant(redundant).tokens(tokens)
                    .hidden(hidden).topK(topK).steps(steps).timeout(peerTimeout).warmupSteps(warmupSteps)
                    .warmupTimeout(warmupTimeout).rehearse(!noRehearsal && !cudaLocal && !nvshmem).seed(seed)
                    .failures(healthy ? List.of() : failing).readmits(readmissions).build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e);
        }
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
                bar = new ProgressBarBuilder().setTaskName("decode").setInitialMax(config.steps())
                        .setUnit(" steps", 1).setUpdateIntervalMillis(200)
                        .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
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

    /** {@code --fail} values. */
    static final class FailureConverter implements ITypeConverter<FailureSpec> {
        @Override
        public FailureSpec convert(String value) {
            try {
                return FailureSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --readmit} values. */
    static final class ReadmitConverter implements ITypeConverter<ReadmitSpec> {
        @Override
        public ReadmitSpec convert(String value) {
            try {
                return ReadmitSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
