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
package io.tokenroute.routing.nvshmem;

import io.tokenroute.routing.security.JobSecret;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * How a process joins an {@code nvshmem} group: where rank 0 serves the NVSHMEM unique id, the job secret the ranks
 * prove to each other there, how long joining may take, and the NVSHMEM environment the library sets for the process
 * (users never export NVSHMEM variables themselves;
 * {@code NVSHMEM_DISABLE_NVLS=1} is always forced, NVLink multicast stays off).
 *
 * @param rendezvous host:port where rank 0 serves the unique id ({@link UniqueIdRendezvous}); every rank uses the same
 *     address, rank 0 binds it, so it names one interface: loopback ({@code 127.0.0.1}) for a single-host job, rank
 *     0's host across hosts; a wildcard address ({@code 0.0.0.0}, {@code ::}) is refused
 * @param joinTimeout how long rank 0 waits for every rank to fetch the id, and how long the others try to reach rank 0
 * @param socketInterface network interface NVSHMEM's unique-id bootstrap uses ({@code lo} on a single host; the
 *     interface of rank 0's address across hosts), or null to leave it to NVSHMEM (or to
 *     {@code NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME} in the process environment)
 * @param remoteTransport whether NVSHMEM may use a remote (IB/RDMA) transport for peers on other hosts; off, only
 *     peers reachable over NVLink/PCIe peer mappings take part
 * @param symmetricHeapBytes NVSHMEM symmetric heap per process ({@code NVSHMEM_SYMMETRIC_SIZE}); must hold every
 *     buffer the process opens ({@link NvshmemBuffer#symmetricBytes})
 * @param deviceKernels the NVSHMEM-linked kernel cubin ({@code build-nvshmem-kernels.sh}), or null: needed when a peer
 *     is not reachable by pointer, or when {@link #forceDeviceCalls} is set
 * @param forceDeviceCalls reach every peer through NVSHMEM device calls even where {@code nvshmem_ptr} gives a pointer
 *     (tests the remote path on one GPU)
 * @param secret the job secret every rank holds ({@link JobSecret}), or null to take it from the environment
 *     ({@value JobSecret#ENV} or {@value JobSecret#FILE_ENV}) when joining; a group of more than one rank does not
 *     start without one ({@link #jobSecret()}). Never shown by {@link #toString()}
 */
public record NvshmemOptions(
        InetSocketAddress rendezvous,
        Duration joinTimeout,
        String socketInterface,
        boolean remoteTransport,
        long symmetricHeapBytes,
        Path deviceKernels,
        boolean forceDeviceCalls,
        JobSecret secret) {

    /** System property naming the rendezvous address ({@code host:port}). */
    public static final String RENDEZVOUS_PROPERTY = "tokenroute.rendezvous";
    /** Environment variable naming the rendezvous address, used when the property is absent. */
    public static final String RENDEZVOUS_ENV = "TOKENROUTE_RENDEZVOUS";

    public NvshmemOptions {
        Objects.requireNonNull(rendezvous, "rendezvous");
        Objects.requireNonNull(joinTimeout, "joinTimeout");
        if (joinTimeout.isNegative() || joinTimeout.isZero()) {
            throw new IllegalArgumentException("joinTimeout must be positive, got " + joinTimeout);
        }
        if (symmetricHeapBytes <= 0) {
            throw new IllegalArgumentException("symmetricHeapBytes must be positive, got " + symmetricHeapBytes);
        }
        if (forceDeviceCalls && deviceKernels == null) {
            throw new IllegalArgumentException("forceDeviceCalls needs the NVSHMEM-linked kernels (deviceKernels)");
        }
        if (UniqueIdRendezvous.isWildcard(rendezvous)) {
            throw new IllegalArgumentException("rendezvous address " + rendezvous.getHostString() + ":"
                    + rendezvous.getPort() + " is a wildcard: rank 0 would listen on every interface and the others"
                    + " could not reach it; use 127.0.0.1 on one host, rank 0's host name or address across hosts");
        }
    }

    /** Options whose job secret is taken from the environment when joining ({@code secret} null). */
    public NvshmemOptions(
            InetSocketAddress rendezvous,
            Duration joinTimeout,
            String socketInterface,
            boolean remoteTransport,
            long symmetricHeapBytes,
            Path deviceKernels,
            boolean forceDeviceCalls) {
        this(
                rendezvous,
                joinTimeout,
                socketInterface,
                remoteTransport,
                symmetricHeapBytes,
                deviceKernels,
                forceDeviceCalls,
                null);
    }

    /**
     * Single-host defaults: the rendezvous address from {@value #RENDEZVOUS_PROPERTY} or {@value #RENDEZVOUS_ENV}
     * (else {@code 127.0.0.1:29517}), 60 s to join, loopback bootstrap, no remote transport, pointer kernels only, the
     * job secret from the environment.
     *
     * @param symmetricHeapBytes see {@link #symmetricHeapBytes()}
     */
    public static NvshmemOptions singleHost(long symmetricHeapBytes) {
        String address = System.getProperty(RENDEZVOUS_PROPERTY, System.getenv(RENDEZVOUS_ENV));
        InetSocketAddress at =
                address == null ? new InetSocketAddress("127.0.0.1", 29517) : UniqueIdRendezvous.parseAddress(address);
        return new NvshmemOptions(at, Duration.ofSeconds(60), "lo", false, symmetricHeapBytes, null, false);
    }

    /** These options with another rendezvous address. */
    public NvshmemOptions withRendezvous(InetSocketAddress address) {
        return new NvshmemOptions(
                address,
                joinTimeout,
                socketInterface,
                remoteTransport,
                symmetricHeapBytes,
                deviceKernels,
                forceDeviceCalls,
                secret);
    }

    /**
     * Options for a rank whose place in the job comes from its launcher ({@link
     * io.tokenroute.routing.LaunchEnvironment}): {@link #singleHost} with the launcher's rendezvous address ({@code
     * TOKENROUTE_RENDEZVOUS}, or torchrun's {@code MASTER_ADDR} and {@code MASTER_PORT}) when it names one. A
     * rendezvous on another host leaves the bootstrap interface to NVSHMEM ({@code NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME}
     * chooses it) instead of {@code lo}.
     *
     * @param rendezvous the launcher's rendezvous address, or null for {@link #singleHost}'s
     * @param symmetricHeapBytes see {@link #symmetricHeapBytes()}
     */
    public static NvshmemOptions launched(InetSocketAddress rendezvous, long symmetricHeapBytes) {
        NvshmemOptions options = singleHost(symmetricHeapBytes);
        if (rendezvous == null) {
            return options;
        }
        String host = rendezvous.getHostString();
        boolean loopback = host.equals("localhost")
                || host.startsWith("127.")
                || host.equals("::1")
                || (rendezvous.getAddress() != null && rendezvous.getAddress().isLoopbackAddress());
        return new NvshmemOptions(
                rendezvous,
                options.joinTimeout(),
                loopback ? options.socketInterface() : null,
                options.remoteTransport(),
                symmetricHeapBytes,
                null,
                false,
                null);
    }

    /** These options with the NVSHMEM-linked kernels, optionally forced on for every peer. */
    public NvshmemOptions withDeviceKernels(Path cubin, boolean force) {
        return new NvshmemOptions(
                rendezvous, joinTimeout, socketInterface, remoteTransport, symmetricHeapBytes, cubin, force, secret);
    }

    /** These options with the given job secret (instead of the environment's). */
    public NvshmemOptions withSecret(JobSecret jobSecret) {
        return new NvshmemOptions(
                rendezvous,
                joinTimeout,
                socketInterface,
                remoteTransport,
                symmetricHeapBytes,
                deviceKernels,
                forceDeviceCalls,
                Objects.requireNonNull(jobSecret, "jobSecret"));
    }

    /**
     * The job secret the rendezvous authenticates with: {@link #secret()} if given, else the environment's
     * ({@link JobSecret#fromEnvironment()}).
     *
     * @throws RendezvousException if there is none: a multi-process job never starts unauthenticated (every local
     *     user can reach a loopback port, so loopback alone protects nothing)
     * @throws IllegalArgumentException if the environment's is unusable (too short, a file others can read, ...)
     */
    public JobSecret jobSecret() {
        if (secret != null) {
            return secret;
        }
        return JobSecret.fromEnvironment()
                .orElseThrow(() -> new RendezvousException("no job secret: set "
                        + JobSecret.ENV + " (e.g. from openssl rand -hex 32) or " + JobSecret.FILE_ENV
                        + " (a file only this"
                        + " user can read) in every rank's environment, or pass one with NvshmemOptions.withSecret;"
                        + " RankLauncher gives the ranks it starts one"));
    }
}
