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

import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * {@code tokenroute.bfloat16}: brain floating point (1 sign, 8 exponent, 7 mantissa bits) stored as uint16 bit
 * patterns. Arrow has no bf16 type; labelling these bits as fp16 would silently change their meaning, so they carry
 * this name.
 */
public final class BFloat16Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.bfloat16";
    /** The shared instance. */
    public static final BFloat16Type INSTANCE = new BFloat16Type();

    private BFloat16Type() {
        super(
                NAME,
                new ArrowType.Int(16, false),
                (field, allocator) ->
                        new BFloat16Vector(field, allocator, new UInt2Vector(field.getName(), allocator)));
    }
}
