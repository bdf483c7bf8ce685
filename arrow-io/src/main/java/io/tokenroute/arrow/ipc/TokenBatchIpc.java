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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.dictionary.DictionaryProvider;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.ipc.ArrowWriter;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Host token batches as Arrow IPC files ({@code ArrowFileWriter}/{@code ArrowFileReader}, random access, the
 * {@code .arrow} format) and streams ({@code ArrowStreamWriter}/{@code ArrowStreamReader}), so other Arrow pipelines
 * can feed TokenRoute (docs/contract.md §5).
 *
 * <p>One file or stream holds several batches of one schema: all batches written together must share dtype, H and k.
 * The bf16 extension type round-trips ({@code tokenroute.bfloat16} in the field metadata; readers without
 * TokenRoute's registration see uint16). Writing and reading load the batches' buffers into Arrow's IPC machinery
 * without an intermediate copy; IPC itself copies bytes to and from the file or stream.
 *
 * <p>Device batches are refused: IPC writers read buffer contents with the CPU. Streams passed in stay open (the
 * caller owns them); files are opened and closed here. Read batches are owned by the caller, who closes them.
 */
public final class TokenBatchIpc {
    private TokenBatchIpc() {}

    /**
     * Writes batches to an Arrow IPC file, replacing any existing file atomically ({@link ReplacingFile}): on any
     * failure the previous file (or no file) stays, never a partial one.
     *
     * @param allocator allocates the writer's vectors (no data buffers: the batches' own are written)
     * @param batches one or more open host batches of the same dtype, H and k
     * @throws IllegalArgumentException for no batches, or batches whose dtype, H or k differ
     * @throws io.tokenroute.arrow.memory.DeviceMemoryAccessException for a device batch
     */
    public static void writeFile(BufferAllocator allocator, List<TokenBatch> batches, Path path) throws IOException {
        Schema schema = commonSchema(batches, "writeFile");
        try (ReplacingFile file = ReplacingFile.create(path)) {
            // A failure leaves only the temporary file behind, which closing deletes.
            write(
                    allocator,
                    schema,
                    batches,
                    root -> new ArrowFileWriter(root, NO_DICTIONARIES, file.channel()),
                    () -> {});
            file.commit();
        }
    }

    /**
     * Writes batches as one Arrow IPC stream (schema, batches, end-of-stream marker). {@code out} stays open.
     *
     * @see #writeFile
     */
    public static void writeStream(BufferAllocator allocator, List<TokenBatch> batches, OutputStream out)
            throws IOException {
        Schema schema = commonSchema(batches, "writeStream");
        GuardedOutput guarded = new GuardedOutput(out);
        // Arrow's writer ends the stream when it is closed: an incomplete stream must not end like a whole one.
        write(
                allocator,
                schema,
                batches,
                root -> new ArrowStreamWriter(root, NO_DICTIONARIES, guarded),
                guarded::breakOff);
    }

    /**
     * Reads every batch of an Arrow IPC file written by {@link #writeFile} or any Arrow writer using the token batch
     * schema.
     *
     * @param allocator accounts the read buffers; close the batches before it
     * @return owning host batches, in file order; the caller closes each
     * @throws IllegalArgumentException if the schema is not a token batch schema, or naming the batch, if a batch is
     *     inconsistent (element counts not exactly n × H or n × k, as when batches of different H were forced into
     *     one file; nulls); batches read before the bad one are closed
     */
    public static List<TokenBatch> readFile(BufferAllocator allocator, Path path) throws IOException {
        TokenRouteTypes.register();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
                ArrowFileReader reader = new ArrowFileReader(channel, allocator) {
                    @Override
                    protected void loadRecordBatch(ArrowRecordBatch batch) {
                        requireExactListLengths(this, batch);
                        super.loadRecordBatch(batch);
                    }
                }) {
            return readAll(reader, allocator);
        }
    }

    /**
     * Reads every batch of one Arrow IPC stream. {@code in} stays open, positioned after the stream's end marker.
     *
     * @see #readFile
     */
    public static List<TokenBatch> readStream(BufferAllocator allocator, InputStream in) throws IOException {
        TokenRouteTypes.register();
        InputStream unclosed = new FilterInputStream(in) {
            @Override
            public void close() {
                // Arrow's reader closes its channel; the caller owns this stream.
            }
        };
        try (ArrowStreamReader reader = new ArrowStreamReader(unclosed, allocator) {
            @Override
            protected void loadRecordBatch(ArrowRecordBatch batch) {
                requireExactListLengths(this, batch);
                super.loadRecordBatch(batch);
            }
        }) {
            return readAll(reader, allocator);
        }
    }

    // ------------------------------------------------------------------------------------------------ internals

    /** Token batches have no dictionary-encoded columns; Arrow's writers still want a provider. */
    private static final DictionaryProvider NO_DICTIONARIES = new DictionaryProvider.MapDictionaryProvider();

    @FunctionalInterface
    private interface WriterFactory {
        ArrowWriter open(VectorSchemaRoot root) throws IOException;
    }

    private static Schema commonSchema(List<TokenBatch> batches, String operation) {
        if (batches.isEmpty()) {
            throw new IllegalArgumentException(operation + ": no batches to write (the schema comes from the first)");
        }
        TokenBatch first = batches.get(0);
        for (int i = 0; i < batches.size(); i++) {
            TokenBatch b = batches.get(i);
            b.location()
                    .requireCpuAccessible("TokenBatchIpc." + operation + " of batch " + i
                            + " (Arrow IPC writers read the data with the CPU)");
            if (b.dtype() != first.dtype() || b.hiddenSize() != first.hiddenSize() || b.topK() != first.topK()) {
                throw new IllegalArgumentException(operation + ": batch " + i + " has dtype " + b.dtype() + ", H = "
                        + b.hiddenSize() + ", k = " + b.topK() + " but batch 0 has dtype " + first.dtype() + ", H = "
                        + first.hiddenSize() + ", k = " + first.topK() + "; one IPC file or stream has one schema");
            }
        }
        return TokenBatchSchema.schema(first.dtype(), first.hiddenSize(), first.topK());
    }

    /**
     * Loads each batch's buffers (by reference) into the writer's root and writes it; {@code onFailure} runs before
     * the writer is closed (which writes the end marker).
     */
    private static void write(
            BufferAllocator allocator,
            Schema schema,
            List<TokenBatch> batches,
            WriterFactory factory,
            Runnable onFailure)
            throws IOException {
        try (VectorSchemaRoot staging = VectorSchemaRoot.create(schema, allocator);
                ArrowWriter writer = factory.open(staging)) {
            try {
                VectorLoader loader = new VectorLoader(staging);
                writer.start();
                for (TokenBatch batch : batches) {
                    try (ArrowRecordBatch record = new VectorUnloader(batch.root()).getRecordBatch()) {
                        loader.load(record);
                    }
                    writer.writeBatch();
                }
                writer.end();
            } catch (IOException | RuntimeException e) {
                onFailure.run();
                throw e;
            }
        }
    }

    private static List<TokenBatch> readAll(ArrowReader reader, BufferAllocator allocator) throws IOException {
        VectorSchemaRoot current = reader.getVectorSchemaRoot();
        // Checks the schema even when there are no batches: a file of something else is an error, not "empty".
        TokenBatch.wrap(current).close();
        List<TokenBatch> out = new ArrayList<>();
        try {
            while (true) {
                try {
                    if (!reader.loadNextBatch()) {
                        return out;
                    }
                    out.add(adoptCopyOf(current, allocator));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("IPC batch " + out.size() + ": " + e.getMessage(), e);
                }
            }
        } catch (IOException | RuntimeException e) {
            out.forEach(TokenBatch::close);
            throw e;
        }
    }

    /**
     * Arrow's loader sets each fixed-size list's child length to rows × list size ({@code setRowCount}), silently
     * reinterpreting a batch written with another H (or zero-extending a short one). The lengths are therefore checked
     * on the record batch as read, before loading: a token batch's element count must be exactly rows × width (Arrow
     * itself would accept a longer child).
     */
    private static void requireExactListLengths(ArrowReader reader, ArrowRecordBatch batch) {
        try {
            Iterator<ArrowFieldNode> nodes = batch.getNodes().iterator();
            for (Field field : reader.getVectorSchemaRoot().getSchema().getFields()) {
                requireExactListLengths(field, nodes);
            }
        } catch (IOException | RuntimeException e) {
            // loadRecordBatch closes the batch only when it gets to run.
            batch.close();
            throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
        }
    }

    /** Checks one field's node and its descendants' (nodes are in depth-first order); returns the node's length. */
    private static int requireExactListLengths(Field field, Iterator<ArrowFieldNode> nodes) {
        int length = nodes.next().getLength();
        for (Field child : field.getChildren()) {
            int childLength = requireExactListLengths(child, nodes);
            if (field.getType() instanceof ArrowType.FixedSizeList list
                    && childLength != (long) length * list.getListSize()) {
                throw new IllegalArgumentException(field.getName() + " holds " + childLength + " values for " + length
                        + " rows of list size " + list.getListSize() + " (need " + ((long) length * list.getListSize())
                        + "): the batch was written with another width than the schema's");
            }
        }
        return length;
    }

    /** The reader reuses its root for every batch: move the current batch's buffers into a root of its own. */
    private static TokenBatch adoptCopyOf(VectorSchemaRoot current, BufferAllocator allocator) {
        VectorSchemaRoot own = VectorSchemaRoot.create(current.getSchema(), allocator);
        try (ArrowRecordBatch record = new VectorUnloader(current).getRecordBatch()) {
            new VectorLoader(own).load(record);
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
        return TokenBatch.adopt(own);
    }
}
