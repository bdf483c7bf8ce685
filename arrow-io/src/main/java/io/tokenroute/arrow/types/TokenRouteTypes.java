package io.tokenroute.arrow.types;

import org.apache.arrow.vector.types.pojo.ExtensionTypeRegistry;

/** Registers TokenRoute's extension types with Arrow Java so IPC readers and C Data import recognise them. */
public final class TokenRouteTypes {
    static {
        ExtensionTypeRegistry.register(BFloat16Type.INSTANCE);
        ExtensionTypeRegistry.register(Float8E4M3Type.INSTANCE);
        ExtensionTypeRegistry.register(Ue8m0Type.INSTANCE);
    }

    private TokenRouteTypes() {
    }

    /** Ensures the registration ran; cheap and idempotent. */
    public static void register() {
        // The static initializer does the work exactly once.
    }
}
