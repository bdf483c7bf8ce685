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

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BufferLayout;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.TypeLayout;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * Exports a record batch through Arrow's C Data exporter ({@link Data#exportSchema}, {@link Data#exportVector}) with
 * control over two things Arrow's {@code Data.exportVectorSchemaRoot} decides on its own:
 * <ul>
 *   <li>null counts: Arrow counts them by scanning every validity bitmap on every export (see {@link NullCounts});
 *       </li>
 *   <li>validity pointers: an {@code ArrowDeviceArray} must have all its buffers on its device, but TokenRoute keeps
 *       validity bitmaps on the host, so device exports write NULL validity pointers (allowed when null_count is 0).
 *   </li>
 * </ul>
 *
 * <p>Arrow's exporter reads vectors only through the {@link FieldVector} interface (children, value count, null count,
 * field, buffer export), so the batch is handed to it as dynamic proxies: the record batch as a struct with no
 * validity buffer, each column as its real vector with the null count (and, for devices, the validity pointer)
 * replaced. Everything else, including the buffer reference counting that keeps the data alive until the consumer
 * releases it, is Arrow's. The proxies never read buffer contents, so device data is safe.
 */
final class RootExporter {
    private RootExporter() {}

    /**
     * Exports {@code root}'s schema into {@code schemaOut} and its data into {@code arrayOut} (both freshly allocated,
     * released). On failure nothing stays exported.
     *
     * @param keepValidity false to write NULL validity pointers (device exports); requires every null count to be 0
     * @throws IllegalArgumentException for dictionary-encoded columns, or nulls where validity is dropped
     */
    static void export(
            BufferAllocator allocator,
            VectorSchemaRoot root,
            NullCounts nullCounts,
            boolean keepValidity,
            ArrowArray arrayOut,
            ArrowSchema schemaOut) {
        List<FieldVector> columns = new ArrayList<>();
        for (FieldVector vector : root.getFieldVectors()) {
            columns.add(columnView(vector, nullCounts, keepValidity));
        }
        FieldVector batch = proxy(new RecordBatchHandler(root, columns));
        Data.exportSchema(allocator, root.getSchema(), null, schemaOut);
        try {
            Data.exportVector(allocator, batch, null, arrayOut);
        } catch (RuntimeException e) {
            CRelease.releaseArray(arrayOut.memoryAddress());
            CRelease.releaseSchema(schemaOut.memoryAddress());
            throw e;
        }
    }

    private static FieldVector columnView(FieldVector vector, NullCounts nullCounts, boolean keepValidity) {
        Field field = vector.getField();
        if (field.getDictionary() != null) {
            throw new IllegalArgumentException("column '" + field.getName()
                    + "' is dictionary-encoded, which TokenRoute's C Data export does not support");
        }
        List<FieldVector> children = new ArrayList<>();
        for (FieldVector child : vector.getChildrenFromFields()) {
            children.add(columnView(child, nullCounts, keepValidity));
        }
        int nulls = nullCounts == NullCounts.SCAN ? vector.getNullCount() : 0;
        if (!keepValidity) {
            if (nulls != 0) {
                throw new IllegalArgumentException("column '" + field.getName() + "' has " + nulls
                        + " nulls, but a device array cannot carry TokenRoute's host-resident validity bitmaps");
            }
            requireValidityFirst(field);
        }
        return proxy(new ColumnHandler(vector, children, nulls, keepValidity));
    }

    /** Dropping buffer 0 is only dropping validity for layouts that start with a validity bitmap. */
    private static void requireValidityFirst(Field field) {
        ArrowType type = field.getType() instanceof ArrowType.ExtensionType ext ? ext.storageType() : field.getType();
        List<BufferLayout> layouts = TypeLayout.getTypeLayout(type).getBufferLayouts();
        if (layouts.isEmpty() || layouts.get(0).getType() != BufferLayout.BufferType.VALIDITY) {
            throw new IllegalArgumentException("column '" + field.getName() + "' of type " + field.getType()
                    + " has no leading validity bitmap and cannot be exported as a device array");
        }
    }

