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
/**
 * Starting the ranks of a one-rank-per-process group ({@code shm}, {@code nvshmem}) on this host and injecting real
 * process faults into them, for tests, benchmarks and the demo. A job under Slurm, Open MPI or torchrun needs none of
 * this: its ranks read their place from the environment ({@link io.tokenroute.routing.LaunchEnvironment}).
 *
 * <ul>
 *   <li>{@link io.tokenroute.routing.launch.RankLauncher}: starts R rank processes with this JVM's binary and class
 *       path, gives them the job secret in their environment, collects their exit codes, events and results, and
 *       injects faults; the rank side is {@link io.tokenroute.routing.launch.LaunchedRank}.</li>
 *   <li>{@link io.tokenroute.routing.launch.RankFault}: a rank SIGKILLs itself ({@code kill -9 <own pid>}; no shutdown
 *       hooks run, the process is simply gone) or SIGSTOPs itself ({@code kill -STOP <own pid>}; the whole JVM
 *       freezes until the parent's SIGCONT, {@link io.tokenroute.routing.launch.RankLauncher#resume}) when it reaches
 *       a chosen phase for a chosen time.</li>
 * </ul>
 *
 * <p>Depends on the transports below it ({@code shm} for the group file's directory and process liveness,
 * {@code security} for the job secret); no transport depends on it.
 */
package io.tokenroute.routing.launch;
