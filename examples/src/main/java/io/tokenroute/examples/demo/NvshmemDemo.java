package io.tokenroute.examples.demo;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import io.tokenroute.routing.nvshmem.NvshmemOptions;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The decode demo on the {@code nvshmem} transport: R rank processes of this host, one JVM and one NVSHMEM PE each
 * (PE p on GPU {@code p % deviceCount}; several PEs share a GPU when there are fewer GPUs than ranks), run
 * {@link NvshmemDemoRank}, i.e. the same {@link RankLoop} as the local and shm demos, over an
 * {@link io.tokenroute.routing.nvshmem.NvshmemBuffer}: CUDA dispatch/combine kernels reaching the peers' symmetric
 * heaps, host experts and bit-exact reference checks over host copies of the device results ({@link NvshmemRouting}).
 * A {@code --fail} rank SIGKILLs its own process at the failure's phase; a killed process cannot come back, so there
 * are no readmissions. Rank 0 serves NVSHMEM's unique id on a free loopback port chosen here.
 *
 * <p><b>Timing.</b> The waits run in the kernels, which beat while they wait, but a rank's host work between two calls
 * (copies, experts, checks, a replan) is not covered by a beat, and without CUDA MPS the PEs sharing a GPU time-slice
 * it in rounds of several milliseconds. So the timeout defaults to {@value #DEFAULT_TIMEOUT} here, and there is no
 * rehearsal: JIT pauses stay far below that.
 *
 * <p>The parent merges every survivor's result line into the same {@link DemoSummary} as the other demos
 * ({@link RankProcesses}).
 */
public final class NvshmemDemo {
    /** The default per-peer timeout on nvshmem (see the class comment). */
    public static final String DEFAULT_TIMEOUT = "1s";
    /** Symmetric heap beyond the buffer's own bytes: NVSHMEM's internal allocations take a few MiB of it. */
    static final long HEAP_MARGIN_BYTES = 64L << 20;
    /** The longest a run may take before its ranks are killed and the run declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(10);
    /** Properties of this JVM the rank JVMs need too: JavaCPP's cache, where the NVSHMEM JNI library is. */
    private static final List<String> FORWARDED = List.of("org.bytedeco.javacpp.cachedir",
            NvshmemLibrary.LIBRARY_PROPERTY);

    /** A finished run: the summary and what each rank process did. */
    public record Run(DemoSummary summary, List<RankResult> ranks) {
    }

    private final DemoConfig config;

    /**
     * @param config the run; its {@code rehearse} flag is ignored (see the class comment)
     * @throws IllegalArgumentException if the configuration readmits ranks (a SIGKILLed process cannot come back)
     */
    public NvshmemDemo(DemoConfig config) {
        if (!config.readmits().isEmpty()) {
            throw new IllegalArgumentException("the nvshmem transport cannot readmit: its failures SIGKILL rank"
                    + " processes");
        }
        this.config = config;
    }

    /**
     * Whether this machine can run it: CUDA and the project's NVSHMEM JNI library. NVSHMEM is only probed when CUDA is
     * available, so the check costs nothing more than CUDA's own probe elsewhere.
     */
    public static boolean available() {
        return Cuda.isAvailable() && NvshmemLibrary.isAvailable();
    }

    /** Why {@link #available()} is false, naming the missing piece; the empty string when it is true. */
    public static String unavailableReason() {
        if (!Cuda.isAvailable()) {
            return "CUDA is unavailable: " + Cuda.unavailableReason();
        }
        if (!NvshmemLibrary.isAvailable()) {
            return "the NVSHMEM library is unavailable: " + NvshmemLibrary.unavailableReason();
        }
        return "";
    }

    /**
     * Starts the rank processes, waits for them (reporting rank 0's progress to {@code listener}), and builds the
     * summary.
     */
    public Run run(DemoListener listener) throws IOException, InterruptedException {
        RankProcesses.Finished run = RankProcesses.run(config,
                RankProcesses.launcher(NvshmemDemoRank.class, config, rankJvmOptions()), HANG_BOUND, listener);
        return new Run(run.summary(), run.ranks());
    }

    /** Heap and GC settings (R JVMs share the host's cores), the rendezvous address and the forwarded properties. */
    private static List<String> rankJvmOptions() throws IOException {
        List<String> options = new ArrayList<>(List.of("-Xmx1g", "-XX:+UseSerialGC", "-XX:CICompilerCount=2",
                "-D" + NvshmemOptions.RENDEZVOUS_PROPERTY + "=127.0.0.1:" + freePort()));
        for (String property : FORWARDED) {
            String value = System.getProperty(property);
            if (value != null) {
                options.add("-D" + property + "=" + value);
            }
        }
        return options;
    }

    /** A loopback port free right now, for rank 0 to bind (a race with other processes is possible, and unlikely). */
    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
