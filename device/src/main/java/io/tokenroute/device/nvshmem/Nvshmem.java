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
package io.tokenroute.device.nvshmem;

import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.DeviceBuffer;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * This process's NVSHMEM session: one processing element (PE) of a group of {@link #ranks()} processes, bootstrapped
 * from a unique id, with a symmetric heap on one CUDA device.
 *
 * <p>Lifecycle, every step collective over all PEs unless noted:
 * <ol>
 *   <li>Rank 0 calls {@link #createUniqueId(Options)} (local) and shares the bytes with every rank, e.g. through
 *       {@code io.tokenroute.routing.nvshmem.UniqueIdRendezvous}. Rank 0 must stay alive until every rank's
 *       {@link #initialize} returned: its process hosts the bootstrap listener.</li>
 *   <li>Every rank calls {@link #initialize} with the same id, its rank, the group size and the same {@link Options}
 *       ({@code initialize} blocks until all ranks joined).</li>
 *   <li>Every rank calls {@link #allocateSymmetric} with the same sizes in the same order, up front: after a peer dies,
 *       {@code nvshmem_malloc}/{@code nvshmem_free}/{@code nvshmem_barrier_all}/{@code nvshmem_finalize} hang, because
 *       each runs a barrier over all PEs.</li>
 *   <li>Kernels use the buffers and the peer addresses from {@link #peerPointer} (local calls).</li>
 *   <li>Healthy end: every rank calls {@link #close()}, which frees the symmetric buffers and finalizes. After any peer
 *       failure: {@link #markFailed()}, then {@link #close()}, which makes no NVSHMEM call at all.</li>
 * </ol>
 *
 * <p>One session per process, ever: NVSHMEM is per process and cannot be re-initialised after a failure, so a second
 * {@link #initialize} throws {@link IllegalStateException}, as does {@link #createUniqueId} once a session exists.
 *
 * <p>Threads: NVSHMEM host calls are serialised ({@code NVSHMEM_THREAD_SERIALIZED}); every method that calls NVSHMEM
 * holds one lock for the duration. {@link #markFailed()} and the teardown of a failed session take no lock that an
 * NVSHMEM call can hold, so they return even while another thread is stuck in a barrier with a dead peer.
 */
public final class Nvshmem implements AutoCloseable {

    /**
     * NVSHMEM's environment in this process, read by NVSHMEM's first call; so it is set once per process (by the first
     * {@link #createUniqueId} or {@link #initialize}) and every later call must pass an equal value. All ranks should
     * use the same options. {@code NVSHMEM_DISABLE_NVLS=1} is always set in addition.
     *
     * @param symmetricHeapBytes {@code NVSHMEM_SYMMETRIC_SIZE}, every PE's symmetric heap in bytes, overriding the
     *     process environment; {@code 0} keeps NVSHMEM's default (1 GiB) or the environment's value
     * @param socketInterface the network interface of the unique-id bootstrap ({@code
     * NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME},
     *     only if the process environment does not set it): {@code "lo"} when all ranks share one host, an interface
     *     that reaches rank 0 (e.g. {@code "eth0"}) across hosts, {@code null} to let NVSHMEM pick
     * @param remoteTransport {@code false} sets {@code NVSHMEM_REMOTE_TRANSPORT=none} (unless the process environment
     *     sets it): peers are reached only by load/store over NVLink/PCIe, as on one host; {@code true} leaves
     *     NVSHMEM's remote transport (IB) selection alone
     */
    public record Options(long symmetricHeapBytes, String socketInterface, boolean remoteTransport) {

        /** @throws IllegalArgumentException if the heap size is negative or the interface name is blank */
        public Options {
            if (symmetricHeapBytes < 0) {
                throw new IllegalArgumentException("negative symmetric heap size " + symmetricHeapBytes);
            }
            if (socketInterface != null && (socketInterface.isBlank() || socketInterface.indexOf('\0') >= 0)) {
                throw new IllegalArgumentException("bad socket interface name '" + socketInterface + "'");
            }
        }

        /** All ranks on this host: bootstrap over {@code lo}, no remote transport. */
        public static Options singleHost(long symmetricHeapBytes) {
            return new Options(symmetricHeapBytes, "lo", false);
        }
    }

    /** Guards the process-wide state below and serialises the static NVSHMEM calls. */
    private static final Object PROCESS = new Object();

    private static Options configured;
    private static boolean initialized;

    private enum State {
        OPEN,
        FAILED,
        CLOSED
    }

    private final CudaDevice device;
    private final int rank;
    private final int ranks;
    /** Serialises this session's NVSHMEM calls; never taken by {@link #markFailed()} or a failed {@link #close()}. */
    private final Object calls = new Object();
    /** The handles given out, in allocation order; appended under {@link #calls}, read by a failed close without it. */
    private final List<SymmetricAllocation> allocations = new CopyOnWriteArrayList<>();
    /** Addresses whose handle has not run its release yet; written from whichever thread closes a handle. */
    private final Set<Long> unreleased = ConcurrentHashMap.newKeySet();

    private volatile State state = State.OPEN;

    private record SymmetricAllocation(long address, long bytes, DeviceBuffer buffer) {}

    private Nvshmem(CudaDevice device, int rank, int ranks) {
        this.device = device;
        this.rank = rank;
        this.ranks = ranks;
    }

    /**
     * The size of a unique id in bytes (128 in NVSHMEM 3.4.5).
     *
     * @throws NvshmemUnavailableException if the library is unavailable
     */
    public static int uniqueIdSize() {
        NvshmemLibrary.require("Nvshmem.uniqueIdSize()");
        return NvshmemNative.uniqueIdSize();
    }

    /**
     * Creates the group's unique id on rank 0 (a local call). Configures NVSHMEM's environment first, because the id
     * embeds the bootstrap socket that the options choose. The id is only meaningful while this process lives.
     *
     * @param options the same options this process will pass to {@link #initialize}
     * @return {@link #uniqueIdSize()} opaque bytes for every rank's {@link #initialize}
     * @throws NvshmemUnavailableException if the library is unavailable
     * @throws IllegalStateException if a session was already initialised in this process, or the environment was
     *     configured with different options
     * @throws NvshmemException if {@code nvshmemx_get_uniqueid} fails
     */
    public static byte[] createUniqueId(Options options) {
        NvshmemLibrary.require("Nvshmem.createUniqueId");
        Objects.requireNonNull(options, "options");
        synchronized (PROCESS) {
            if (initialized) {
                throw new IllegalStateException("Nvshmem.createUniqueId: this process already initialised NVSHMEM;"
                        + " a unique id is for bootstrapping a new group");
            }
            configure(options);
            return NvshmemNative.createUniqueId();
        }
    }

    /**
     * Joins the group as PE {@code rank}: makes {@code device} current, configures NVSHMEM's environment and runs the
     * unique-id bootstrap. Collective: blocks until all {@code ranks} processes called it with the same id.
     *
     * @param device the GPU of this PE; the caller keeps ownership and must keep it open until this session is closed
     * @param uniqueId the bytes from rank 0's {@link #createUniqueId}
     * @param rank this process's PE number, {@code 0 <= rank < ranks}; becomes {@code nvshmem_my_pe()}
     * @param ranks the number of PEs, {@code >= 1}
     * @param options equal on every rank, and equal to the ones passed to {@link #createUniqueId}
     * @return the session; the caller closes it (see the class comment for healthy versus failed teardown)
     * @throws NvshmemUnavailableException if the library is unavailable
     * @throws IllegalArgumentException on a bad rank, group size or id length
     * @throws IllegalStateException if this process already initialised NVSHMEM (also after a failed attempt: NVSHMEM
     *     cannot be retried in the same process), or configured it with different options
     * @throws NvshmemException if the bootstrap or initialisation fails
     */
    public static Nvshmem initialize(CudaDevice device, byte[] uniqueId, int rank, int ranks, Options options) {
        NvshmemLibrary.require("Nvshmem.initialize(rank " + rank + " of " + ranks + ")");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(uniqueId, "uniqueId");
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " is not in [0, " + ranks + ")");
        }
        int idBytes = NvshmemNative.uniqueIdSize();
        if (uniqueId.length != idBytes) {
            throw new IllegalArgumentException("unique id of " + uniqueId.length + " bytes; NVSHMEM's is " + idBytes);
        }
        synchronized (PROCESS) {
            if (initialized) {
                throw new IllegalStateException("NVSHMEM was already initialised in this process; one session per"
                        + " process (rank " + rank + " of " + ranks + ")");
            }
            configure(options);
            initialized = true;
            device.makeCurrent();
            NvshmemNative.init(uniqueId, rank, ranks, device.ordinal());
            int pe = NvshmemNative.myPe();
            int pes = NvshmemNative.nPes();
            if (pe != rank || pes != ranks) {
                throw new NvshmemException("nvshmemx_init_attr: initialised as PE " + pe + " of " + pes + " instead of "
                        + rank + " of " + ranks);
            }
            return new Nvshmem(device, rank, ranks);
        }
    }

    /** This PE's number ({@code nvshmem_my_pe()}). */
    public int rank() {
        return rank;
    }

    /** The number of PEs ({@code nvshmem_n_pes()}). */
    public int ranks() {
        return ranks;
    }

    /** The GPU this session was initialised on (owned by the caller of {@link #initialize}). */
    public CudaDevice device() {
        return device;
    }

    /** Whether {@link #markFailed()} was called (and the session not closed yet). */
    public boolean isFailed() {
        return state == State.FAILED;
    }

    /** Whether {@link #close()} has run. */
    public boolean isClosed() {
        return state == State.CLOSED;
    }

    /**
     * Allocates {@code bytes} on every PE's symmetric heap ({@code nvshmem_malloc}, collective: every PE calls it with
     * the same size, in the same order, before any failure can happen) and returns this PE's part as a
     * {@link DeviceBuffer} on {@link #device()}, not initialised.
     *
     * <p>The session owns the memory. The returned handle lends it: use it like any {@link DeviceBuffer}
     * ({@code toArrowBuf}, raw {@code address()}), close it when done (closing frees nothing and waits on no peer;
     * the memory stays reserved until the session ends). The session closes handles still open at its own
     * {@link #close()}. Do not hand the memory to Arrow with {@code asArrowBufTransferringOwnership}: a healthy
     * {@code close()} refuses to finalize while such a buffer is alive.
     *
     * @param bytes size, {@code > 0}; at most the heap size of {@link Options#symmetricHeapBytes()} minus what is taken
     * @return the handle, open, owned by the caller as described above
     * @throws IllegalArgumentException if {@code bytes <= 0}
     * @throws IllegalStateException after {@link #markFailed()} (the allocation would hang) or {@link #close()}
     * @throws NvshmemException if {@code nvshmem_malloc} returns NULL (heap exhausted)
     */
    public DeviceBuffer allocateSymmetric(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("symmetric allocation of " + bytes + " bytes; must be > 0");
        }
        synchronized (calls) {
            requireHealthy("allocateSymmetric(" + bytes + ")");
            device.makeCurrent();
            long address = NvshmemNative.malloc(bytes);
            unreleased.add(address);
            DeviceBuffer buffer = DeviceBuffer.adopt(address, bytes, device.ordinal(), unreleased::remove);
            allocations.add(new SymmetricAllocation(address, bytes, buffer));
            return buffer;
        }
    }

    /**
     * The address, in this process, of PE {@code pe}'s copy of the symmetric object at {@code localSymmetricAddress}
     * ({@code nvshmem_ptr}, local): a device pointer kernels on {@link #device()} may load from and store to, or
     * {@code 0} when that PE is not reachable by load/store (e.g. on another host). Stays valid after a peer failure
     * (the mapping is kept) until this session is closed.
     *
     * @param localSymmetricAddress an address inside a buffer from {@link #allocateSymmetric} on this PE
     * @param pe the target PE, {@code 0 <= pe < ranks()}; this PE's own number returns the local address
     * @throws IllegalArgumentException if {@code pe} is out of range
     * @throws IllegalStateException after {@link #close()}
     */
    public long peerPointer(long localSymmetricAddress, int pe) {
        if (pe < 0 || pe >= ranks) {
            throw new IllegalArgumentException("PE " + pe + " is not in [0, " + ranks + ")");
        }
        synchronized (calls) {
            requireNotClosed("peerPointer");
            return NvshmemNative.ptr(localSymmetricAddress, pe);
        }
    }

    /**
     * Initialises NVSHMEM's device state in a CUDA module whose kernels call device-side NVSHMEM
     * ({@code nvshmemx_cumodule_init}, local); needed once per loaded module before its first launch. Modules whose
     * kernels only use {@link #peerPointer} addresses do not need it.
     *
     * @param cuModule the driver's {@code CUmodule} handle, loaded on {@link #device()}; the caller keeps owning it
     * @throws IllegalStateException after {@link #close()}
     * @throws NvshmemException with the NVSHMEM status if the call fails
     */
    public void initModule(long cuModule) {
        if (cuModule == 0) {
            throw new IllegalArgumentException("null CUmodule");
        }
        synchronized (calls) {
            requireNotClosed("initModule");
            device.makeCurrent();
            int status = NvshmemNative.cumoduleInit(cuModule);
            if (status != 0) {
                throw new NvshmemException("nvshmemx_cumodule_init(0x" + Long.toHexString(cuModule)
                        + ") failed: NVSHMEM status " + status);
            }
        }
    }

    /**
     * Unregisters a module registered with {@link #initModule} ({@code nvshmemx_cumodule_finalize}, local); call it
     * before unloading the module. NVSHMEM keys registered modules by the address of their device-state symbol and
     * copies its state only into addresses it has not seen: a module unloaded without this leaves its address behind,
     * and a later module loaded at the same address would keep zeroed NVSHMEM state (its first device call faults).
     *
     * @param cuModule the handle given to {@link #initModule}
     * @throws IllegalStateException after {@link #close()}
     * @throws NvshmemException with the NVSHMEM status if the call fails
     */
    public void finalizeModule(long cuModule) {
        if (cuModule == 0) {
            throw new IllegalArgumentException("null CUmodule");
        }
        synchronized (calls) {
            requireNotClosed("finalizeModule");
            device.makeCurrent();
            int status = NvshmemNative.cumoduleFinalize(cuModule);
            if (status != 0) {
                throw new NvshmemException("nvshmemx_cumodule_finalize(0x" + Long.toHexString(cuModule)
                        + ") failed: NVSHMEM status " + status);
            }
        }
    }

    /**
     * {@code nvshmem_barrier_all}: waits until every PE arrived and all previously issued NVSHMEM memory operations
     * completed. Collective; hangs if a peer is dead, so call it only while all peers are known alive.
     *
     * @throws IllegalStateException after {@link #markFailed()} or {@link #close()}
     */
    public void barrierAll() {
        synchronized (calls) {
            requireHealthy("barrierAll");
            device.makeCurrent();
            NvshmemNative.barrierAll();
        }
    }

    /**
     * Records that a peer failed (died or stopped responding). From now on nothing collective is called: collective
     * methods throw, and {@link #close()} neither frees nor finalizes. Takes no lock an NVSHMEM call holds; idempotent;
     * does nothing after {@link #close()}.
     */
    public void markFailed() {
        synchronized (this) {
            if (state == State.OPEN) {
                state = State.FAILED;
            }
        }
    }

    /**
     * Ends the session; later calls do nothing.
     *
     * <p>Healthy (no {@link #markFailed()}): closes every handle from {@link #allocateSymmetric} that is still open,
     * then, collectively, {@code nvshmem_free}s every symmetric allocation in reverse allocation order (the same order
     * on every PE, as they allocated in the same order) and calls {@code nvshmem_finalize}. Every PE must call it.
     *
     * <p>Failed: closes the still-open handles (bookkeeping only; one with open ArrowBuf views is left open, its memory
     * still mapped), drops every reference and calls nothing in NVSHMEM, so it never waits on the dead peer. The
     * symmetric heap stays mapped until the process exits; NVSHMEM cannot be used again in this process.
     *
     * @throws IllegalStateException (healthy case only, before anything collective, the session stays open) if a
     *     handle still has ArrowBuf views open or the memory was transferred to an ArrowBuf that is still alive
     */
    @Override
    public void close() {
        if (state == State.FAILED) {
            closeFailed();
            return;
        }
        synchronized (calls) {
            if (state == State.FAILED) {
                closeFailed();
                return;
            }
            if (state == State.CLOSED) {
                return;
            }
            for (SymmetricAllocation allocation : allocations) {
                allocation.buffer().close();
            }
            if (!unreleased.isEmpty()) {
                throw new IllegalStateException("Nvshmem.close (PE " + rank + "): " + unreleased.size()
                        + " symmetric buffer(s) still owned by an ArrowBuf; release them before closing the session");
            }
            device.makeCurrent(); // before the state change, so a closed device leaves the session closable
            synchronized (this) {
                state = State.CLOSED;
            }
            for (int i = allocations.size() - 1; i >= 0; i--) {
                NvshmemNative.free(allocations.get(i).address());
            }
            allocations.clear();
            NvshmemNative.finalizeLibrary();
        }
    }

    /** Runs without {@link #calls}: a thread may be stuck in an NVSHMEM collective holding it. */
    private void closeFailed() {
        List<SymmetricAllocation> handles;
        synchronized (this) {
            if (state == State.CLOSED) {
                return;
            }
            state = State.CLOSED;
            handles = List.copyOf(allocations);
        }
        for (SymmetricAllocation allocation : handles) {
            try {
                allocation.buffer().close();
            } catch (IllegalStateException viewsStillOpen) {
                // The memory stays mapped (nothing is freed), so the views stay valid; their owner closes them.
            }
        }
    }

    private void requireHealthy(String what) {
        State now = state;
        if (now != State.OPEN) {
            throw new IllegalStateException("Nvshmem." + what + " on PE " + rank + ": the session is "
                    + (now == State.FAILED ? "marked failed; collective calls would wait on the dead peer" : "closed"));
        }
    }

    private void requireNotClosed(String what) {
        if (state == State.CLOSED) {
            throw new IllegalStateException("Nvshmem." + what + " on PE " + rank + ": the session is closed");
        }
    }

    /** Sets NVSHMEM's environment once per process; caller holds {@link #PROCESS}. */
    private static void configure(Options options) {
        if (configured == null) {
            NvshmemNative.configureEnvironment(
                    options.socketInterface(), options.remoteTransport(), options.symmetricHeapBytes());
            configured = options;
        } else if (!configured.equals(options)) {
            throw new IllegalStateException("NVSHMEM's environment was already configured with " + configured
                    + " in this process (NVSHMEM reads it once); cannot switch to " + options);
        }
    }

    @Override
    public String toString() {
        return "Nvshmem[PE " + rank + " of " + ranks + " on cuda:" + device.ordinal() + ", " + state + "]";
    }
}
