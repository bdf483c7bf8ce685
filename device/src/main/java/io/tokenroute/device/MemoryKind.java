package io.tokenroute.device;

/** The two kinds of CUDA allocations this package hands out, as listed by {@link DeviceMemoryTracker}. */
public enum MemoryKind {
    /** {@code cudaMalloc}: device memory the CPU must never dereference ({@link DeviceBuffer}). */
    DEVICE,
    /** {@code cudaMallocHost}: page-locked host memory, CPU-readable and DMA-capable ({@link PinnedHostBuffer}). */
    PINNED_HOST
}
