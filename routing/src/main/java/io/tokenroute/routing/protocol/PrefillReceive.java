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
package io.tokenroute.routing.protocol;

import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * What one rank received in a prefill step, owned between steps: per received row its hidden row (bf16, or fp8 codes
 * and their fp32 or ue8m0 scales), restricted top-k ids (int64, local ids or -1) and weights (fp32), source rank and
 * source token (int32), each entry's position in the per-expert lists; and per (row, local expert) entry, the list of
 * rows per expert and the expert outputs (bf16 rows of {@code H}). Host memory of the buffer's allocator; the buffers
 * grow by half again when a step needs more and keep their size after it, so steady steps allocate nothing.
 */
public final class PrefillReceive implements AutoCloseable {
    private final BufferAllocator allocator;
    private final int hidden;
    private final int maxTopK;
    private ArrowBuf rows;
    private ArrowBuf scales;
    private ArrowBuf ids;
    private ArrowBuf weights;
    private ArrowBuf srcRank;
    private ArrowBuf srcToken;
    private ArrowBuf expertPos;
    private ArrowBuf expertRowList;
    private ArrowBuf expertOut;
    private int rowCapacity;
    private int entryCapacity;

    PrefillReceive(BufferAllocator allocator, int hidden, int maxTopK) {
        this.allocator = allocator;
        this.hidden = hidden;
        this.maxTopK = maxTopK;
    }

    /** Grows the per-row buffers to {@code want} rows at least. */
    void ensureRows(int want) {
        if (want <= rowCapacity && rows != null) {
            return;
        }
        int capacity = Math.max(want, Math.max(16, rowCapacity * 3 / 2));
        closeRows();
        int groups = hidden / Fp8Quantizer.GROUP;
        rows = allocator.buffer(2L * hidden * capacity);
        scales = allocator.buffer(Math.max(1, 4L * groups * capacity));
        ids = allocator.buffer(8L * maxTopK * capacity);
        weights = allocator.buffer(4L * maxTopK * capacity);
        srcRank = allocator.buffer(4L * capacity);
        srcToken = allocator.buffer(4L * capacity);
        expertPos = allocator.buffer(4L * maxTopK * capacity);
        rowCapacity = capacity;
    }

    /**
     * Grows the per-expert lists and outputs to {@code want} (row, local expert) entries: sized by the routing that
     * arrived, not by {@code rows × min(k, L)}, which at prefill sizes would be gigabytes of bf16 rows never written.
     */
    void ensureEntries(int want) {
        if (want <= entryCapacity && expertOut != null) {
            return;
        }
        int capacity = Math.max(want, Math.max(16, entryCapacity * 3 / 2));
        closeEntries();
        expertRowList = allocator.buffer(4L * capacity);
        // One spare row: an expert without rows still gets a (one-byte) view at the end of the list.
        expertOut = allocator.buffer(2L * hidden * (capacity + 1L));
        entryCapacity = capacity;
    }

    private void closeRows() {
        try {
            Closeables.closeAll(rows, scales, ids, weights, srcRank, srcToken, expertPos);
        } finally {
            rows = scales = ids = weights = srcRank = srcToken = expertPos = null;
            rowCapacity = 0;
        }
    }

    private void closeEntries() {
        try {
            Closeables.closeAll(expertRowList, expertOut);
        } finally {
            expertRowList = expertOut = null;
            entryCapacity = 0;
        }
    }

    /** Rows the per-row buffers hold. */
    public int rowCapacity() {
        return rowCapacity;
    }

    /** Hidden rows: bf16 ({@code 2H} bytes a row) or fp8 codes ({@code H} bytes a row). */
    public ArrowBuf rows() {
        return rows;
    }

    /** fp8 scales: {@code H / 128} per row, fp32 or ue8m0 bytes. */
    public ArrowBuf scales() {
        return scales;
    }

    /** Restricted top-k ids, int64, {@code maxTopK} per row. */
    public ArrowBuf ids() {
        return ids;
    }

    /** Restricted top-k weights, fp32, {@code maxTopK} per row. */
    public ArrowBuf weights() {
        return weights;
    }

    /** Source rank per row, int32. */
    public ArrowBuf srcRank() {
        return srcRank;
    }

    /** Source token per row, int32. */
    public ArrowBuf srcToken() {
        return srcToken;
    }

    /** Per row and top-k slot, the slot's index in the per-expert lists (int32). */
    ArrowBuf expertPos() {
        return expertPos;
    }

    /** Receive-row indices per local expert, expert-major, int32. */
    public ArrowBuf expertRowList() {
        return expertRowList;
    }

    /** Expert outputs, expert-major, aligned with {@link #expertRowList()}: bf16 rows of {@code H}. */
    public ArrowBuf expertOut() {
        return expertOut;
    }

    @Override
    public void close() {
        try {
            closeRows();
        } finally {
            closeEntries();
        }
    }
}
