package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * {@code tokenroute.float8_e4m3}: OCP FP8 E4M3FN (1 sign, 4 exponent, 3 mantissa bits, max 448, no infinities) stored
 * as uint8 bit patterns. Produced by fp8 dispatch together with per-128-channel scales.
 */
public final class Float8E4M3Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.float8_e4m3";
    /** The shared instance. */
    public static final Float8E4M3Type INSTANCE = new Float8E4M3Type();
    private static final ArrowType STORAGE = new ArrowType.Int(8, false);

    private Float8E4M3Type() {
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