    private static FieldVector proxy(InvocationHandler handler) {
        return (FieldVector)
                Proxy.newProxyInstance(FieldVector.class.getClassLoader(), new Class<?>[] {FieldVector.class}, handler);
    }

    /** Object methods on a proxy: never delegated, since a vector's toString reads its values. */
    private static Object objectMethod(Object proxy, Method method, Object[] args, String description) {
        return switch (method.getName()) {
            case "toString" -> description;
            case "hashCode" -> System.identityHashCode(proxy);
            case "equals" -> proxy == args[0];
            default -> null;
        };
    }

    private static boolean isObjectMethod(Method method) {
        return method.getDeclaringClass() == Object.class;
    }

    /** One column (or nested child): the real vector, with the null count given and validity optionally dropped. */
    private static final class ColumnHandler implements InvocationHandler {
        private final FieldVector vector;
        private final List<FieldVector> children;
        private final int nullCount;
        private final boolean keepValidity;

        ColumnHandler(FieldVector vector, List<FieldVector> children, int nullCount, boolean keepValidity) {
            this.vector = vector;
            this.children = children;
            this.nullCount = nullCount;
            this.keepValidity = keepValidity;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (isObjectMethod(method)) {
                return objectMethod(proxy, method, args, "C Data export view of " + vector.getField());
            }
            switch (method.getName()) {
                case "getNullCount":
                    return nullCount;
                case "getChildrenFromFields":
                    return children;
                case "exportCDataBuffers":
                    if (!keepValidity) {
                        exportWithoutValidity(args);
                        return null;
                    }
                    break;
                default:
                    break;
            }
            try {
                return method.invoke(vector, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }

        /** As Arrow's default {@code exportCDataBuffers}, but with a NULL pointer in place of the validity bitmap. */
        @SuppressWarnings("unchecked")
        private void exportWithoutValidity(Object[] args) {
            List<ArrowBuf> exported = (List<ArrowBuf>) args[0];
            ArrowBuf pointers = (ArrowBuf) args[1];
            long nullValue = (Long) args[2];
            List<ArrowBuf> own = vector.getFieldBuffers();
            for (int i = 0; i < own.size(); i++) {
                vector.exportBuffer(i == 0 ? null : own.get(i), exported, pointers, nullValue, true);
            }
        }
    }

    /** The record batch as the struct array the C Data Interface expects: one child per column, no validity. */
    private static final class RecordBatchHandler implements InvocationHandler {
        private final int rowCount;
        private final Field field;
        private final List<FieldVector> columns;

        RecordBatchHandler(VectorSchemaRoot root, List<FieldVector> columns) {
            this.rowCount = root.getRowCount();
            this.field = new Field(
                    "",
                    new FieldType(
                            false,
                            ArrowType.Struct.INSTANCE,
                            null,
                            root.getSchema().getCustomMetadata()),
                    root.getSchema().getFields());
            this.columns = columns;
        }

        @Override
        @SuppressWarnings("unchecked")
        public Object invoke(Object proxy, Method method, Object[] args) {
            if (isObjectMethod(method)) {
                return objectMethod(
                        proxy, method, args, "C Data export view of a record batch of " + rowCount + " rows");
            }
            switch (method.getName()) {
                case "getChildrenFromFields":
                    return columns;
                case "getValueCount":
                    return rowCount;
                case "getNullCount":
                    return 0;
                case "getField":
                    return field;
                case "getExportedCDataBufferCount":
                    return 1;
                case "exportCDataBuffers":
                    // Rows of a record batch are never null: the struct's one buffer, validity, is NULL.
                    ((List<ArrowBuf>) args[0]).add(null);
                    ((ArrowBuf) args[1]).writeLong((Long) args[2]);
                    return null;
                default:
                    // Arrow's exporter uses only the methods above; anything else means Arrow changed.
                    throw new UnsupportedOperationException("FieldVector." + method.getName()
                            + " is not available on a C Data export view of a record batch");
            }
        }
    }
}
