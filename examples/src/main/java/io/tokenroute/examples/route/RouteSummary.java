package io.tokenroute.examples.route;

import io.tokenroute.arrow.types.HiddenDtype;
import java.nio.file.Path;

/**
 * What {@link IpcRoute} did.
 *
 * @param batches input (and output) batches
 * @param ranks R
 * @param rounds dispatch/combine rounds ({@code ceil(batches / ranks)})
 * @param experts E
 * @param hidden H
 * @param topK k
 * @param inputDtype the input's hidden dtype (the output is bf16)
 * @param tokens tokens routed
 * @param damagedTokens tokens with {@code lost_weight != 0} (0 unless a rank timed out)
 * @param maskedRanks ranks masked on any rank during the run
 * @param elapsedNanos wall time of the routing rounds (reading and writing excluded)
 * @param output the file written
 */
public record RouteSummary(int batches, int ranks, int rounds, int experts, int hidden, int topK,
        HiddenDtype inputDtype, long tokens, long damagedTokens, int[] maskedRanks, long elapsedNanos,
        Path output) {
}
