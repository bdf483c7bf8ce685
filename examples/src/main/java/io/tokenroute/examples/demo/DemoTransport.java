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
package io.tokenroute.examples.demo;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.launch.RankLauncher;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The transports the demo runs on (docs/contract.md §6), what this machine lacks for each, and how their ranks run:
 * threads of this process ({@code local}, {@code cuda-local}) or one process per rank ({@code shm}, {@code nvshmem}).
 * The engine code is the same on all of them ({@link RankLoop} over {@link io.tokenroute.routing.ElasticBuffer}); only
 * the string given to {@link io.tokenroute.routing.ElasticGroup#open} differs.
 */
public enum DemoTransport {
    /** Ranks as threads of this JVM over off-heap host memory. */
    LOCAL(TransportSpec.LOCAL, false, false, "threads of one JVM"),
    /** Ranks as processes of this host over a shared-memory file; a failure SIGKILLs the rank's process. */
    SHM(TransportSpec.SHM, true, false, "processes on one host over shared memory; needs the kill command"),
    /** Ranks as threads of this process, each driving its rank on GPU 0. */
    CUDA_LOCAL(TransportSpec.CUDA_LOCAL, false, true, "streams of one process on one GPU"),
    /** Ranks as processes, one NVSHMEM PE each, PE p on GPU {@code p % GPUs}; a failure SIGKILLs the process. */
    NVSHMEM(TransportSpec.NVSHMEM, true, true, "one process per GPU over NVSHMEM");

    /**
     * The default per-peer timeout on the GPU transports. A peer's wait runs in a kernel while this rank does its host
     * work between two calls (the copies of {@link DeviceStaging}, the host experts, the checks), so that work counts
     * against the peers' timeouts, and on {@code nvshmem} several PEs may time-slice one GPU without CUDA MPS; 1 s
     * leaves room for both and for JIT pauses, which is why the GPU transports run no rehearsal.
     */
    public static final String GPU_TIMEOUT = "1s";

    private final String id;
    private final boolean processPerRank;
    private final boolean gpu;
    private final String description;

    DemoTransport(String id, boolean processPerRank, boolean gpu, String description) {
        this.id = id;
        this.processPerRank = processPerRank;
        this.gpu = gpu;
        this.description = description;
    }

    /** The transport named {@code id} ({@code local}, {@code shm}, {@code cuda-local}, {@code nvshmem}). */
    public static DemoTransport of(String id) {
        String name = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
        return Arrays.stream(values())
                .filter(t -> t.id.equals(name))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "unknown transport '" + id + "': expected local, shm," + " cuda-local or nvshmem"));
    }

    /** The transports this machine can run, in preference order. */
    public static List<DemoTransport> available() {
        return Arrays.stream(values()).filter(DemoTransport::isAvailable).toList();
    }

    /** The name, as {@code --transport} and {@link TransportSpec} spell it. */
    public String id() {
        return id;
    }

    /** Whether each rank is a process of its own (else a thread of this one). */
    public boolean processPerRank() {
        return processPerRank;
    }

    /** Whether the ranks' results live in CUDA device memory. */
    public boolean onGpu() {
        return gpu;
    }

    /** What the ranks are, and what the transport needs. */
    public String description() {
        return description;
    }

    /** Whether this machine can run it. */
    public boolean isAvailable() {
        return unavailableReason().isEmpty();
    }

    /**
     * Why this machine cannot run it, naming the missing piece (CUDA is probed first, so NVSHMEM costs nothing more
     * where CUDA is missing); the empty string when it can.
     */
    public String unavailableReason() {
        switch (this) {
            case SHM:
                return RankLauncher.signalsAvailable() ? "" : "no kill command to signal rank processes with";
            case CUDA_LOCAL:
                return Cuda.isAvailable() ? "" : Cuda.unavailableReason();
            case NVSHMEM:
                if (!Cuda.isAvailable()) {
                    return "CUDA is unavailable: " + Cuda.unavailableReason();
                }
                return NvshmemLibrary.isAvailable()
                        ? ""
                        : "the NVSHMEM library is unavailable: " + NvshmemLibrary.unavailableReason();
            default:
                return "";
        }
    }

    @Override
    public String toString() {
        return id;
    }
}
