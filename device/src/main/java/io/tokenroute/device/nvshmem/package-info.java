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
/**
 * NVSHMEM from Java: the JNI library {@code libtokenroute_nvshmem.so} ({@link
 * io.tokenroute.device.nvshmem.NvshmemLibrary} finds and loads it) and the per-process session {@link
 * io.tokenroute.device.nvshmem.Nvshmem} (unique-id bootstrap, symmetric heap allocations handed out as {@link
 * io.tokenroute.device.DeviceBuffer}s, peer pointers, module init, barrier, teardown that never waits on a dead peer).
 *
 * <p>The library is built by {@code device/src/main/native/nvshmem/build-nvshmem.sh} where NVSHMEM is installed (the
 * {@code nvidia-nvshmem-cu13} wheel); elsewhere it is absent and every entry point throws
 * {@link io.tokenroute.device.nvshmem.NvshmemUnavailableException} with the reason.
 */
package io.tokenroute.device.nvshmem;
