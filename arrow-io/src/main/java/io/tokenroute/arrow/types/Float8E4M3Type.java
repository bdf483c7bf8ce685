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
        super(
                NAME,
                new ArrowType.Int(8, false),
                (field, allocator) -> new ByteTagVector(field, allocator, new UInt1Vector(field.getName(), allocator)));
    }
}
