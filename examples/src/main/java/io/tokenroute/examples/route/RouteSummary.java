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
package io.tokenroute.examples.route;

import io.tokenroute.arrow.types.HiddenDtype;
import java.nio.file.Path;

/**
 * What {@link IpcRoute} did.
 *
 * @param batches batches routed and written (all the input's, unless each rank is a process: its rank's)
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
 * @param localRanks the ranks this process hosted
 */
public record RouteSummary(
        int batches,
        int ranks,
        int rounds,
        int experts,
        int hidden,
        int topK,
        HiddenDtype inputDtype,
        long tokens,
        long damagedTokens,
        int[] maskedRanks,
        long elapsedNanos,
        Path output,
        int[] localRanks) {}
