/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
package io.tokenroute.arrow.types;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.ArrowType.ExtensionType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * An extension type that only names how to read the bits of a primitive storage type (bf16 in uint16, fp8 in uint8),
 * with no parameters: two instances are equal when their names are. Readers that do not know the name (pyarrow without
 * TokenRoute's registration) still get the storage type plus the {@code ARROW:extension:name} field metadata.
 */
abstract class TagExtensionType extends ExtensionType {
    /** Makes the vector for a field of this type. */
    interface VectorFactory {
        FieldVector create(Field field, BufferAllocator allocator);
    }

    private final String name;
    private final ArrowType storage;
    private final VectorFactory vectors;

    TagExtensionType(String name, ArrowType storage, VectorFactory vectors) {
        this.name = name;
        this.storage = storage;
        this.vectors = vectors;
    }

    @Override
    public final ArrowType storageType() {
        return storage;
    }

    @Override
    public final String extensionName() {
        return name;
    }

    @Override
    public final boolean extensionEquals(ExtensionType other) {
        return other != null && other.extensionName().equals(name);
    }

    @Override
    public final String serialize() {
        return "";
    }

    @Override
    public final ArrowType deserialize(ArrowType storageType, String serializedData) {
        if (!storageType.equals(storage)) {
            throw new IllegalArgumentException(name + " needs storage " + storage + ", got " + storageType);
        }
        return this;
    }

    @Override
    public final FieldVector getNewVector(String fieldName, FieldType fieldType, BufferAllocator allocator) {
        return vectors.create(new Field(fieldName, fieldType, null), allocator);
    }
}
