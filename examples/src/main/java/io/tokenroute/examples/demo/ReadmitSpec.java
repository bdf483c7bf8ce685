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
 * One readmission, {@code RANK@STEP} on the command line: before decode step {@code step}, the stopped rank
 * {@code rank} resumes, and it and the survivors call {@code ElasticBuffer.readmit}; from that step on it routes
 * tokens and hosts experts again.
 *
 * @param rank the rank coming back (it must have failed earlier)
 * @param step the first decode step it takes part in again
 */
public record ReadmitSpec(int rank, int step) {
    private static final Pattern SYNTAX = Pattern.compile("(\\d+)@(\\d+)");

    /** Checks the fields' own ranges; how they fit a run is {@link DemoConfig}'s business. */
    public ReadmitSpec {
        if (rank < 0 || step < 0) {
            throw new IllegalArgumentException("readmit needs rank >= 0 and step >= 0; got " + rank + "@" + step);
        }
    }

    /**
     * Parses {@code RANK@STEP}, e.g. {@code 3@160}.
     *
     * @throws IllegalArgumentException with the expected syntax when {@code text} does not match
     */
    public static ReadmitSpec parse(String text) {
        Matcher m = SYNTAX.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not RANK@STEP (e.g. 3@160)");
        }
        try {
            return new ReadmitSpec(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "': rank or step is too large", e);
        }
    }

    @Override
    public String toString() {
        return rank + "@" + step;
    }
}
