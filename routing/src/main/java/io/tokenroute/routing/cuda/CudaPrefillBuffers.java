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
package io.tokenroute.routing.cuda;

import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.DeviceBuffer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The rank-private device memory of the prefill mode that grows with the traffic, as on the host transports
 * ({@code PrefillReceive}): per received row its hidden row (bf16 {@code 2H} bytes, or fp8 {@code H} bytes), scales
 * ({@code H / 128} float32), restricted ids (int64 [maxTopK]), weights (float32 [maxTopK]), src_rank and src_token
 * (int32), each slot's entry in the handle (int32 [maxTopK]) and room for the handle's row list (int32 per (row,
 * local expert) entry, sized before the handle counts them); per entry the expert output (bf16 {@code H}, sized by
 * the count); per row this rank sent, the partial row its destination sends back (bf16 {@code H}).
 *
 * <p>Three CUDA allocations, each grown by half again when a step needs more and kept after it, so steady steps
 * allocate nothing. They come from the stream-ordered pool on the rank's stream ({@link DeviceBuffer#allocateOrdered}):
 * growing in the middle of a step must not wait for the whole device, where peers' kernels spin until this rank sends
 * (a {@code cudaFree} would wait for them, and they for it). This object owns them and an Arrow view of each (for the
 * results' batches); the prefill engine owns this object.
 */
final class CudaPrefillBuffers implements AutoCloseable {
    /** The per-row arrays, in their order inside the row allocation. */
    enum RowArray {
        ROWS,
        SCALES,
        IDS,
        WEIGHTS,
        SRC_RANK,
        SRC_TOKEN,
        EXPERT_POS,
        /** The handle's row list (int32 per entry), with room for {@code min(maxTopK, L)} entries per row. */
        EXPERT_ROWS
    }

    private final BufferAllocator allocator;
    private final CudaStream stream;
    private final int hidden;
    private final int maxTopK;
    private final int groups;
    private final int entriesPerRow;
    private final Part rows = new Part();
    private final Part entries = new Part();
    private final Part partials = new Part();
    private final long[] rowOffsets = new long[RowArray.values().length];

    /** One growable allocation and its Arrow view. */
    private static final class Part {
        DeviceBuffer memory;
        ArrowBuf view;
        int capacity;

        void free() {
            try {
                Closeables.closeAll(view, memory);
            } finally {
                view = null;
                memory = null;
                capacity = 0;
            }
        }
    }

    /** @param stream the rank's stream: allocations and frees are ordered on it; close this object before it */
    CudaPrefillBuffers(BufferAllocator allocator, CudaStream stream, int hidden, int maxTopK, int localExperts) {
        this.allocator = allocator;
        this.stream = stream;
        this.hidden = hidden;
        this.maxTopK = maxTopK;
        this.groups = hidden / 128;
        this.entriesPerRow = Math.min(maxTopK, localExperts);
    }

    /** Bytes one received row takes in array {@code a}. */
    long rowBytes(RowArray a) {
        return switch (a) {
            case ROWS -> 2L * hidden;
            case SCALES -> 4L * groups;
            case IDS -> 8L * maxTopK;
            case WEIGHTS, EXPERT_POS -> 4L * maxTopK;
            case SRC_RANK, SRC_TOKEN -> 4L;
            case EXPERT_ROWS -> 4L * entriesPerRow;
        };
    }

    /** Room for {@code want} received rows at least; the old contents are not kept. */
    void ensureRows(int want) {
        if (rows.memory != null && want <= rows.capacity) {
            return;
        }
        int capacity = grown(rows.capacity, want);
        long cursor = 0;
        for (RowArray a : RowArray.values()) {
            rowOffsets[a.ordinal()] = cursor;
            cursor = CudaRankLayout.align(cursor + rowBytes(a) * capacity);
        }
        allocate(rows, capacity, cursor);
    }

    /** Room for the outputs of {@code want} handle entries at least (and one spare row: an empty expert's view). */
    void ensureEntries(int want) {
        if (entries.memory != null && want <= entries.capacity) {
            return;
        }
        int capacity = grown(entries.capacity, want);
        allocate(entries, capacity, 2L * hidden * (capacity + 1L));
    }

    /** Room for {@code want} partial rows at least. */
    void ensurePartials(int want) {
        if (partials.memory != null && want <= partials.capacity) {
            return;
        }
        int capacity = grown(partials.capacity, want);
        allocate(partials, capacity, 2L * hidden * capacity);
    }

    private static int grown(int capacity, int want) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(want, Math.max(16L, capacity * 3L / 2)));
    }

    private void allocate(Part part, int capacity, long bytes) {
        part.free();
        part.memory = DeviceBuffer.allocateOrdered(Math.max(256, bytes), stream);
        try {
            part.view = part.memory.toArrowBuf(allocator);
        } catch (RuntimeException e) {
            part.free();
            throw e;
        }
        part.capacity = capacity;
    }

    int rowCapacity() {
        return rows.capacity;
    }

    /** Device address of array {@code a}'s first row. */
    long rowAddress(RowArray a) {
        return rows.memory.address() + rowOffsets[a.ordinal()];
    }

    /** A view of array {@code a} for {@code count} rows (at least one byte). */
    ArrowBuf rowView(RowArray a, long rowBytes, int count) {
        return rows.view.slice(rowOffsets[a.ordinal()], Math.max(1, rowBytes * count));
    }

    /** Device address of the expert outputs (bf16 {@code H} per entry). */
    long expertOutAddress() {
        return entries.memory.address();
    }

    /** A view of the expert outputs of entries {@code [first, first + count)} (at least one row). */
    ArrowBuf expertOutView(int first, int count) {
        return entries.view.slice(2L * hidden * first, 2L * hidden * Math.max(1, count));
    }

    /** Device address of the partial rows. */
    long partialsAddress() {
        return partials.memory.address();
    }

    @Override
    public void close() {
        try {
            rows.free();
        } finally {
            try {
                entries.free();
            } finally {
                partials.free();
            }
        }
    }
}
