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
package io.tokenroute.examples.demo;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One injected failure, {@code RANK@STEP:PHASE} on the command line: rank {@code rank} stops at {@code phase} of
 * step {@code step} (0-based) and stays stopped until a {@link ReadmitSpec} brings it back, or the run ends.
 *
 * @param rank the rank that stops
 * @param step the step in which it stops
 * @param phase where in that step
 */
public record FailureSpec(int rank, int step, FailurePhase phase) {
    private static final Pattern SYNTAX = Pattern.compile("(\\d+)@(\\d+):([A-Za-z_-]+)");

    /** Checks the fields' own ranges; how they fit a run is {@link DemoConfig}'s business. */
    public FailureSpec {
        if (rank < 0 || step < 0 || phase == null) {
            throw new IllegalArgumentException(
                    "failure needs rank >= 0, step >= 0 and a phase; got " + rank + "@" + step + ":" + phase);
        }
    }

    /**
     * Parses {@code RANK@STEP:PHASE}, e.g. {@code 3@60:dispatch}.
     *
     * @throws IllegalArgumentException with the expected syntax when {@code text} does not match
     */
    public static FailureSpec parse(String text) {
        Matcher m = SYNTAX.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not RANK@STEP:PHASE (e.g. 3@60:dispatch; PHASE is one"
                    + " of " + FailurePhase.labels() + ")");
        }
        try {
            return new FailureSpec(
                    Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), FailurePhase.parse(m.group(3)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "': rank or step is too large", e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + text + "': " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return rank + "@" + step + ":" + phase.label();
    }
}
