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
package io.tokenroute.arrow.batch;

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.TagVector;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Builds record batches whose columns are views over existing data buffers, without copying and without the CPU
 * reading the data (so the buffers may be CUDA device memory).
 *
 * <p>Every column must be a fixed-width primitive or a {@code FixedSizeList} of one. Validity buffers are fresh
 * all-valid host buffers (Arrow allocates them on load), never the data's memory: null counting, export and
 * {@code setValueCount} therefore never touch device memory. TokenRoute's extension vectors ({@link TagVector}) are
 * told the data's location, so they refuse value reads of device memory with a clear exception.
 */
public final class ColumnViews {
    private ColumnViews() {}

    /**
     * Loads a root over the given data buffers.
     *
     * @param schema columns: primitives or {@code FixedSizeList}s of primitives, none nullable
     * @param allocator allocates the vectors and their host validity buffers; the root must be closed before it
     * @param rows number of rows
     * @param data one buffer per column, each starting at the column's first row and holding at least
     *     {@code rows × width × elementBytes} bytes; the root takes its own reference, the caller keeps theirs
     * @return a new root the caller closes
     */
    public static VectorSchemaRoot load(Schema schema, BufferAllocator allocator, int rows, List<ArrowBuf> data) {
        return load(schema, allocator, rows, data, MemoryLocation.HOST);
    }

    /**
     * Loads a root over data buffers that live in {@code location}: as {@link #load(Schema, BufferAllocator, int,
     * List)}, and every {@link TagVector} of the root (bf16, fp8, ue8m0 columns and list elements) records the
     * location, so that it refuses CPU reads of device memory.
     */
    public static VectorSchemaRoot load(
            Schema schema, BufferAllocator allocator, int rows, List<ArrowBuf> data, MemoryLocation location) {
        List<Field> fields = schema.getFields();
        if (data.size() != fields.size()) {
            throw new IllegalArgumentException(
                    "need one data buffer per column: " + fields.size() + " columns, " + data.size() + " buffers");
        }
        List<FieldVector> vectors = new ArrayList<>(fields.size());
        try {
            for (int c = 0; c < fields.size(); c++) {
                FieldVector vector = fields.get(c).createVector(allocator);
                vectors.add(vector);
                loadColumn(vector, rows, data.get(c), allocator);
                placeIn(vector, location);
            }
        } catch (RuntimeException e) {
            vectors.forEach(FieldVector::close);
            throw e;
        }
        return new VectorSchemaRoot(fields, vectors, rows);
    }

    /** Records {@code location} on every extension vector of {@code vector}'s tree. */
    public static void placeIn(FieldVector vector, MemoryLocation location) {
        if (vector instanceof TagVector<?> tag) {
            tag.setLocation(location);
        }
        for (FieldVector child : vector.getChildrenFromFields()) {
            placeIn(child, location);
        }
    }

    private static void loadColumn(FieldVector vector, int rows, ArrowBuf data, BufferAllocator allocator) {
        ArrowBuf noValidity = allocator.getEmpty();
        if (vector instanceof FixedSizeListVector list) {
            int width = ((ArrowType.FixedSizeList) vector.getField().getType()).getListSize();
            vector.loadFieldBuffers(new ArrowFieldNode(rows, 0), List.of(noValidity));
            list.getDataVector()
                    .loadFieldBuffers(new ArrowFieldNode((long) rows * width, 0), List.of(noValidity, data));
        } else {
            vector.loadFieldBuffers(new ArrowFieldNode(rows, 0), List.of(noValidity, data));
        }
    }
}
