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
package io.tokenroute.routing;

import io.tokenroute.routing.cuda.CudaTransports;
import io.tokenroute.routing.local.LocalGroup;
import io.tokenroute.routing.shm.ShmGroup;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;

/**
 * A transport named as a string, so that an engine, the demo and the CLI change transport with one argument:
 *
 * <table>
 *   <caption>Transport specifications</caption>
 *   <tr><th>spec</th><th>ranks are</th><th>this process hosts</th></tr>
 *   <tr><td>{@code local}</td><td>threads of this JVM</td><td>every rank</td></tr>
 *   <tr><td>{@code shm:NAME} or {@code shm:/path/file.shm}, {@code shm} (name = the launcher's job id)</td>
 *       <td>processes of one host over a shared-memory file</td><td>its rank from the environment</td></tr>
 *   <tr><td>{@code cuda-local} or {@code cuda-local:DEVICE}</td><td>threads driving one GPU</td><td>every
 * rank</td></tr>
 *   <tr><td>{@code nvshmem} or {@code nvshmem:DEVICE}</td><td>processes, one NVSHMEM PE each, any GPUs and hosts</td>
 *       <td>its rank from the environment (GPU: DEVICE, else the local rank modulo the GPUs)</td></tr>
 * </table>
 *
 * <p>One-rank-per-process transports read the rank, world size, rendezvous address and job id from the environment
 * that common launchers set ({@link LaunchEnvironment}).
 *
 * @param name the transport: {@code local}, {@code shm}, {@code cuda-local} or {@code nvshmem}
 * @param argument what follows the colon, or null
 */
public record TransportSpec(String name, String argument) {
    public static final String LOCAL = "local";
    public static final String SHM = "shm";
    public static final String CUDA_LOCAL = "cuda-local";
    public static final String NVSHMEM = "nvshmem";
    /** How long a process waits for the other ranks of a one-rank-per-process group to join. */
    public static final Duration JOIN_TIMEOUT = Duration.ofSeconds(60);

    public TransportSpec {
        switch (name) {
            case LOCAL -> {
                if (argument != null) {
                    throw new IllegalArgumentException("transport local takes no argument, got local:" + argument);
                }
            }
            case SHM, CUDA_LOCAL, NVSHMEM -> {}
            default ->
                throw new IllegalArgumentException("unknown transport '" + name + "': expected local,"
                        + " shm[:NAME], cuda-local[:DEVICE] or nvshmem[:DEVICE]");
        }
        if ((CUDA_LOCAL.equals(name) || NVSHMEM.equals(name)) && argument != null) {
            try {
                if (Integer.parseInt(argument) < 0) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "transport " + name + ":" + argument + ": the argument is a CUDA"
                                + " device ordinal (0, 1, ...)",
                        e);
            }
        }
    }

    /** Parses {@code local}, {@code shm:NAME}, {@code cuda-local:0}, {@code nvshmem}, ... (case-insensitive name). */
    public static TransportSpec parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException(
                    "no transport given: expected local, shm[:NAME], cuda-local[:DEVICE]" + " or nvshmem[:DEVICE]");
        }
        String trimmed = spec.trim();
        int colon = trimmed.indexOf(':');
        String name = (colon < 0 ? trimmed : trimmed.substring(0, colon)).toLowerCase(Locale.ROOT);
        String argument = colon < 0 || colon == trimmed.length() - 1 ? null : trimmed.substring(colon + 1);
        return new TransportSpec(name, argument);
    }

    /** The CUDA device ordinal the spec names, or {@code fallback}. */
    public int device(int fallback) {
        return argument == null ? fallback : Integer.parseInt(argument);
    }

    /**
     * Opens (or joins) the group.
     *
     * @param config the group's configuration (its rank is ignored)
     * @param allocator pays for the group's host memory
     * @param env where this process stands in the job (one-rank-per-process transports)
     */
    public ElasticGroup open(BufferConfig config, BufferAllocator allocator, LaunchEnvironment env) {
        switch (name) {
            case LOCAL:
                return new LocalGroup(allocator, config);
            case SHM: {
                int rank = env.requireRank(SHM);
                env.checkWorldSize(config.ranks());
                String group = argument != null ? argument : env.jobId();
                if (group == null) {
                    throw new IllegalStateException("transport shm needs a group name shared by the job's processes:"
                            + " shm:NAME, or TOKENROUTE_JOB (or a launcher's job id) in the environment");
                }
                return group.contains("/")
                        ? ShmGroup.join(Path.of(group), config.withRank(rank), allocator, JOIN_TIMEOUT)
                        : ShmGroup.join(group, config.withRank(rank), allocator, JOIN_TIMEOUT);
            }
            case CUDA_LOCAL:
                return CudaTransports.openCudaLocal(device(0), config, allocator);
            case NVSHMEM: {
                int rank = env.requireRank(NVSHMEM);
                env.checkWorldSize(config.ranks());
                return CudaTransports.openNvshmem(argument == null ? -1 : device(0), rank, config, allocator, env);
            }
            default:
                throw new IllegalStateException(name);
        }
    }

    @Override
    public String toString() {
        return argument == null ? name : name + ":" + argument;
    }
}
