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

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Semaphore;

/**
 * The rank side of {@link RankLauncher}: what a process started by it learns (its rank, the group file, an injected
 * fault, from system properties) and how it talks back (one line per event or result on stdout, read by the parent).
 *
 * <p>A launched rank calls {@link #start()} first: a daemon thread then reads the parent's commands on stdin (the
 * {@code resume} after a SIGSTOP fault) and ends the process with exit code {@link #ORPHANED_EXIT} when stdin closes,
 * i.e. when the parent died, so no rank outlives its launcher.
 */
public final class LaunchedRank {
    /** System property: this process's rank. */
    public static final String RANK_PROPERTY = "tokenroute.launch.rank";
    /** System property: R. */
    public static final String RANKS_PROPERTY = "tokenroute.launch.ranks";
    /** System property: the group file. */
    public static final String GROUP_PROPERTY = "tokenroute.launch.group";
    /** System property: a {@link RankFault} to inject, e.g. {@code KILL:DISPATCH_SEND:3}. */
    public static final String FAULT_PROPERTY = "tokenroute.launch.fault";
    /** Exit code of a rank whose launcher went away. */
    public static final int ORPHANED_EXIT = 3;

    static final String EVENT_PREFIX = "tokenroute-event ";
    static final String RESULT_PREFIX = "tokenroute-result ";
    static final String RESUME = "resume";

    private static final Semaphore RESUMES = new Semaphore(0);
    private static boolean started;

    private LaunchedRank() {}

    /** Whether this process was started by a {@link RankLauncher}. */
    public static boolean isLaunched() {
        return System.getProperty(RANK_PROPERTY) != null;
    }

    /** This process's rank, as the launcher assigned it. */
    public static int rank() {
        return Integer.parseInt(required(RANK_PROPERTY));
    }

    /** R. */
    public static int ranks() {
        return Integer.parseInt(required(RANKS_PROPERTY));
    }

    /** The group file the launcher chose. */
    public static Path groupFile() {
        return Path.of(required(GROUP_PROPERTY));
    }

    private static String required(String property) {
        String v = System.getProperty(property);
        if (v == null) {
            throw new IllegalStateException(
                    "system property " + property + " is not set: this process was not" + " started by RankLauncher");
        }
        return v;
    }

    /** Starts the stdin command reader (idempotent; does nothing outside a launched process). */
    public static synchronized void start() {
        if (started || !isLaunched()) {
            return;
        }
        started = true;
        Thread reader = new Thread(LaunchedRank::readCommands, "tokenroute-launcher-commands");
        reader.setDaemon(true);
        reader.start();
    }

    private static void readCommands() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.trim().equals(RESUME)) {
                    RESUMES.release();
                }
            }
        } catch (IOException e) {
            // same as end of input
        }
        System.err.println("rank " + System.getProperty(RANK_PROPERTY) + ": launcher gone (stdin closed), exiting");
        Runtime.getRuntime().halt(ORPHANED_EXIT);
    }

    /** Blocks until the launcher sent {@code resume} (returns at once outside a launched process). */
    static void awaitResume() {
        if (!isLaunched()) {
            return;
        }
        start();
        RESUMES.acquireUninterruptibly();
    }

    /**
     * The fault the launcher asked this rank to inject ({@link #FAULT_PROPERTY}), as a phase listener; a no-op
     * listener if there is none.
     */
    public static PhaseListener faultListener() {
        String spec = System.getProperty(FAULT_PROPERTY);
        if (spec == null || spec.isBlank()) {
            return PhaseListener.NONE;
        }
        start();
        return RankFault.parse(spec).listener();
    }

    /** Reports an event to the launcher ({@link RankLauncher#awaitEvent}); {@code name} has no spaces. */
    public static void event(String name, String detail) {
        if (name.isEmpty() || name.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("event names have no spaces: '" + name + "'");
        }
        String line = EVENT_PREFIX + name + (detail == null || detail.isEmpty() ? "" : " " + detail);
        synchronized (System.out) {
            System.out.println(line);
            System.out.flush();
        }
    }

    /**
     * Reports the rank's result, once, at the end: {@code key=value} pairs ({@link RankLauncher.RankResult#values}).
     */
    public static void result(Map<String, ?> values) {
        StringBuilder line = new StringBuilder(RESULT_PREFIX);
        values.forEach((k, v) -> {
            if (k.isEmpty() || k.chars().anyMatch(c -> Character.isWhitespace(c) || c == '=')) {
                throw new IllegalArgumentException("result keys have no spaces or '=': '" + k + "'");
            }
            line.append(k)
                    .append('=')
                    .append(URLEncoder.encode(String.valueOf(v), StandardCharsets.UTF_8))
                    .append(' ');
        });
        synchronized (System.out) {
            System.out.println(line.toString().trim());
            System.out.flush();
        }
    }
}
