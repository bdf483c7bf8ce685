package io.tokenroute.arrow.types;

import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * {@code tokenroute.bfloat16}: brain floating point (1 sign, 8 exponent, 7 mantissa bits) stored as uint16 bit patterns.
 * Arrow has no bf16 type; labelling these bits as fp16 would silently change their meaning, so they carry this name.
 */
public final class BFloat16Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.bfloat16";
    /** The shared instance. */
    public static final BFloat16Type INSTANCE = new BFloat16Type();

    private BFloat16Type() {
        super(NAME, new ArrowType.Int(16, false),
                (field, allocator) -> new BFloat16Vector(field, allocator, new UInt2Vector(field.getName(), allocator)));
    }
}
