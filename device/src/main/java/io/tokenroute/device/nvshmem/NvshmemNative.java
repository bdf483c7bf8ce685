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

/**
 * The JNI entry points of {@code libtokenroute_nvshmem.so} ({@code src/main/native/nvshmem/tokenroute_nvshmem.cu}),
 * one per NVSHMEM host call. Only {@link Nvshmem} calls them, after {@link NvshmemLibrary#require(String)}, in the
 * order NVSHMEM needs and one call at a time (NVSHMEM runs {@code NVSHMEM_THREAD_SERIALIZED}). Addresses are raw
 * device pointers as {@code long}. Failures throw {@link NvshmemException}; nothing here exits the process.
 */
final class NvshmemNative {

    private NvshmemNative() {}

    /**
     * Sets NVSHMEM's environment before its first call reads it (Java cannot {@code setenv} itself):
     * {@code NVSHMEM_DISABLE_NVLS=1} always; {@code NVSHMEM_REMOTE_TRANSPORT=none} unless {@code remoteTransport} or
     * already set; {@code NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME=socketInterface} unless null or already set;
     * {@code NVSHMEM_SYMMETRIC_SIZE=symmetricHeapBytes} when positive (overriding the environment).
     */
    static native void configureEnvironment(String socketInterface, boolean remoteTransport, long symmetricHeapBytes);

    /** {@code sizeof(nvshmemx_uniqueid_t)}: 128 in NVSHMEM 3.4.5. */
    static native int uniqueIdSize();

    /** {@code nvshmemx_get_uniqueid}: a fresh id whose bootstrap listener lives in this process. */
    static native byte[] createUniqueId();

    /**
     * {@code cudaSetDevice(cudaDevice)}, {@code nvshmemx_set_attr_uniqueid_args}, then the unique-id init; collective
     * over all {@code ranks} processes.
     */
    static native void init(byte[] uniqueId, int rank, int ranks, int cudaDevice);

    static native int myPe();

    static native int nPes();

    /** {@code nvshmem_malloc}; collective; throws instead of returning 0. */
    static native long malloc(long bytes);

    /** {@code nvshmem_free}; collective. */
    static native void free(long address);

    /**
     * {@code nvshmem_ptr}: the address of the same symmetric object on {@code pe}, or 0 if not load/store reachable.
     */
    static native long ptr(long address, int pe);

    /** {@code nvshmemx_cumodule_init}: returns its status (0 on success). */
    static native int cumoduleInit(long cuModule);

    /** {@code nvshmemx_cumodule_finalize(module)}: status, 0 on success. */
    static native int cumoduleFinalize(long cuModule);

    /** {@code nvshmem_barrier_all}; collective. */
    static native void barrierAll();

    /** {@code nvshmem_finalize}; collective. */
    static native void finalizeLibrary();

    /** {@code "NVSHMEM 3.4.5 (headers x.y.z)"} from {@code nvshmemx_vendor_get_version_info}. */
    static native String version();
}
