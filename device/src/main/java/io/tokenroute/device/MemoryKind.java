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
package io.tokenroute.device;

/** The two kinds of CUDA allocations this package hands out, as listed by {@link DeviceMemoryTracker}. */
public enum MemoryKind {
    /** {@code cudaMalloc}: device memory the CPU must never dereference ({@link DeviceBuffer}). */
    DEVICE,
    /** {@code cudaMallocHost}: page-locked host memory, CPU-readable and DMA-capable ({@link PinnedHostBuffer}). */
    PINNED_HOST
}
