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
import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * A vector of {@link BFloat16Type} values over a {@link UInt2Vector} of bit patterns. Works with Arrow's generic APIs
 * and refuses CPU reads of device memory as described on {@link TagVector}.
 */
public final class BFloat16Vector extends TagVector<UInt2Vector> {

    /**
     * @param field a field of type {@link BFloat16Type}
     * @param storage an empty uint16 vector that this vector owns from now on
     */
    public BFloat16Vector(Field field, BufferAllocator allocator, UInt2Vector storage) {
        super(field, allocator, storage);
    }

    /** The value at {@code index} widened exactly to float, or null; host memory only. */
    @Override
    Object valueAt(int index) {
        return Float.intBitsToFloat((getUnderlyingVector().get(index) & 0xFFFF) << 16);
    }

    @Override
    BFloat16Vector emptyLike(Field field, BufferAllocator allocator) {
        return new BFloat16Vector(field, allocator, new UInt2Vector(field.getName(), allocator));
    }
}
