package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.hash.ArrowBufHasher;
import org.apache.arrow.vector.ExtensionTypeVector;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.UInt2Vector;

/** A vector of {@link BFloat16Type} values over a {@link UInt2Vector} of bit patterns. Host memory only. */
public final class BFloat16Vector extends ExtensionTypeVector<UInt2Vector> {

    private final Field field;

    public BFloat16Vector(Field field, BufferAllocator allocator, UInt2Vector storage) {
        super(field, allocator, storage);
        this.field = field;
    }

    /** The extension-typed field: Arrow's base class would report the storage type and lose the tag. */
    @Override
    public Field getField() {
        return field;
    }

    /** The value at {@code index} widened exactly to float, or null. */
    @Override
    public Object getObject(int index) {
        return isNull(index) ? null : Float.intBitsToFloat((getUnderlyingVector().get(index) & 0xFFFF) << 16);
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
