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
package io.tokenroute.arrow.types;

import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.Objects;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.hash.ArrowBufHasher;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.ExtensionTypeVector;
import org.apache.arrow.vector.ValueVector;
import org.apache.arrow.vector.compare.TypeEqualsVisitor;
import org.apache.arrow.vector.compare.VectorVisitor;
import org.apache.arrow.vector.complex.reader.FieldReader;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.util.CallBack;
import org.apache.arrow.vector.util.TransferPair;

/**
 * A vector of one of TokenRoute's tag extension types ({@link BFloat16Type}, {@link Float8E4M3Type},
 * {@link Ue8m0Type}) over a fixed-width unsigned storage vector holding the bit patterns.
 *
 * <p><b>Arrow's generic APIs.</b> Arrow Java's {@link ExtensionTypeVector} hands transfers to its storage vector, whose
 * transfer pairs expect a storage-typed target: {@code VectorSchemaRoot.slice}, {@code splitAndTransfer} and every
 * fixed-size list holding such a vector failed with a {@code ClassCastException}. Here transfer pairs, {@code copyFrom}
 * and {@code copyFromSafe} take and produce vectors of the same extension type, so slicing, transfers, appending
 * ({@code VectorSchemaRootAppender}), the comparison visitors, {@code VectorLoader}/{@code VectorUnloader}, IPC and C
 * Data behave as for Arrow's own vectors. Values and nulls stay in the storage vector ({@link #getUnderlyingVector()}).
 *
 * <p><b>Memory location.</b> A vector whose buffers were loaded over CUDA device memory is told so with
 * {@link #setLocation}; TokenRoute's loaders ({@code ColumnViews}, {@code TokenBatch.fromBuffers}) do it. Validity
 * bitmaps stay on the host, so null checks, transfers and slices (which only move buffer references) keep working;
 * everything that reads or copies values ({@link #getObject}, {@code copyFrom}, hashing, readers, growing the buffers,
 * any visitor but {@link TypeEqualsVisitor}) throws a
 * {@link io.tokenroute.arrow.memory.DeviceMemoryAccessException} instead of letting the CPU crash the JVM. The storage
 * vector itself is plain Arrow and unguarded. Not thread-safe, like every Arrow vector.
 *
 * @param <T> the storage vector type
 */
