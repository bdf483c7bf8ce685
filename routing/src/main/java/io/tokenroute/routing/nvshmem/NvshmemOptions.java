package io.tokenroute.routing.nvshmem;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * How a process joins an {@code nvshmem} group: where rank 0 serves the NVSHMEM unique id, how long joining may take,
 * and the NVSHMEM environment the library sets for the process (users never export NVSHMEM variables themselves;
 * {@code NVSHMEM_DISABLE_NVLS=1} is always forced, NVLink multicast stays off).
 *
 * @param rendezvous host:port where rank 0 serves the unique id ({@link UniqueIdRendezvous}); every rank uses the same
 *     address, rank 0 binds it
 * @param joinTimeout how long rank 0 waits for every rank to fetch the id, and how long the others try to reach rank 0
 * @param socketInterface network interface NVSHMEM's unique-id bootstrap uses ({@code lo} on a single host; the
 *     interface of rank 0's address across hosts)
 * @param remoteTransport whether NVSHMEM may use a remote (IB/RDMA) transport for peers on other hosts; off, only
 *     peers reachable over NVLink/PCIe peer mappings take part
 * @param symmetricHeapBytes NVSHMEM symmetric heap per process ({@code NVSHMEM_SYMMETRIC_SIZE}); must hold every
 *     buffer the process opens ({@link NvshmemBuffer#symmetricBytes})
 * @param deviceKernels the NVSHMEM-linked kernel cubin ({@code build-nvshmem-kernels.sh}), or null: needed when a peer
 *     is not reachable by pointer, or when {@link #forceDeviceCalls} is set
 * @param forceDeviceCalls reach every peer through NVSHMEM device calls even where {@code nvshmem_ptr} gives a pointer
 *     (tests the remote path on one GPU)
 */
public record NvshmemOptions(InetSocketAddress rendezvous, Duration joinTimeout, String socketInterface,
        boolean remoteTransport, long symmetricHeapBytes, Path deviceKernels, boolean forceDeviceCalls) {

    /** System property naming the rendezvous address ({@code host:port}). */
    public static final String RENDEZVOUS_PROPERTY = "tokenroute.rendezvous";
    /** Environment variable naming the rendezvous address, used when the property is absent. */
    public static final String RENDEZVOUS_ENV = "TOKENROUTE_RENDEZVOUS";

    public NvshmemOptions {
        Objects.requireNonNull(rendezvous, "rendezvous");
        Objects.requireNonNull(joinTimeout, "joinTimeout");
        Objects.requireNonNull(socketInterface, "socketInterface");
        if (joinTimeout.isNegative() || joinTimeout.isZero()) {
            throw new IllegalArgumentException("joinTimeout must be positive, got " + joinTimeout);
        }
        if (symmetricHeapBytes <= 0) {
            throw new IllegalArgumentException("symmetricHeapBytes must be positive, got " + symmetricHeapBytes);
        }
        if (forceDeviceCalls && deviceKernels == null) {
            throw new IllegalArgumentException("forceDeviceCalls needs the NVSHMEM-linked kernels (deviceKernels)");
        }
    }

    /**
     * Single-host defaults: the rendezvous address from {@value #RENDEZVOUS_PROPERTY} or {@value #RENDEZVOUS_ENV}
     * (else {@code 127.0.0.1:29517}), 60 s to join, loopback bootstrap, no remote transport, pointer kernels only.
     *
     * @param symmetricHeapBytes see {@link #symmetricHeapBytes()}
     */
    public static NvshmemOptions singleHost(long symmetricHeapBytes) {
        String address = System.getProperty(RENDEZVOUS_PROPERTY, System.getenv(RENDEZVOUS_ENV));
        InetSocketAddress at = address == null ? new InetSocketAddress("127.0.0.1", 29517)
                : UniqueIdRendezvous.parseAddress(address);
        return new NvshmemOptions(at, Duration.ofSeconds(60), "lo", false, symmetricHeapBytes, null, false);
    }

    /** These options with another rendezvous address. */
    public NvshmemOptions withRendezvous(InetSocketAddress address) {
        return new NvshmemOptions(address, joinTimeout, socketInterface, remoteTransport, symmetricHeapBytes,
                deviceKernels, forceDeviceCalls);
    }

    /** These options with the NVSHMEM-linked kernels, optionally forced on for every peer. */
    public NvshmemOptions withDeviceKernels(Path cubin, boolean force) {
        return new NvshmemOptions(rendezvous, joinTimeout, socketInterface, remoteTransport, symmetricHeapBytes, cubin,
                force);
    }
}
