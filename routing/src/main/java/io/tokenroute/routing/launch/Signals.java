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
package io.tokenroute.routing.launch;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * POSIX signals through the {@code kill} command (Java can signal other processes only with SIGTERM/SIGKILL through
 * {@link ProcessHandle#destroy}, and never itself).
 */
final class Signals {
    private static volatile String command;

    private Signals() {}

    /** The {@code kill} executable, or null where there is none. */
    static String killCommand() {
        String found = command;
        if (found == null) {
            found = locate();
            command = found == null ? "" : found;
        }
        return found == null || found.isEmpty() ? null : found;
    }

    private static String locate() {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "kill"))) {
                    return Path.of(dir, "kill").toString();
                }
            }
        }
        for (String candidate : new String[] {"/bin/kill", "/usr/bin/kill"}) {
            if (Files.isExecutable(Path.of(candidate))) {
                return candidate;
            }
        }
        return null;
    }

    /**
     * Sends {@code signal} (a name such as {@code KILL}, {@code STOP}, {@code CONT}) to {@code pid}, by starting
     * {@code kill -SIGNAL pid}. With {@code wait}, returns after the command exited (the signal was sent).
     *
     * @throws IOException where {@code kill} is missing or fails
     */
    static void send(long pid, String signal, boolean wait) throws IOException {
        String kill = killCommand();
        if (kill == null) {
            throw new IOException("no 'kill' command on this machine (PATH, /bin, /usr/bin): cannot send SIG" + signal);
        }
        Process p = new ProcessBuilder(kill, "-" + signal, Long.toString(pid))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectErrorStream(true)
                .start();
        if (!wait) {
            return;
        }
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("'kill -" + signal + " " + pid + "' did not finish within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while sending SIG" + signal + " to " + pid, e);
        }
        if (p.exitValue() != 0) {
            throw new IOException("'kill -" + signal + " " + pid + "' exited with " + p.exitValue());
        }
    }
}
