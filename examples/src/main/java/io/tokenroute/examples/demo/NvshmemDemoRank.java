package io.tokenroute.examples.demo;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.nvshmem.NvshmemBuffer;
import io.tokenroute.routing.nvshmem.NvshmemOptions;
import io.tokenroute.routing.nvshmem.NvshmemSession;
import org.apache.arrow.memory.RootAllocator;

/**
 * One rank process (one NVSHMEM PE) of {@code tokenroute demo --transport nvshmem}, started by {@link NvshmemDemo}
 * through {@link io.tokenroute.routing.launch.RankLauncher}: opens GPU {@code rank % deviceCount}, joins the NVSHMEM
 * session (rank 0 serves the unique id at {@value NvshmemOptions#RENDEZVOUS_PROPERTY}), opens one
 * {@link NvshmemBuffer} with a symmetric heap of its size plus {@value NvshmemDemo#HEAP_MARGIN_BYTES} bytes, runs the
 * same {@link RankLoop} as the other demos over it ({@link NvshmemRouting}) and reports one result line
 * ({@link DemoRankProcess}). A rank named by {@code --fail} SIGKILLs its own process at the failure's phase and reports
 * nothing; its exit code is 137.
 *
 * <p>Arguments: the {@link DemoConfig} as {@link RankProcesses#args} writes it. Exit code 0 once the result is reported
 * (the parent judges it), 1 when the rank could not run at all. The process ends with {@code halt}: the session never
 * runs NVSHMEM's collective teardown, which would wait forever on a dead peer.
 */
public final class NvshmemDemoRank {
    private NvshmemDemoRank() {
    }

    public static void main(String[] args) {
        int code = 0;
        try {
            DemoRankProcess process = DemoRankProcess.start(args);
            int rank = process.rank();
            BufferConfig config = process.bufferConfig();
            NvshmemOptions options = NvshmemOptions.singleHost(NvshmemBuffer.symmetricBytes(config)
                    + NvshmemDemo.HEAP_MARGIN_BYTES);
            try (CudaDevice device = CudaDevice.open(rank % Cuda.deviceCount());
                    NvshmemSession session = NvshmemSession.join(device, rank, config.ranks(), options);
                    RootAllocator allocator = new RootAllocator();
                    NvshmemBuffer buffer = NvshmemBuffer.open(session, config, allocator);
                    NvshmemRouting routing = new NvshmemRouting(buffer, allocator)) {
                LaunchedRank.event("joined", "pid " + ProcessHandle.current().pid() + " gpu " + device.ordinal());
                process.runAndReport(routing, allocator);
            }
        } catch (Throwable t) {
            System.err.println("rank " + System.getProperty(LaunchedRank.RANK_PROPERTY) + ": " + t);
            t.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }
}
