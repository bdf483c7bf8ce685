package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * {@code tokenroute.ue8m0}: an unsigned 8-bit exponent (bias 127, no mantissa) encoding a power-of-two scale, as in
 * the OCP MX formats. Used for fp8 dispatch scales when {@code ue8m0} packing is requested.
 */
public final class Ue8m0Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.ue8m0";
    /** The shared instance. */
    public static final Ue8m0Type INSTANCE = new Ue8m0Type();
    private static final ArrowType STORAGE = new ArrowType.Int(8, false);

    private Ue8m0Type() {
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
        return new ByteTagVector(new Field(name, fieldType, null), allocator, new UInt1Vector(name, allocator));
    }
}
