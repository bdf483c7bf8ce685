package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * {@code tokenroute.bfloat16}: brain floating point (1 sign, 8 exponent, 7 mantissa bits) stored as uint16 bit patterns.
 * Arrow has no bf16 type; labelling these bits as fp16 would silently change their meaning, so they carry this name.
 */
public final class BFloat16Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.bfloat16";
    /** The shared instance. */
    public static final BFloat16Type INSTANCE = new BFloat16Type();
    private static final ArrowType STORAGE = new ArrowType.Int(16, false);

    private BFloat16Type() {
    }

    @Override
    public ArrowType storageType() {
        return STORAGE;
    }

    @Override
    public String extensionName() {
        return NAME;
    }

    @Override
    public FieldVector getNewVector(String name, FieldType fieldType, BufferAllocator allocator) {
        return new BFloat16Vector(new Field(name, fieldType, null), allocator, new UInt2Vector(name, allocator));
    }
}
