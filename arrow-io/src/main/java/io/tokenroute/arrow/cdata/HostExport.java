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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.io.IOException;
import java.util.Objects;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.CDataDictionaryProvider;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Zero-copy hand-off of host record batches through the Arrow C Data Interface ({@code ArrowArray} +
 * {@code ArrowSchema}, docs/contract.md §5), e.g. to pyarrow, and import back.
 *
 * <p>Exported buffer pointers are the source vectors' own buffer addresses: nothing is copied, the exported array
 * holds references that keep the buffers alive until the consumer releases it. A record batch is exported as a
 * struct array with a NULL validity buffer (rows are never null) and one child per column; bf16 columns carry their
 * {@code tokenroute.bfloat16} extension name in the field metadata ({@code ARROW:extension:name}).
 *
 * <p>Device batches are refused here: use {@link DeviceExport}. Ownership of the exported structs is described on
 * {@link ExportedBatch}.
 */
public final class HostExport {
    private HostExport() {}

    /**
     * Exports a host token batch. Token batches hold no nulls (checked when the batch was made), so null counts are
     * written as 0 without scanning ({@link NullCounts#KNOWN_ZERO}) and the cost does not depend on the batch size.
     *
     * @param allocator allocates the C structs and the exporter's bookkeeping (a few hundred bytes)
     * @param batch an open batch in CPU-accessible memory; it may be closed right after this call
     * @throws io.tokenroute.arrow.memory.DeviceMemoryAccessException if the batch lives in device memory
     * @throws IllegalStateException if the batch is closed
     */
    public static ExportedBatch export(BufferAllocator allocator, TokenBatch batch) {
        batch.location().requireCpuAccessible("HostExport.export (device batches go through DeviceExport)");
        return export(allocator, batch.root(), NullCounts.KNOWN_ZERO);
    }

    /**
     * Exports any host record batch (dispatch, combine or allGather results) with exact null counts
     * ({@link NullCounts#SCAN}).
     *
     * @param root a root whose buffers the CPU may read; it may be closed right after this call
     */
    public static ExportedBatch export(BufferAllocator allocator, VectorSchemaRoot root) {
        return export(allocator, root, NullCounts.SCAN);
    }

    /**
     * Exports a host record batch with the given null-count policy.
     *
     * @param allocator allocates the C structs and the exporter's bookkeeping
     * @param root a root whose buffers the CPU may read, without dictionary-encoded columns; it may be closed right
     *     after this call
     * @param nullCounts {@link NullCounts#KNOWN_ZERO} only when the root certainly holds no nulls
     */
    public static ExportedBatch export(BufferAllocator allocator, VectorSchemaRoot root, NullCounts nullCounts) {
        Objects.requireNonNull(root, "root");
        ArrowArray array = ArrowArray.allocateNew(allocator);
        ArrowSchema schema = ArrowSchema.allocateNew(allocator);
        try {
            RootExporter.export(allocator, root, nullCounts, true, array, schema);
        } catch (RuntimeException e) {
            array.close();
            schema.close();
            throw e;
        }
        return new ExportedBatch(array, schema);
    }

    /**
     * Exports a sequence of record batches through the Arrow C Stream Interface ({@code ArrowArrayStream}), e.g. the
     * outputs of successive steps queued in a {@link io.tokenroute.arrow.stream.RecordBatchQueue}. Each batch is
     * exported when the consumer asks for it ({@code get_next}), zero-copy like {@link #export(BufferAllocator,
     * VectorSchemaRoot)}, with exact null counts.
     *
     * @param allocator allocates the stream struct and, per batch, the array structs and the exporter's bookkeeping;
     *     it must outlive every batch the consumer holds
     * @param reader a reader of host batches without dictionary-encoded columns; from now on the stream owns it and
     *     closes it on release (also when the export fails)
     * @return the export; the caller closes it once the consumer imported it (see {@link ExportedStream})
     */
    public static ExportedStream exportStream(BufferAllocator allocator, ArrowReader reader) {
        Objects.requireNonNull(reader, "reader");
        ArrowArrayStream stream;
        try {
            stream = ArrowArrayStream.allocateNew(allocator);
        } catch (RuntimeException e) {
            closeQuietly(reader, e);
            throw e;
        }
        try {
            Data.exportArrayStream(allocator, reader, stream);
        } catch (RuntimeException e) {
            stream.close();
            closeQuietly(reader, e);
            throw e;
        }
        return new ExportedStream(stream);
    }

