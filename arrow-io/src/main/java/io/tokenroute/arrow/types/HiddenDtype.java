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

import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/** The element type of a {@code hidden} row: what each of the H values is, and how many bytes it takes. */
public enum HiddenDtype {
    /** bfloat16 bits in uint16, tagged {@link BFloat16Type}: the routing wire format. */
    BF16(2, BFloat16Type.INSTANCE),
    /** IEEE half precision ({@code halffloat}); accepted as dispatch input and converted to bf16. */
    FP16(2, new ArrowType.FloatingPoint(FloatingPointPrecision.HALF)),
    /** IEEE single precision; accepted as dispatch input and converted to bf16. */
    FP32(4, new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
    /** OCP FP8 E4M3 bits in uint8, tagged {@link Float8E4M3Type}: fp8 dispatch output, with separate scales. */
    FP8_E4M3(1, Float8E4M3Type.INSTANCE);

    private final int bytes;
    private final ArrowType arrowType;

    HiddenDtype(int bytes, ArrowType arrowType) {
        this.bytes = bytes;
        this.arrowType = arrowType;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The Arrow type of one element. */
    public ArrowType arrowType() {
        return arrowType;
    }

    /** A non-nullable element field named {@code name}. */
    public Field elementField(String name) {
        TokenRouteTypes.register();
        return new Field(name, FieldType.notNullable(arrowType), null);
    }

    /** The dtype of an element type; throws naming the type when TokenRoute does not handle it. */
    public static HiddenDtype of(ArrowType type) {
        for (HiddenDtype d : values()) {
            if (d.arrowType.equals(type)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown hidden dtype " + type
                + ": expected tokenroute.bfloat16 (uint16 storage), halffloat, float32 or tokenroute.float8_e4m3");
    }
}
