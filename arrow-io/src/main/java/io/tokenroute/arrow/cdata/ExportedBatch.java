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

import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;

/**
 * A record batch exported through the Arrow C Data Interface: an {@code ArrowArray} (a struct array, one child per
 * column) and its {@code ArrowSchema}, in native memory owned by this object.
 *
 * <p><b>Who closes what.</b>
 * <ul>
 *   <li>The consumer imports from {@link #arrayAddress()} and {@link #schemaAddress()}, e.g. pyarrow's
 *       {@code pa.RecordBatch._import_from_c(array_addr, schema_addr)} or {@link HostExport#importBatch}. Importing
 *       <em>moves</em> the array out of this struct (leaving {@code release == NULL} here) and releases the schema;
 *       the consumer later calls the moved array's {@code release} (pyarrow does when the batch is garbage collected,
 *       Java when the imported root is closed). The release callback calls back into this JVM, which must still be
 *       running.</li>
 *   <li>The producer closes this object once the consumer has imported, or gave up. {@link #close()} calls
 *       {@code release} only on a struct the consumer did not take (so nothing is released twice), then frees the
 *       two structs. The struct memory stays valid until then, so close only after the consumer finished
 *       importing.</li>
 *   <li>The source batch or root may be closed at any time after export: the exported array holds its own
 *       references to the buffers until it is released.</li>
 * </ul>
 * Not thread-safe.
 */
public final class ExportedBatch implements AutoCloseable {
    private final ArrowArray array;
    private final ArrowSchema schema;
    private boolean closed;

    ExportedBatch(ArrowArray array, ArrowSchema schema) {
        this.array = array;
        this.schema = schema;
    }

    /** Address of the {@code struct ArrowArray} (80 bytes, see {@link ArrowArrayView}). */
    public long arrayAddress() {
        ensureOpen();
        return array.memoryAddress();
    }

    /** Address of the {@code struct ArrowSchema} (72 bytes): a struct type with one child field per column. */
    public long schemaAddress() {
        ensureOpen();
        return schema.memoryAddress();
    }

    /** Whether the array was released or moved out by a consumer ({@code release == NULL}). */
    public boolean isArrayReleased() {
        return ArrowArrayView.at(arrayAddress()).isReleased();
    }

    /**
     * Releases whatever the consumer did not take, then frees the two structs. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            CRelease.releaseArray(array.memoryAddress());
            CRelease.releaseSchema(schema.memoryAddress());
        } finally {
            array.close();
            schema.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("ExportedBatch is closed");
        }
    }
}