    private static void closeQuietly(ArrowReader reader, RuntimeException failure) {
        try {
            reader.close();
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    /**
     * Imports a C Data record batch (from TokenRoute, pyarrow or any producer) as a Java root without copying. The
     * schema is released; the array is moved out of its struct ({@code release} becomes NULL there). The structs'
     * memory stays the producer's. TokenRoute's extension types are recognised.
     *
     * <p><b>Offsets are honoured at every level</b> (the record batch's struct, its columns, fixed-size list elements,
     * validity bitmaps at any bit): a batch sliced by its producer, such as {@code pyarrow.RecordBatch.slice(5, 7)},
     * imports as exactly its 7 rows, each buffer viewed from its first used element. The only copy ever made is of a
     * bitmap that starts inside a byte and holds nulls ({@code ⌈rows / 8⌉} bytes); see {@link CDataImporter} for the
     * rules and the few types that are refused with an offset.
     *
     * <p>Before anything is taken, every array is checked against the schema: buffer and child counts, and that each
     * child holds the elements its parent's rows need (Arrow Java's own importer would zero-extend a short child).
     *
     * @param allocator accounts the imported buffers; the returned root must be closed before it
     * @param arrayAddress a live {@code struct ArrowArray} describing a struct array (a record batch)
     * @param schemaAddress a live {@code struct ArrowSchema} of struct type
     * @return a root the caller owns; closing it calls the producer's release callback (after the last buffer of the
     *     root, and of any slice or transfer made from it, is released)
     * @throws IllegalArgumentException for a null address, dictionary-encoded columns, null record batch rows, a
     *     layout that does not match the schema, a short child, or an offset on a type imported only without one; the
     *     schema is released either way, the array is left to its owner
     */
    public static VectorSchemaRoot importRoot(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
        return importChecked(allocator, arrayAddress, schemaAddress).root();
    }

    /**
     * Imports a C Data record batch as an owning host {@link TokenBatch}, validated like {@link TokenBatch#adopt}.
     * When the producer's null counts show every array to be null-free (or it sent no validity bitmaps, as pyarrow
     * does for non-null arrays), the bitmaps are not scanned again. On a validation failure the imported data is
     * released before the exception.
     *
     * @see #importRoot
     */
    public static TokenBatch importBatch(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
        CDataImporter.Imported imported = importChecked(allocator, arrayAddress, schemaAddress);
        return imported.nullFree() ? TokenBatch.adoptNullFree(imported.root()) : TokenBatch.adopt(imported.root());
    }

    private static CDataImporter.Imported importChecked(
            BufferAllocator allocator, long arrayAddress, long schemaAddress) {
        if (arrayAddress == 0 || schemaAddress == 0) {
            throw new IllegalArgumentException("null C Data struct address: array 0x" + Long.toHexString(arrayAddress)
                    + ", schema 0x" + Long.toHexString(schemaAddress));
        }
        TokenRouteTypes.register();
        // Dictionaries would live in this provider and die with it: dictionary-encoded columns are refused below.
        try (CDataDictionaryProvider dictionaries = new CDataDictionaryProvider()) {
            Schema schema = Data.importSchema(allocator, ArrowSchema.wrap(schemaAddress), dictionaries);
            for (Field field : schema.getFields()) {
                if (field.getDictionary() != null) {
                    throw new IllegalArgumentException("imported column '" + field.getName()
                            + "' is dictionary-encoded, which TokenRoute does not support");
                }
            }
            return CDataImporter.importBatch(allocator, arrayAddress, schema);
        }
    }
}
