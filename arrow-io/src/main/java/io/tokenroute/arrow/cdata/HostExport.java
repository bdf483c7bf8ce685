package io.tokenroute.arrow.cdata;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.util.List;
import java.util.Objects;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.CDataDictionaryProvider;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Zero-copy hand-off of host record batches through the Arrow C Data Interface ({@code ArrowArray} +
 * {@code ArrowSchema}, spec §5), e.g. to pyarrow, and import back.
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
    private HostExport() {
    }

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
     * Imports a C Data record batch (from TokenRoute, pyarrow or any producer) as a Java root without copying. The
     * schema is released; the array is moved out of its struct ({@code release} becomes NULL there). The structs'
     * memory stays the producer's. TokenRoute's extension types are recognised.
     *
     * <p>Before importing, every fixed-size list's child is checked to hold at least rows × list size values: Arrow
     * Java's importer would otherwise zero-extend a short child silently.
     *
     * @param allocator accounts the imported buffers; the returned root must be closed before it
     * @param arrayAddress a live {@code struct ArrowArray} describing a struct array with offset 0
     * @param schemaAddress a live {@code struct ArrowSchema} of struct type
     * @return a root the caller owns; closing it calls the producer's release callback
     * @throws IllegalArgumentException for a null address, dictionary-encoded columns or a short list child; the
     *     schema is released either way, the array is left to its owner
     */
    public static VectorSchemaRoot importRoot(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
        if (arrayAddress == 0 || schemaAddress == 0) {
            throw new IllegalArgumentException("null C Data struct address: array 0x" + Long.toHexString(arrayAddress)
                    + ", schema 0x" + Long.toHexString(schemaAddress));
        }
        TokenRouteTypes.register();
        // Dictionaries would live in this provider and die with it: dictionary-encoded columns are refused below.
        try (CDataDictionaryProvider dictionaries = new CDataDictionaryProvider()) {
            Schema schema = Data.importSchema(allocator, ArrowSchema.wrap(schemaAddress), dictionaries);
            ArrowArrayView batch = ArrowArrayView.at(arrayAddress);
            List<Field> fields = schema.getFields();
            for (int c = 0; c < fields.size(); c++) {
                if (fields.get(c).getDictionary() != null) {
                    throw new IllegalArgumentException("imported column '" + fields.get(c).getName()
                            + "' is dictionary-encoded, which TokenRoute does not support");
                }
                if (c < batch.childCount()) {
                    requireFullListChildren(fields.get(c), batch.child(c));
                }
            }
            VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
            try {
                Data.importIntoVectorSchemaRoot(allocator, ArrowArray.wrap(arrayAddress), root, dictionaries);
            } catch (RuntimeException e) {
                root.close();
                throw e;
            }
            return root;
        }
    }

    /**
     * Imports a C Data record batch as an owning host {@link TokenBatch}, validated like
     * {@link TokenBatch#adopt}. On a validation failure the imported data is released before the exception.
     *
     * @see #importRoot
     */
    public static TokenBatch importBatch(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
        return TokenBatch.adopt(importRoot(allocator, arrayAddress, schemaAddress));
    }

    /** Structural mismatches are left to Arrow's importer, which reports them. */
    private static void requireFullListChildren(Field field, ArrowArrayView array) {
        List<Field> children = field.getChildren();
        if (array.childCount() != children.size()) {
            return;
        }
        for (int i = 0; i < children.size(); i++) {
            requireFullListChildren(children.get(i), array.child(i));
        }
        if (field.getType() instanceof ArrowType.FixedSizeList list) {
            long need = (array.offset() + array.length()) * list.getListSize();
            long have = array.child(0).length();
            if (have < need) {
                throw new IllegalArgumentException(field.getName() + " holds " + have + " values for "
                        + array.length() + " rows of list size " + list.getListSize() + " (need " + need + ")");
            }
        }
    }
}
