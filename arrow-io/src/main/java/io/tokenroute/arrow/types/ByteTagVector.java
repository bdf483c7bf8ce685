package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.hash.ArrowBufHasher;
import org.apache.arrow.vector.ExtensionTypeVector;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.UInt1Vector;

/** A vector of one-byte extension values ({@link Float8E4M3Type}, {@link Ue8m0Type}); values read as raw bytes. */
public final class ByteTagVector extends ExtensionTypeVector<UInt1Vector> {

    private final Field field;

    public ByteTagVector(Field field, BufferAllocator allocator, UInt1Vector storage) {
        super(field, allocator, storage);
        this.field = field;
    }

    /** The extension-typed field: Arrow's base class would report the storage type and lose the tag. */
    @Override
    public Field getField() {
        return field;
    }

    /** The raw bit pattern at {@code index} (0..255), or null. */
    @Override
    public Object getObject(int index) {
        return isNull(index) ? null : getUnderlyingVector().get(index) & 0xFF;
    }

    @Override
    public int hashCode(int index) {
        return getUnderlyingVector().hashCode(index);
    }

    @Override
    public int hashCode(int index, ArrowBufHasher hasher) {
        return getUnderlyingVector().hashCode(index, hasher);
    }
}
