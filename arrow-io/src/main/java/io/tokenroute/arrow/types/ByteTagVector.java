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
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * A vector of one-byte extension values ({@link Float8E4M3Type}, {@link Ue8m0Type}) over a {@link UInt1Vector} of bit
 * patterns; values read as raw bytes. Works with Arrow's generic APIs and refuses CPU reads of device memory as
 * described on {@link TagVector}.
 */
public final class ByteTagVector extends TagVector<UInt1Vector> {

    /**
     * @param field a field of type {@link Float8E4M3Type} or {@link Ue8m0Type}
     * @param storage an empty uint8 vector that this vector owns from now on
     */
    public ByteTagVector(Field field, BufferAllocator allocator, UInt1Vector storage) {
        super(field, allocator, storage);
    }

    /** The raw bit pattern at {@code index} (0..255); host memory only. */
    @Override
    Object valueAt(int index) {
        return getUnderlyingVector().get(index) & 0xFF;
    }

    @Override
    ByteTagVector emptyLike(Field field, BufferAllocator allocator) {
        return new ByteTagVector(field, allocator, new UInt1Vector(field.getName(), allocator));
    }
}
