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
 * {@code tokenroute.ue8m0}: an unsigned 8-bit exponent (bias 127, no mantissa) encoding a power-of-two scale, as in
 * the OCP MX formats. Used for fp8 dispatch scales when {@code ue8m0} packing is requested.
 */
public final class Ue8m0Type extends TagExtensionType {
    /** The registered extension name. */
    public static final String NAME = "tokenroute.ue8m0";
    /** The shared instance. */
    public static final Ue8m0Type INSTANCE = new Ue8m0Type();

    private Ue8m0Type() {
        super(
                NAME,
                new ArrowType.Int(8, false),
                (field, allocator) -> new ByteTagVector(field, allocator, new UInt1Vector(field.getName(), allocator)));
    }
}
