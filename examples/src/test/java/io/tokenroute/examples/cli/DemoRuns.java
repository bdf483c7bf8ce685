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
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.ReadmitReport;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;

/** Runs {@code tokenroute demo} in-process for the tests, and what a run did that does not depend on timing. */
final class DemoRuns {
    /** One finished {@code demo} command: its exit code, what it printed, and the run. */
    record Run(int exit, String printed, DecodeDemo.Run run) {
        DemoSummary summary() {
            return run == null ? null : run.summary();
        }
    }

    private DemoRuns() {}

    /** {@code tokenroute demo ARGS} with standard output and error captured together. */
    static Run demo(List<String> args) {
        StringWriter out = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(out));
        List<String> all = new ArrayList<>(List.of("demo"));
        all.addAll(args);
        int exit = cli.execute(all.toArray(String[]::new));
        return new Run(
                exit,
                out.toString(),
                ((DemoCommand) cli.getSubcommands().get("demo").getCommand()).lastRun());
    }

    /**
     * What a run did that does not depend on timing or on the transport: tokens decoded, checked, rerouted, damaged
     * and recomputed, live ranks and step kinds per step, and per failure and readmission where it was seen, the
     * agreed mask and the re-placement.
     */
    static String signature(DemoSummary s) {
        StringBuilder b = new StringBuilder();
        b.append("decoded ")
                .append(s.tokensDecoded())
                .append(", checked ")
                .append(s.outputsChecked())
                .append(", rerouted ")
                .append(s.tokensRerouted())
                .append(", damaged ")
                .append(s.damagedTokens())
                .append(", recomputed ")
                .append(s.recomputedTokens())
                .append(", mismatches ")
                .append(s.mismatches())
                .append(", live ")
                .append(Arrays.toString(s.liveRanks()))
                .append(", kinds ")
                .append(Arrays.toString(s.stepKinds()))
                .append('\n');
        for (FailureReport f : s.failures()) {
            b.append(f.spec())
                    .append(": step ")
                    .append(f.detectedStep())
                    .append(", in ")
                    .append(f.detectedIn())
                    .append(", mask ")
                    .append(Arrays.toString(f.maskedAfter()))
                    .append(", damaged ")
                    .append(f.damagedTokens())
                    .append(", recomputed ")
                    .append(f.recomputedTokens())
                    .append(", moves ")
                    .append(f.expertsMoved())
                    .append(", unhosted ")
                    .append(Arrays.toString(f.unhostedExperts()))
                    .append('\n');
        }
        for (ReadmitReport r : s.readmits()) {
            b.append(r.spec())
                    .append(": ")
                    .append(r.readmitted())
                    .append(", mask ")
                    .append(Arrays.toString(r.maskedAfter()))
                    .append(", moves ")
                    .append(r.expertsMoved())
                    .append('\n');
        }
        return b.toString();
    }
}
