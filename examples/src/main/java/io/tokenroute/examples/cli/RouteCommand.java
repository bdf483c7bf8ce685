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

import io.tokenroute.examples.route.IpcRoute;
import io.tokenroute.examples.route.RouteSummary;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
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
@Command(
        name = "route",
        mixinStandardHelpOptions = true,
        versionProvider = TokenRouteCli.Version.class,
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = {
            "Routes token batches from an Arrow IPC file through dispatch -> identity experts -> combine and writes "
                    + "the "
                    + "combined batches, so Arrow pipelines can try the router, on any transport this machine has.",
            "Input: an Arrow IPC file (.arrow) or stream of token batches: hidden FixedSizeList<bf16 "
                    + "(tokenroute.bfloat16) | halffloat | float32>[H], topk_idx FixedSizeList<int64>[k] (-1 = none), "
                    + "topk_weights FixedSizeList<float32>[k].",
            "Ranks: batch i is the input of rank (i mod R) in round (i div R); R defaults to the number of batches "
                    + "(batch i on rank i, one round). Ranks without a batch in the last round send no tokens.",
            "Transports: local and cuda-local[:DEVICE] run every rank as a thread of this process. shm[:NAME] and "
                    + "nvshmem[:DEVICE] run one rank per process: start R of them under a launcher that sets the rank "
                    + "(TOKENROUTE_RANK, RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK), the world size (R's default) and "
                    + "a job id or TOKENROUTE_RENDEZVOUS; each writes its rank's batches to --output, which names the "
                    + "file with " + IpcRoute.RANK_PLACEHOLDER + ".",
            "Experts: topk_idx holds expert ids in [0, E), E / R experts per rank (expert e on rank e / (E/R)); E "
                    + "defaults to the smallest multiple of R above the largest id.",
            "Output: one batch per input batch, in order: hidden (bf16) = sum over k of w[k] * x (fp32 accumulation "
                    + "in top-k order, weights not renormalised) and lost_weight (float32, 0 unless a rank timed "
                    + "out). It is written to a temporary file beside FILE and renamed over it only when complete.",
            "Errors: one line, 'tokenroute route: FILE: PROBLEM', exit status 1 (2 for bad usage); --verbose adds the "
                    + "stack trace."
        })
public final class RouteCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(
            names = {"-i", "--input"},
            required = true,
            paramLabel = "FILE",
            description = "Arrow IPC file (or stream) to read.")
    private Path input;

    @Option(
            names = {"-o", "--output"},
            required = true,
            paramLabel = "FILE",
            description = "Arrow IPC file to write (replaced atomically if it exists); with one rank per process, "
                    + IpcRoute.RANK_PLACEHOLDER + " in it is replaced by the rank.")
    private Path output;

    @Option(names = "--ranks", paramLabel = "R", description = "Ranks. Default: the number of batches in the input.")
    private Integer ranks;

    @Option(
            names = "--experts",
            paramLabel = "E",
            description = "Experts, a multiple of R. Default: the smallest multiple of R above the largest expert id.")
    private Integer experts;

    @Option(
            names = "--timeout",
            paramLabel = "DURATION",
            defaultValue = "2s",
            converter = DurationConverter.class,
            description = "Per-peer wait timeout. Default: ${DEFAULT-VALUE}.")
    private Duration timeout;

    @Option(
            names = "--transport",
            paramLabel = "NAME[:ARG]",
            defaultValue = "local",
            converter = Transports.Spec.class,
            completionCandidates = Transports.Candidates.class,
            description = "Transport, as ElasticGroup.open takes it (shm:NAME, cuda-local:DEVICE, ...); available on "
                    + "this machine: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    private TransportSpec transport;

    /**
     * Routes the file; every failure propagates to {@link CliErrors}, which prints it as one line naming the file
     * ({@link io.tokenroute.examples.route.RouteFileException}) or the problem (a transport that cannot open its group
     * here) and exits with 1.
     */
    @Override
    public Integer call() throws IOException {
        boolean processPerRank =
                transport.name().equals(TransportSpec.SHM) || transport.name().equals(TransportSpec.NVSHMEM);
        if (processPerRank && !output.toString().contains(IpcRoute.RANK_PLACEHOLDER)) {
            throw new ParameterException(
                    spec.commandLine(),
                    "with --transport " + transport.name() + " each rank is a"
                            + " process that writes its own batches: name the output with " + IpcRoute.RANK_PLACEHOLDER
                            + ", e.g. --output out-" + IpcRoute.RANK_PLACEHOLDER + ".arrow");
        }
        if (ranks != null && ranks < 1) {
            throw new ParameterException(spec.commandLine(), "--ranks must be >= 1, got " + ranks);
        }
        if (experts != null && (experts < 1 || (ranks != null && experts % ranks != 0))) {
            throw new ParameterException(
                    spec.commandLine(),
                    "--experts must be a positive multiple of --ranks (" + (ranks == null ? "R" : ranks) + "), got "
                            + experts);
        }
        RouteSummary s =
                IpcRoute.run(input, output, ranks, experts, timeout, transport, LaunchEnvironment.fromSystem());
        PrintWriter out = spec.commandLine().getOut();
        String here = s.localRanks().length == s.ranks()
                ? ""
                : ", this process: rank " + Arrays.toString(s.localRanks()).replaceAll("[\\[\\] ]", "");
        out.printf(
                Locale.ROOT,
                "routed %d batches (%d tokens, %s, H %d, top-%d) on %d ranks (%s transport%s), %d"
                        + " experts, %d round(s), identity experts: %.1f ms%n",
                s.batches(),
                s.tokens(),
                s.inputDtype(),
                s.hidden(),
                s.topK(),
                s.ranks(),
                transport,
                here,
                s.experts(),
                s.rounds(),
                s.elapsedNanos() / 1e6);
        out.printf(
                Locale.ROOT,
                "masked ranks: %s; tokens with lost weight: %d%n",
                s.maskedRanks().length == 0 ? "none" : Arrays.toString(s.maskedRanks()),
                s.damagedTokens());
        out.printf(
                Locale.ROOT,
                "wrote %s: %d batches of hidden (bf16) and lost_weight (float32)%n",
                s.output().toAbsolutePath(),
                s.batches());
        out.flush();
        return 0;
    }
}
