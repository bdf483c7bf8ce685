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
package io.tokenroute.arrow.ipc;

import java.io.IOException;
import java.io.OutputStream;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;

/**
 * Any {@link ArrowReader} (a {@link io.tokenroute.arrow.stream.RecordBatchQueue} of step outputs, a file reader, a C
 * Stream import) written out as one Arrow IPC stream, batch by batch as the reader yields them, so that any Arrow
 * reader ({@code pyarrow.ipc.open_stream}, DuckDB, Arrow Java's {@code ArrowStreamReader}) can consume it.
 */
public final class IpcStreams {
    private IpcStreams() {}

    /**
     * Writes the schema, every batch {@code reader} yields until its end, and the end-of-stream marker to {@code out}.
     * Batches are written from the reader's buffers as they are loaded; nothing else is copied.
     *
     * @param reader a reader of host batches (its dictionaries, if any, are written too); it stays the caller's,
     *     positioned at its end
     * @param out stays open, flushed
     * @return the number of batches written
     * @throws IOException from the reader (e.g. a failed queue) or the output; the stream is then incomplete (no
     *     end-of-stream marker), as an IPC reader will notice
     */
    public static long copy(ArrowReader reader, OutputStream out) throws IOException {
        GuardedOutput guarded = new GuardedOutput(out);
        long batches = 0;
        ArrowStreamWriter writer = new ArrowStreamWriter(reader.getVectorSchemaRoot(), reader, guarded);
        try {
            writer.start();
            while (reader.loadNextBatch()) {
                writer.writeBatch();
                batches++;
            }
            writer.end();
        } catch (IOException | RuntimeException e) {
            // Arrow's writer ends the stream when it is closed: an incomplete stream must not end like a whole one.
            guarded.breakOff();
            throw e;
        } finally {
            writer.close();
        }
        return batches;
    }
}
