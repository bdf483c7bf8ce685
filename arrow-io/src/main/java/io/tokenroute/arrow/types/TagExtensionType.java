package io.tokenroute.arrow.types;

import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.ArrowType.ExtensionType;

/**
 * An extension type that only names how to read the bits of a primitive storage type (bf16 in uint16, fp8 in uint8),
 * with no parameters: two instances are equal when their names are. Readers that do not know the name (pyarrow without
 * TokenRoute's registration) still get the storage type plus the {@code ARROW:extension:name} field metadata.
 */
abstract class TagExtensionType extends ExtensionType {

    @Override
    public final boolean extensionEquals(ExtensionType other) {
        return other != null && other.extensionName().equals(extensionName());
    }

    @Override
    public final String serialize() {
        return "";
    }

    @Override
    public final ArrowType deserialize(ArrowType storageType, String serializedData) {
        if (!storageType.equals(storageType())) {
            throw new IllegalArgumentException(extensionName() + " needs storage " + storageType()
                    + ", got " + storageType);
        }
        return this;
    }
}
