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

import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * A sequence of record batches exported through the Arrow C Stream Interface: a {@code struct ArrowArrayStream}
 * (40 bytes on x86-64: {@code get_schema}, {@code get_next}, {@code get_last_error}, {@code release},
 * {@code private_data}) in native memory owned by this object, made by {@link HostExport#exportStream}.
 *
 * <p><b>Who closes what.</b>
 * <ul>
 *   <li>The consumer imports from {@link #streamAddress()}, e.g. pyarrow's
 *       {@code pa.RecordBatchReader._import_from_c(address)} or Arrow Java's {@code Data.importArrayStream}, which
 *       <em>moves</em> the stream out of this struct ({@code release == NULL} here). It then calls
 *       {@code get_schema}, {@code get_next} until an array with {@code release == NULL} (the end), and finally the
 *       stream's {@code release}, which closes the Java reader behind it. Every array from {@code get_next} is the
 *       consumer's, released on its own; it stays readable after later {@code get_next} calls. The callbacks run Java
 *       code: the JVM must still be running, and calls on one stream must not overlap.</li>
 *   <li>The producer closes this object once the consumer has imported, or gave up: {@link #close()} releases a
 *       stream nobody took (closing the reader) and frees the struct.</li>
 * </ul>
 * Not thread-safe.
 */
public final class ExportedStream implements AutoCloseable {
    /** Offset of {@code release} in {@code struct ArrowArrayStream}: after three callback pointers. */
    static final int RELEASE_OFFSET = 24;

    private final ArrowArrayStream stream;
    private boolean closed;

    ExportedStream(ArrowArrayStream stream) {
        this.stream = stream;
    }

    /** Address of the {@code struct ArrowArrayStream}. */
    public long streamAddress() {
        ensureOpen();
        return stream.memoryAddress();
    }

    /** Whether the stream was released or moved out by a consumer ({@code release == NULL}). */
    public boolean isReleased() {
        return MemoryUtil.getLong(streamAddress() + RELEASE_OFFSET) == 0;
    }

    /** Releases the stream if no consumer took it (the reader is closed then), and frees the struct. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (MemoryUtil.getLong(stream.memoryAddress() + RELEASE_OFFSET) != 0) {
                stream.release();
            }
        } finally {
            stream.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("ExportedStream is closed");
        }
    }
}
