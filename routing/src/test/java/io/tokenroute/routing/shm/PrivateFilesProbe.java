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

import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.security.JobSecret;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A child process for {@link GroupFileAccessTest}, where the parent's umask or environment is the point:
 * <ul>
 *   <li>{@code create <groupFile>}: creates the group file (and its missing directories) and unmaps it without
 *       leaving, so the file stays for the parent to inspect;</li>
 *   <li>{@code secret} (started by {@link RankLauncher}): reports the job secret its environment holds and whether its
 *       own command line contains it.</li>
 * </ul>
 * Exit 0 on success, 1 on any error (printed).
 */
public final class PrivateFilesProbe {
    private PrivateFilesProbe() {}

    public static void main(String[] args) {
        int code = 0;
        try {
            switch (args[0]) {
                case "create" ->
                    ShmMemory.openOrCreate(Path.of(args[1]), GroupFileAccessTest.config())
                            .close();
                case "secret" -> {
                    LaunchedRank.start();
                    JobSecret secret = JobSecret.fromEnvironment().orElseThrow();
                    Map<String, String> env = new LinkedHashMap<>();
                    secret.exportTo(env);
                    String text = env.get(JobSecret.ENV);
                    String commandLine = Files.readString(Path.of("/proc/self/cmdline"), StandardCharsets.UTF_8);
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("secret", text);
                    result.put("onCommandLine", commandLine.contains(text));
                    LaunchedRank.result(result);
                }
                case "environment" -> {
                    LaunchedRank.start();
                    LaunchEnvironment env = LaunchEnvironment.fromSystem();
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("rank", env.rank().orElse(-1));
                    result.put("worldSize", env.worldSize().orElse(-1));
                    result.put("localRank", env.localRank().orElse(-1));
                    result.put(
                            "rendezvous",
                            env.rendezvous().getHostString() + ":"
                                    + env.rendezvous().getPort());
                    LaunchedRank.result(result);
                }
                default -> throw new IllegalArgumentException("unknown probe " + args[0]);
            }
        } catch (Throwable t) {
            t.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }
}
