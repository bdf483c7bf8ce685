/**
 * NVSHMEM from Java: the JNI library {@code libtokenroute_nvshmem.so} ({@link io.tokenroute.device.nvshmem.NvshmemLibrary}
 * finds and loads it) and the per-process session {@link io.tokenroute.device.nvshmem.Nvshmem} (unique-id bootstrap,
 * symmetric heap allocations handed out as {@link io.tokenroute.device.DeviceBuffer}s, peer pointers, module init,
 * barrier, teardown that never waits on a dead peer).
 *
 * <p>The library is built by {@code device/src/main/native/nvshmem/build-nvshmem.sh} where NVSHMEM is installed (the
 * {@code nvidia-nvshmem-cu13} wheel); elsewhere it is absent and every entry point throws
 * {@link io.tokenroute.device.nvshmem.NvshmemUnavailableException} with the reason.
 */
package io.tokenroute.device.nvshmem;
