package io.tokenroute.arrow.types;

import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * {@code tokenroute.float8_e4m3}: OCP FP8 E4M3FN (1 sign, 4 exponent, 3 mantissa bits, max 448, no infinities) stored
 * as uint8 bit patterns. Produced by fp8 dispatch together with per-128-channel scales.
 */
public final class Float8E4M3Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.float8_e4m3";
    /** The shared instance. */
    public static final Float8E4M3Type INSTANCE = new Float8E4M3Type();

    private Float8E4M3Type() {
        super(NAME, new ArrowType.Int(8, false),
                (field, allocator) -> new ByteTagVector(field, allocator, new UInt1Vector(field.getName(), allocator)));
    }
}
