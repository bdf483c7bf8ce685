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

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What each notebook exists to show, as lines a reader looks for in its outputs, and how many plots it draws. Where a
 * line prints two values that must agree (addresses for zero copy, damaged and recomputed tokens) the pattern matches
 * only when they do. A notebook added without an entry here fails {@link NotebookTest}.
 */
final class NotebookFigures {
    /** {@code count} lines must match {@code pattern} ({@link java.util.regex.Matcher#find()}). */
    record Figure(String what, Pattern pattern, int count) {
        static Figure lines(int count, String what, String regex) {
            return new Figure(what, Pattern.compile(regex), count);
        }

        static Figure line(String what, String regex) {
            return lines(1, what, regex);
        }
    }

    /** The figures of one notebook and the number of PNG plots it displays. */
    record Expected(List<Figure> figures, int plots) {}

    private static final String ADDRESS = "(0x\\p{XDigit}+)";

    static final Map<String, Expected> BY_NOTEBOOK = Map.of(
            "01-token-batches-and-zero-copy.ipynb",
                    new Expected(
                            List.of(
                                    Figure.line(
                                            "the batch", "^TokenBatch\\[n=4, H=8, k=2, dtype=BF16, location=host\\]$"),
                                    Figure.line("bf16 rounding of 0.1", "^\\[0\\.100097656,1\\.1015625,"),
                                    Figure.line(
                                            "a view shares the parent's rows", "^view token 0 = parent token 2: true$"),
                                    Figure.lines(
                                            3,
                                            "C Data export points at the batch's own buffers",
                                            "values at " + ADDRESS + ", the batch's buffer \\1: same address true$"),
                                    Figure.line(
                                            "the import moves the array",
                                            "^producer's struct released \\(moved to the consumer\\): true$"),
                                    Figure.line(
                                            "the import copies nothing",
                                            "^imported hidden at " + ADDRESS + ", the original at \\1: no copy true$"),
                                    Figure.line(
                                            "the batch outlives the release",
                                            "^after the release the batch is still intact: true$"),
                                    Figure.line(
                                            "a host batch's ArrowDeviceArray",
                                            "^ArrowDeviceArray \\(128 bytes\\): device_type 1 \\(CPU\\), device_id "
                                                    + "-1, sync_event 0x0, "
                                                    + "reserved 0 0 0$"),
                                    Figure.line(
                                            "the ArrowDeviceArray layout",
                                            "^offsets: array 0, device_id 80, device_type 88, sync_event 96, "
                                                    + "reserved 104$"),
                                    Figure.line("the IPC round trip", "1 batch read back: .*same bits: true$"),
                                    Figure.lines(
                                            4,
                                            "identity experts give every token back, nothing lost",
                                            "^rank [0-3]: output = input true, lost weight \\[0\\.0, 0\\.0, 0\\.0, "
                                                    + "0\\.0\\]$"),
                                    Figure.line("no leak", "^bytes still allocated: 0$")),
                            0),
            "02-elastic-decode-with-a-rank-failure.ipynb",
                    new Expected(
                            List.of(
                                    Figure.line(
                                            "the failure is detected and masked",
                                            "^step 40: survivors agree rank\\(s\\) \\[2\\] stopped; "
                                                    + "masked now \\[2\\]"),
                                    Figure.line("the readmission", "^step 65: readmitted 2; masked now \\[\\]"),
                                    Figure.line(
                                            "every output equals the reference",
                                            "^90 steps in [0-9.]+ s: [1-9][0-9]* tokens decoded, [1-9][0-9]* outputs "
                                                    + "checked against "
                                                    + "the reference, 0 mismatches$"),
                                    Figure.line(
                                            "every damaged token recomputed, a clean run",
                                            "^damaged tokens ([1-9][0-9]*), recomputed \\1; unexpected masks \\[\\]; "
                                                    + "errors \\[\\]; "
                                                    + "clean run: true$"),
                                    Figure.line("one detection step in the latency table", "^detection +1 "),
                                    Figure.line(
                                            "the plot's detection mark", "failure detected at step\\(s\\) \\[40\\]$"),
                                    Figure.line("the failure report", "^2@40:dispatch +step 40 "),
                                    Figure.line("the readmission report", "^readmit 2@65 +done true "),
                                    Figure.line(
                                            "rank 2 hosts nothing after its failure",
                                            "^rank 2 \\|[^|]*\\|( +-){6} +\\|"),
                                    Figure.line("no expert left without a host", "unhosted: \\[\\]$")),
                            1),
            "03-cuda-local-on-a-gpu.ipynb",
                    new Expected(
                            List.of(
                                    Figure.line(
                                            "the device export says CUDA with the batch's event",
                                            "^device_type 2 \\(CUDA\\), device_id 0, sync_event -> cudaEvent_t true$"),
                                    Figure.line(
                                            "the device export points at the batch's memory",
                                            "^hidden values at device pointer " + ADDRESS + " = the batch's \\1: true"),
                                    Figure.line(
                                            "the device copy holds the batch",
                                            "^values copied back equal the host batch: true$"),
                                    Figure.line("the left-out rank comes back", "^step 20: readmitted rank 2: true$"),
                                    Figure.lines(
                                            4,
                                            "cuda-local equals local bit for bit",
                                            "^rank [0-3]: cuda-local == local: true$"),
                                    Figure.line(
                                            "the combine output exported in place",
                                            "^combine output of rank 0: 64 rows, device_type CUDA, hidden at " + ADDRESS
                                                    + " \\(= \\1\\)$"),
                                    Figure.line("no leak", "^bytes still allocated: 0$")),
                            1),
            "04-arrow-pipeline-with-a-rank-failure.ipynb",
                    new Expected(
                            List.of(
                                    Figure.line(
                                            "the input files' schema, hidden tagged as bf16",
                                            "^hidden +FixedSizeList\\(128\\) +of "
                                                    + "ExtensionType\\(tokenroute\\.bfloat16, Int\\(16, false\\)\\)"),
                                    Figure.line(
                                            "one record batch per step in the input file",
                                            "^tokens-rank0\\.arrow: [1-9][0-9]* bytes, 24 record batches of 32 rows$"),
                                    Figure.line(
                                            "the token batches read back",
                                            "^read 96 token batches \\(3072 tokens\\) from 4 IPC files"),
                                    Figure.lines(
                                            4,
                                            "each stream moved to its consumer",
                                            "^rank [0-3]: stream exported, moved to the consumer \\(release == NULL "
                                                    + "in the producer's "
                                                    + "struct\\): true$"),
                                    Figure.lines(3, "every survivor ran every step", "^rank [013]: 24 steps$"),
                                    Figure.line(
                                            "the stopped rank parked inside dispatch",
                                            "^rank 2 stopped inside dispatch of step 10: true$"),
                                    Figure.line(
                                            "the survivors detect the failure and agree on the mask",
                                            "^step 10: survivors agree rank 2 stopped; agreed mask \\[0, 0, 1, 0\\]; "
                                                    + "the step took "),
                                    Figure.line(
                                            "the stopped rank learns that its peers masked it",
                                            "^rank 2 resumed at step 10: RankMaskedException: rank 2 was masked by "
                                                    + "ranks 0, 1, 3; "
                                                    + "found out in [A-Z_]+\\."),
                                    Figure.lines(
                                            3,
                                            "every survivor's stream whole, in place, and kept as an IPC stream file",
                                            "^rank ([013])'s stream: 24 batches, 24 at the queue's own addresses; "
                                                    + "ended cleanly -> "
                                                    + "combined-rank\\1\\.arrows \\([1-9][0-9]* bytes\\)$"),
                                    Figure.line(
                                            "the stopped rank's stream ends with the producer's error",
                                            "^rank 2's stream: 10 batches, 10 at the queue's own addresses; then "
                                                    + "IOException: .*rank 2 "
                                                    + "stopped at step 10 and was masked by the survivors$"),
                                    Figure.line(
                                            "stream batches read = steps x survivors",
                                            "^stream batches read from the survivors: 72 = 24 steps x 3 survivors$"),
                                    Figure.line(
                                            "every streamed batch at the producer's addresses",
                                            "^zero copy from the queue to the consumer: 82 of 82 batches at the "
                                                    + "producer's addresses$"),
                                    Figure.line(
                                            "the agreed masks are the failure's",
                                            "^agreed masks: 24 of 24 steps as expected \\(nobody masked before step "
                                                    + "10, rank 2 from "
                                                    + "then on\\)$"),
                                    Figure.line("tokens routed", "^tokens read 3072; routed and combined 2624 "),
                                    Figure.line(
                                            "every output equals the plain-loop reference",
                                            "^outputs equal to the reference, hidden bit for bit and lost_weight "
                                                    + "exactly: "
                                                    + "2624 of 2624$"),
                                    Figure.line(
                                            "the damaged tokens are the reference's",
                                            "^damaged tokens \\(lost_weight > 0\\): ([1-9][0-9]*); by the reference: "
                                                    + "\\1$"),
                                    Figure.line(
                                            "the lost weight is that of the stopped rank's experts",
                                            "^total lost weight ([1-9][0-9]*\\.[0-9]{4}) = the weights routed to "
                                                    + "rank 2's experts by "
                                                    + "the survivors' tokens: \\1$"),
                                    Figure.line(
                                            "the IPC stream files hold what the consumers saw",
                                            "^IPC stream files: 72 batches read back, 72 identical to the C stream's$"),
                                    Figure.line(
                                            "the detection step in the latency figures",
                                            "^detection step 10: [0-9]+ ms \\(timeout 250 ms\\)"),
                                    Figure.line("no leak", "^bytes still allocated: 0$")),
                            2));

    private NotebookFigures() {}
}
