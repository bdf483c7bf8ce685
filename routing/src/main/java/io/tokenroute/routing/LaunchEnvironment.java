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

import java.net.InetSocketAddress;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Where a process stands in a multi-process job, as common launchers tell it through the environment, so that a job
 * starts under them without a wrapper script:
 *
 * <table>
 *   <caption>Variables read, first match wins</caption>
 *   <tr><th>what</th><th>TokenRoute</th><th>torchrun / PyTorch</th><th>Slurm</th><th>Open MPI</th><th>PMI</th></tr>
 *   <tr><td>rank</td><td>TOKENROUTE_RANK</td><td>RANK</td><td>SLURM_PROCID</td><td>OMPI_COMM_WORLD_RANK</td>
 *       <td>PMI_RANK</td></tr>
 *   <tr><td>world size</td><td>TOKENROUTE_WORLD_SIZE</td><td>WORLD_SIZE</td><td>SLURM_NTASKS</td>
 *       <td>OMPI_COMM_WORLD_SIZE</td><td>PMI_SIZE</td></tr>
 *   <tr><td>local rank (GPU choice)</td><td>TOKENROUTE_LOCAL_RANK</td><td>LOCAL_RANK</td><td>SLURM_LOCALID</td>
 *       <td>OMPI_COMM_WORLD_LOCAL_RANK</td><td>MPI_LOCALRANKID</td></tr>
 *   <tr><td>rendezvous</td><td>TOKENROUTE_RENDEZVOUS=host:port</td><td>MASTER_ADDR + MASTER_PORT</td><td></td>
 *       <td></td><td></td></tr>
 *   <tr><td>job id (shm group name)</td><td>TOKENROUTE_JOB</td><td>TORCHELASTIC_RUN_ID</td><td>SLURM_JOB_ID</td>
 *       <td>OMPI_MCA_orte_ess_jobid</td><td></td></tr>
 * </table>
 *
 * @param rank this process's rank, if the environment names one
 * @param worldSize the number of ranks, if named
 * @param localRank this process's index among the ranks of its host, if named
 * @param rendezvous where rank 0 serves the {@code nvshmem} rendezvous, or null
 * @param jobId an identifier shared by the job's processes, or null
 */
public record LaunchEnvironment(
        OptionalInt rank, OptionalInt worldSize, OptionalInt localRank, InetSocketAddress rendezvous, String jobId) {

    /** TokenRoute's own variable for the rank; read before every launcher's. */
    public static final String RANK_ENV = "TOKENROUTE_RANK";
    /** TokenRoute's own variable for the world size. */
    public static final String WORLD_SIZE_ENV = "TOKENROUTE_WORLD_SIZE";
    /** TokenRoute's own variable for the local rank (which GPU of the host). */
    public static final String LOCAL_RANK_ENV = "TOKENROUTE_LOCAL_RANK";

    /** The current process's environment. */
    public static LaunchEnvironment fromSystem() {
        return of(System.getenv());
    }

    /** Reads {@code env} (see the class comment). */
    public static LaunchEnvironment of(Map<String, String> env) {
        return new LaunchEnvironment(
                firstInt(env, RANK_ENV, "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"),
                firstInt(env, WORLD_SIZE_ENV, "WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
                firstInt(
                        env,
                        LOCAL_RANK_ENV,
                        "LOCAL_RANK",
                        "SLURM_LOCALID",
                        "OMPI_COMM_WORLD_LOCAL_RANK",
                        "MPI_LOCALRANKID"),
                rendezvousOf(env),
                first(env, "TOKENROUTE_JOB", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "OMPI_MCA_orte_ess_jobid"));
    }

    /** This process's rank; throws naming the variables when the environment has none. */
    public int requireRank(String transport) {
        return rank.orElseThrow(() -> new IllegalStateException("transport " + transport + " runs one rank per"
                + " process and needs the rank from the environment: set TOKENROUTE_RANK (or start under a launcher"
                + " that sets RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK)"));
    }

    /** Checks a world size the environment names against the configuration's rank count. */
    public void checkWorldSize(int ranks) {
        if (worldSize.isPresent() && worldSize.getAsInt() != ranks) {
            throw new IllegalStateException("the environment says the job has " + worldSize.getAsInt() + " ranks, the"
                    + " buffer configuration " + ranks + ": start as many processes as BufferConfig.ranks()");
        }
    }

    private static OptionalInt firstInt(Map<String, String> env, String... names) {
        for (String name : names) {
            String v = env.get(name);
            if (v != null && !v.isBlank()) {
                try {
                    return OptionalInt.of(Integer.parseInt(v.trim()));
                } catch (NumberFormatException e) {
                    throw new IllegalStateException("environment variable " + name + "=" + v + " is not a number", e);
                }
            }
        }
        return OptionalInt.empty();
    }

    private static String first(Map<String, String> env, String... names) {
        for (String name : names) {
            String v = env.get(name);
            if (v != null && !v.isBlank()) {
                return v.trim();
            }
        }
        return null;
    }

    private static InetSocketAddress rendezvousOf(Map<String, String> env) {
        String own = env.get("TOKENROUTE_RENDEZVOUS");
        if (own != null && !own.isBlank()) {
            int colon = own.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalStateException("TOKENROUTE_RENDEZVOUS=" + own + " is not host:port");
            }
            return InetSocketAddress.createUnresolved(
                    own.substring(0, colon), port("TOKENROUTE_RENDEZVOUS", own.substring(colon + 1)));
        }
        String host = env.get("MASTER_ADDR");
        String port = env.get("MASTER_PORT");
        if (host != null && port != null && !host.isBlank() && !port.isBlank()) {
            return InetSocketAddress.createUnresolved(host.trim(), port("MASTER_PORT", port.trim()));
        }
        return null;
    }

    private static int port(String name, String value) {
        try {
            int p = Integer.parseInt(value);
            if (p <= 0 || p > 65_535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalStateException("environment variable " + name + ": " + value + " is not a port", e);
        }
    }
}
