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
package io.tokenroute.routing.shm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/** Process identity and liveness as the attach words record them: a pid plus the process's start time. */
public final class Processes {
    /** Start times of one process read through different handles agree to the clock tick; allow for rounding. */
    private static final long START_TOLERANCE_MILLIS = 1_000;

    private Processes() {}

    /** This process's pid. */
    public static long selfPid() {
        return ProcessHandle.current().pid();
    }

    /** Start time of {@code pid} in epoch milliseconds, 0 if unknown. */
    public static long startMillis(long pid) {
        return ProcessHandle.of(pid)
                .flatMap(h -> h.info().startInstant())
                .map(Instant::toEpochMilli)
                .orElse(0L);
    }

    /**
     * Whether {@code pid} is a running (or stopped) process that started at {@code startMillis} (0 = not recorded):
     * a zombie counts as dead (ProcessHandle reports zombies alive), and so does a pid reused by a later process.
     */
    public static boolean isAlive(long pid, long startMillis) {
        if (pid <= 0) {
            return false;
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return false;
        }
        char state = linuxState(pid);
        if (state == 'Z' || state == 'X' || state == 'x') {
            return false;
        }
        if (startMillis != 0) {
            long start = handle.get()
                    .info()
                    .startInstant()
                    .map(Instant::toEpochMilli)
                    .orElse(0L);
            return start == 0 || Math.abs(start - startMillis) <= START_TOLERANCE_MILLIS;
        }
        return true;
    }

    /**
     * The state letter of {@code /proc/<pid>/stat} (R, S, D, T = stopped, t = traced, Z = zombie, ...), or '?' where
     * there is no procfs or the process is gone.
     */
    public static char linuxState(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            int close = stat.lastIndexOf(')');
            return close >= 0 && close + 2 < stat.length() ? stat.charAt(close + 2) : '?';
        } catch (IOException | RuntimeException e) {
            return '?';
        }
    }
}