public abstract sealed class TagVector<T extends BaseFixedWidthVector> extends ExtensionTypeVector<T>
        permits BFloat16Vector, ByteTagVector {
    private final Field field;
    private MemoryLocation location = MemoryLocation.HOST;

    TagVector(Field field, BufferAllocator allocator, T storage) {
        super(field, allocator, storage);
        if (!(field.getType() instanceof TagExtensionType tag)
                || !tag.storageType().equals(storage.getField().getType())) {
            throw new IllegalArgumentException("field '" + field.getName() + "' of type " + field.getType()
                    + " cannot be held in a " + getClass().getSimpleName() + " over "
                    + storage.getField().getType());
        }
        this.field = field;
    }

    /** A new empty vector of this class for {@code field}, whose type is this vector's extension type. */
    abstract TagVector<T> emptyLike(Field field, BufferAllocator allocator);

    /** The value at {@code index}, which is not null, as {@link #getObject} returns it. */
    abstract Object valueAt(int index);

    /** The extension-typed field: Arrow's base class would report the storage type and lose the tag. */
    @Override
    public Field getField() {
        return field;
    }

    /** Where the data buffer lives; {@link MemoryLocation#HOST} unless a loader said otherwise. */
    public MemoryLocation location() {
        return location;
    }

    /**
     * Declares where the data buffer lives, for whoever loaded it over memory Arrow did not allocate. Transfers and
     * slices carry the location to their targets.
     */
    public void setLocation(MemoryLocation location) {
        this.location = Objects.requireNonNull(location, "location");
    }

    /** The value at {@code index}, or null; host memory only. */
    @Override
    public final Object getObject(int index) {
        requireCpu("getObject");
        return isNull(index) ? null : valueAt(index);
    }

    @Override
    public int hashCode(int index) {
        requireCpu("hashCode");
        return getUnderlyingVector().hashCode(index);
    }

    @Override
    public int hashCode(int index, ArrowBufHasher hasher) {
        requireCpu("hashCode");
        return getUnderlyingVector().hashCode(index, hasher);
    }

    /**
     * Copies the value (or null) at {@code fromIndex} of {@code from}, a vector of the same extension type, to
     * {@code thisIndex}, within this vector's capacity.
     */
    @Override
    public void copyFrom(int fromIndex, int thisIndex, ValueVector from) {
        TagVector<?> source = sameType(from, "copyFrom");
        requireCpu("copyFrom");
        source.requireCpu("copyFrom");
        getUnderlyingVector().copyFrom(fromIndex, thisIndex, source.getUnderlyingVector());
    }

    /** As {@link #copyFrom}, growing this vector when {@code thisIndex} is beyond its capacity. */
    @Override
    public void copyFromSafe(int fromIndex, int thisIndex, ValueVector from) {
        TagVector<?> source = sameType(from, "copyFromSafe");
        requireCpu("copyFromSafe");
        source.requireCpu("copyFromSafe");
        getUnderlyingVector().copyFromSafe(fromIndex, thisIndex, source.getUnderlyingVector());
    }

    /** Growing copies the data buffer with the CPU: refused for device memory. */
    @Override
    public void reAlloc() {
        requireCpu("reAlloc");
        super.reAlloc();
    }

    /** Setting a count beyond the capacity grows the buffers with the CPU: refused for device memory. */
    @Override
    public void setValueCount(int valueCount) {
        if (valueCount > getValueCapacity()) {
            requireCpu("setValueCount(" + valueCount + ") beyond the capacity of " + getValueCapacity());
        }
        super.setValueCount(valueCount);
    }

    @Override
    protected FieldReader getReaderImpl() {
        requireCpu("getReader");
        return super.getReaderImpl();
    }

    /** Type comparison reads no buffer and is always allowed; every other visitor reads values (host only). */
    @Override
    public <O, I> O accept(VectorVisitor<O, I> visitor, I value) {
        if (!(visitor instanceof TypeEqualsVisitor)) {
            requireCpu(visitor.getClass().getSimpleName());
        }
        return visitor.visit(this, value);
    }

    @Override
    public TransferPair getTransferPair(BufferAllocator allocator) {
        return getTransferPair(getName(), allocator);
    }

    @Override
    public TransferPair getTransferPair(String ref, BufferAllocator allocator) {
        return new Transfer(emptyLike(new Field(ref, field.getFieldType(), null), allocator));
    }

    @Override
    public TransferPair getTransferPair(String ref, BufferAllocator allocator, CallBack callBack) {
        return getTransferPair(ref, allocator);
    }

    /** A pair whose target is a new vector for {@code target}, a field of this vector's extension type. */
    @Override
    public TransferPair getTransferPair(Field target, BufferAllocator allocator) {
        if (!field.getType().equals(target.getType())) {
            throw new IllegalArgumentException("cannot transfer " + field.getType() + " values to field '"
                    + target.getName() + "' of type " + target.getType());
        }
        return new Transfer(emptyLike(target, allocator));
    }

    @Override
    public TransferPair getTransferPair(Field target, BufferAllocator allocator, CallBack callBack) {
        return getTransferPair(target, allocator);
    }

    /** A pair into {@code target}, an existing vector of the same extension type. */
    @Override
    public TransferPair makeTransferPair(ValueVector target) {
        return new Transfer(sameType(target, "makeTransferPair"));
    }

    /** Never reads device values: a debugger calling it must not crash the JVM. */
    @Override
    public String toString() {
        if (!location.isCpuAccessible()) {
            return getClass().getSimpleName() + "[" + field.getType() + ", " + getValueCount() + " values in "
                    + location + " memory]";
        }
        return super.toString();
    }

    private void requireCpu(String operation) {
        location.requireCpuAccessible(getClass().getSimpleName() + " '" + getName() + "': " + operation);
    }

    private TagVector<?> sameType(ValueVector other, String operation) {
        if (other instanceof TagVector<?> tag && tag.field.getType().equals(field.getType())) {
            return tag;
        }
        throw new IllegalArgumentException(operation + ": " + getName() + " holds " + field.getType()
                + ", the other vector is "
                + (other == null
                        ? "null"
                        : other.getField().getType() + " (" + other.getClass().getSimpleName() + ")"));
    }

    /** Moves the storage's buffers (whole or a range) and the location to a vector of the same extension type. */
    private final class Transfer implements TransferPair {
        private final TagVector<?> to;
        private final TransferPair storage;

        Transfer(TagVector<?> to) {
            this.to = to;
            this.storage = getUnderlyingVector().makeTransferPair(to.getUnderlyingVector());
        }

        @Override
        public void transfer() {
            storage.transfer();
            to.location = location;
        }

        /** Zero-copy for the data; Arrow copies only the validity bits when {@code start} is not a multiple of 8. */
        @Override
        public void splitAndTransfer(int start, int length) {
            storage.splitAndTransfer(start, length);
            to.location = location;
        }

        @Override
        public ValueVector getTo() {
            return to;
        }

        @Override
        public void copyValueSafe(int from, int toIndex) {
            requireCpu("copyValueSafe");
            to.requireCpu("copyValueSafe");
            storage.copyValueSafe(from, toIndex);
        }
    }
}
