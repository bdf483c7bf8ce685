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

import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;

/**
 * Reads exported C structs with raw {@link MemoryUtil#getLong} at the offsets of Arrow's {@code abi.h}, independently
 * of the production readers, and lists the buffer addresses a root's columns should export.
 */
final class CStructs {
    static final int LENGTH = 0;
    static final int NULL_COUNT = 8;
    static final int OFFSET = 16;
    static final int N_BUFFERS = 24;
    static final int N_CHILDREN = 32;
    static final int BUFFERS = 40;
    static final int CHILDREN = 48;
    static final int DICTIONARY = 56;
    static final int RELEASE = 64;

    private CStructs() {}

    static long field(long struct, int offset) {
        return MemoryUtil.getLong(struct + offset);
    }

    /** Overwrites a field, as a slicing producer would have written it. */
    static void set(long struct, int offset, long value) {
        MemoryUtil.putLong(struct + offset, value);
    }

    static long child(long struct, int i) {
        return MemoryUtil.getLong(field(struct, CHILDREN) + 8L * i);
    }

    static long buffer(long struct, int i) {
        return MemoryUtil.getLong(field(struct, BUFFERS) + 8L * i);
    }

    /** Every buffer address of a column struct and its descendants, depth first, as exported. */
    static List<Long> exportedBuffers(long column) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < field(column, N_BUFFERS); i++) {
            out.add(buffer(column, i));
        }
        for (int c = 0; c < field(column, N_CHILDREN); c++) {
            out.addAll(exportedBuffers(child(column, c)));
        }
        return out;
    }

    /** Every buffer address of a vector and its descendants, depth first, as the source holds them. */
    static List<Long> sourceBuffers(FieldVector vector) {
        List<Long> out = new ArrayList<>();
        for (ArrowBuf b : vector.getFieldBuffers()) {
            out.add(b.memoryAddress());
        }
        for (FieldVector child : vector.getChildrenFromFields()) {
            out.addAll(sourceBuffers(child));
        }
        return out;
    }
}
