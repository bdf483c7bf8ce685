package io.tokenroute.examples.cli;

import io.tokenroute.examples.route.IpcRoute;
import io.tokenroute.examples.route.RouteSummary;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tokenroute route}: dispatch → identity experts → combine over an Arrow IPC file ({@link IpcRoute}). */
@Command(name = "route", mixinStandardHelpOptions = true, versionProvider = TokenRouteCli.Version.class,
        sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Routes token batches from an Arrow IPC file through dispatch -> identity experts -> combine on the local "
                    + "transport and writes the combined batches, so Arrow pipelines can try the router.",
            "Input: an Arrow IPC file (.arrow) or stream of token batches: hidden FixedSizeList<bf16 "
                    + "(tokenroute.bfloat16) | halffloat | float32>[H], topk_idx FixedSizeList<int64>[k] (-1 = none), "
                    + "topk_weights FixedSizeList<float32>[k].",
            "Ranks: batch i is the input of rank (i mod R) in round (i div R); R defaults to the number of batches "
                    + "(batch i on rank i, one round). Ranks without a batch in the last round send no tokens.",
            "Experts: topk_idx holds expert ids in [0, E), E / R experts per rank (expert e on rank e / (E/R)); E "
                    + "defaults to the smallest multiple of R above the largest id.",
            "Output: one batch per input batch, in order: hidden (bf16) = sum over k of w[k] * x (fp32 accumulation "
                    + "in top-k order, weights not renormalised) and lost_weight (float32, 0 unless a rank timed "
                    + "out). It is written to a temporary file beside FILE and renamed over it only when complete.",
            "Errors: one line, 'tokenroute route: FILE: PROBLEM', exit status 1 (2 for bad usage); --verbose adds the "
                    + "stack trace."})
public final class RouteCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-i", "--input"}, required = true, paramLabel = "FILE",
            description = "Arrow IPC file (or stream) to read.")
    private Path input;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE",
            description = "Arrow IPC file to write (replaced atomically if it exists).")
    private Path output;

    @Option(names = "--ranks", paramLabel = "R", description = "Ranks. Default: the number of batches in the input.")
    private Integer ranks;

    @Option(names = "--experts", paramLabel = "E",
            description = "Experts, a multiple of R. Default: the smallest multiple of R above the largest expert id.")
    private Integer experts;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "2s", converter = DurationConverter.class,
            description = "Per-peer wait timeout. Default: ${DEFAULT-VALUE}.")
    private Duration timeout;

    @Option(names = "--transport", paramLabel = "NAME", defaultValue = "local", converter = Transports.Converter.class,
            completionCandidates = Transports.Candidates.class,
            description = "Transport; available on this machine: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    private String transport;

    /**
     * Routes the file; every failure propagates to {@link CliErrors}, which prints it as one line naming the file
     * ({@link io.tokenroute.examples.route.RouteFileException}) and exits with 1.
     */
    @Override
    public Integer call() throws IOException {
        if (!transport.equals("local")) {
            // IpcRoute runs every rank as a thread of this process: the other transports need rank processes or a GPU
            // driver loop, which `demo --transport` has; saying so beats routing on local under another name.
            throw new ParameterException(spec.commandLine(), "only --transport local is supported (route runs the"
                    + " ranks as threads of this process); '" + transport + "' runs with `tokenroute demo --transport "
                    + transport + "`");
        }
        if (ranks != null && ranks < 1) {
            throw new ParameterException(spec.commandLine(), "--ranks must be >= 1, got " + ranks);
        }
        if (experts != null && (experts < 1 || (ranks != null && experts % ranks != 0))) {
            throw new ParameterException(spec.commandLine(), "--experts must be a positive multiple of --ranks ("
                    + (ranks == null ? "R" : ranks) + "), got " + experts);
        }
        RouteSummary s = IpcRoute.run(input, output, ranks, experts, timeout);
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "routed %d batches (%d tokens, %s, H %d, top-%d) on %d ranks (%s transport), %d"
                + " experts, %d round(s), identity experts: %.1f ms%n", s.batches(), s.tokens(), s.inputDtype(),
                s.hidden(), s.topK(), s.ranks(), transport, s.experts(), s.rounds(), s.elapsedNanos() / 1e6);
        out.printf(Locale.ROOT, "masked ranks: %s; tokens with lost weight: %d%n",
                s.maskedRanks().length == 0 ? "none" : Arrays.toString(s.maskedRanks()), s.damagedTokens());
        out.printf(Locale.ROOT, "wrote %s: %d batches of hidden (bf16) and lost_weight (float32)%n",
                s.output().toAbsolutePath(), s.batches());
        out.flush();
        return 0;
    }
}
