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

/**
 * Live feedback from a {@link DecodeDemo} run (progress bars, logs). Called from rank threads: implementations must be
 * thread-safe and quick, since a rank that lingers here makes its peers wait.
 */
public interface DemoListener {
    /** A listener that ignores everything. */
    DemoListener NONE = new DemoListener() {};

    /**
     * {@code completed} decode steps have finished on at least one rank (monotonic); {@code liveRanks} ranks were
     * active after the last of them.
     */
    default void onProgress(int completed, int liveRanks) {}

    /** Something happened: a failure was detected, a rank was readmitted (one line, reported once). */
    default void onEvent(String message) {}
}
