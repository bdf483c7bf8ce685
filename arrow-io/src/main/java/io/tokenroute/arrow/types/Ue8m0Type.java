package io.tokenroute.arrow.types;

import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * {@code tokenroute.ue8m0}: an unsigned 8-bit exponent (bias 127, no mantissa) encoding a power-of-two scale, as in
 * the OCP MX formats. Used for fp8 dispatch scales when {@code ue8m0} packing is requested.
 */
public final class Ue8m0Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.ue8m0";
    /** The shared instance. */
    public static final Ue8m0Type INSTANCE = new Ue8m0Type();

    private Ue8m0Type() {
        super(NAME, new ArrowType.Int(8, false),
                (field, allocator) -> new ByteTagVector(field, allocator, new UInt1Vector(field.getName(), allocator)));
    }
}
