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
package io.tokenroute.arrow.cdata;

import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Reads the fields of a C Data Interface {@code struct ArrowArray} at a native address (x86-64 / LP64 layout, from
 * Arrow's {@code abi.h}, 80 bytes, every field 8 bytes):
 *
 * <pre>
 *  offset  field
 *       0  int64_t  length
 *       8  int64_t  null_count      (-1 = not computed)
 *      16  int64_t  offset
 *      24  int64_t  n_buffers
 *      32  int64_t  n_children
 *      40  const void** buffers     (n_buffers pointers; a NULL validity pointer means "no nulls")
 *      48  struct ArrowArray** children
 *      56  struct ArrowArray* dictionary
 *      64  void (*release)(struct ArrowArray*)   (NULL = released, or moved away)
 *      72  void* private_data
 * </pre>
 *
 * <p>Only the struct and its pointer arrays are read, never the buffers they point to, so a view is safe over arrays
 * whose buffers live in device memory. The struct must stay allocated while the view is used. Not thread-safe against
 * a concurrent release.
 */
public final class ArrowArrayView {
    /** {@code sizeof(struct ArrowArray)}. */
    public static final int SIZE = 80;
    /** Offset of {@code length}. */
    public static final int LENGTH_OFFSET = 0;
    /** Offset of {@code null_count}. */
    public static final int NULL_COUNT_OFFSET = 8;
    /** Offset of {@code offset}. */
    public static final int OFFSET_OFFSET = 16;
    /** Offset of {@code n_buffers}. */
    public static final int N_BUFFERS_OFFSET = 24;
    /** Offset of {@code n_children}. */
    public static final int N_CHILDREN_OFFSET = 32;
    /** Offset of {@code buffers}. */
    public static final int BUFFERS_OFFSET = 40;
    /** Offset of {@code children}. */
    public static final int CHILDREN_OFFSET = 48;
    /** Offset of {@code dictionary}. */
    public static final int DICTIONARY_OFFSET = 56;
    /** Offset of the {@code release} callback pointer. */
    public static final int RELEASE_OFFSET = 64;
    /** Offset of {@code private_data}. */
    public static final int PRIVATE_DATA_OFFSET = 72;

    private final long address;

    private ArrowArrayView(long address) {
        this.address = address;
    }

    /** A view of the struct at {@code address}. */
    public static ArrowArrayView at(long address) {
        if (address == 0) {
            throw new IllegalArgumentException("null ArrowArray address");
        }
        return new ArrowArrayView(address);
    }

    /** The struct's address. */
    public long address() {
        return address;
    }

    /** {@code length}: number of elements (rows for a record batch). */
    public long length() {
        return MemoryUtil.getLong(address + LENGTH_OFFSET);
    }

    /** {@code null_count}, {@code -1} when the producer did not compute it. */
    public long nullCount() {
        return MemoryUtil.getLong(address + NULL_COUNT_OFFSET);
    }

    /** {@code offset}: the logical start inside the buffers. */
    public long offset() {
        return MemoryUtil.getLong(address + OFFSET_OFFSET);
    }

    /** {@code n_buffers}. */
    public long bufferCount() {
        return MemoryUtil.getLong(address + N_BUFFERS_OFFSET);
    }

    /** {@code n_children}. */
    public long childCount() {
        return MemoryUtil.getLong(address + N_CHILDREN_OFFSET);
    }

    /** {@code buffers}: the address of the buffer pointer array. */
    public long buffersAddress() {
        return MemoryUtil.getLong(address + BUFFERS_OFFSET);
    }

    /** {@code children}: the address of the child pointer array. */
    public long childrenAddress() {
        return MemoryUtil.getLong(address + CHILDREN_OFFSET);
    }

    /** {@code dictionary}: the dictionary array's address, 0 when not dictionary-encoded. */
    public long dictionaryAddress() {
        return MemoryUtil.getLong(address + DICTIONARY_OFFSET);
    }

    /** The {@code release} callback's address; 0 once the array was released or moved away. */
    public long releaseCallback() {
        return MemoryUtil.getLong(address + RELEASE_OFFSET);
    }

    /** {@code private_data}, the producer's bookkeeping pointer. */
    public long privateData() {
        return MemoryUtil.getLong(address + PRIVATE_DATA_OFFSET);
    }

    /** Whether {@code release} is NULL: the array was released, or its ownership moved to another struct. */
    public boolean isReleased() {
        return releaseCallback() == 0;
    }

    /** The address held in {@code buffers[i]} (0 for an absent buffer, e.g. validity with no nulls). */
    public long buffer(int i) {
        checkIndex(i, bufferCount(), "buffer");
        return MemoryUtil.getLong(buffersAddress() + 8L * i);
    }

    /** A view of {@code children[i]}. */
    public ArrowArrayView child(int i) {
        checkIndex(i, childCount(), "child");
        return at(MemoryUtil.getLong(childrenAddress() + 8L * i));
    }

    private void checkIndex(int i, long count, String what) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException(
                    what + " " + i + " outside [0, " + count + ") of ArrowArray at 0x" + Long.toHexString(address));
        }
    }
}
