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
package io.tokenroute.routing.testkit;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * CPU overload for tests: N processes that spin on the CPU (plain {@code sh} loops, as an operator's noisy neighbour
 * would), destroyed on close. On the 2-core CI machine four of them are the overload the elastic contract names.
 */
public final class BusyProcesses implements AutoCloseable {
    private final List<Process> processes = new ArrayList<>();

    /** Starts {@code count} spinning processes (each stops by itself after an hour should this JVM die first). */
    public BusyProcesses(int count) {
        try {
            for (int i = 0; i < count; i++) {
                processes.add(new ProcessBuilder("timeout", "3600", "sh", "-c", "while :; do :; done")
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start());
            }
        } catch (IOException e) {
            close();
            throw new IllegalStateException("could not start a busy process", e);
        }
    }

    /** How many are spinning. */
    public int count() {
        return (int) processes.stream().filter(Process::isAlive).count();
    }

    @Override
    public void close() {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : processes) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
