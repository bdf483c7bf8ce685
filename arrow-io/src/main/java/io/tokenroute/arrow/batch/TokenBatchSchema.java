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
package io.tokenroute.arrow.batch;

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.arrow.types.TokenRouteTypes;
import java.util.List;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Column names and Arrow types of a token batch (docs/contract.md §5):
 * <ul>
 *   <li>{@code hidden}: {@code FixedSizeList<dtype>[H]}, one row of H values per token;</li>
 *   <li>{@code topk_idx}: {@code FixedSizeList<int64>[k]}, expert ids, {@code -1} = no expert;</li>
 *   <li>{@code topk_weights}: {@code FixedSizeList<float32>[k]}.</li>
 * </ul>
 * No column and no element may be null.
 */
public final class TokenBatchSchema {
    /** Hidden states column. */
    public static final String HIDDEN = "hidden";
    /** Expert ids column. */
    public static final String TOPK_IDX = "topk_idx";
    /** Routing weights column. */
    public static final String TOPK_WEIGHTS = "topk_weights";
    /** Element field name inside list columns, as Arrow's default. */
    public static final String ITEM = "item";

    private TokenBatchSchema() {}

    /** The schema for hidden size {@code hidden} of {@code dtype} and top-k {@code topK}. */
    public static Schema schema(HiddenDtype dtype, int hidden, int topK) {
        TokenRouteTypes.register();
        return new Schema(List.of(hiddenField(HIDDEN, dtype, hidden), topkIdxField(topK), topkWeightsField(topK)));
    }

    /** A non-nullable {@code FixedSizeList<dtype>[width]} field. */
    public static Field hiddenField(String name, HiddenDtype dtype, int width) {
        return listField(name, dtype.elementField(ITEM), width);
    }

    /** {@code topk_idx}: {@code FixedSizeList<int64>[k]}. */
    public static Field topkIdxField(int topK) {
        return listField(TOPK_IDX, new Field(ITEM, FieldType.notNullable(new ArrowType.Int(64, true)), null), topK);
    }

    /** {@code topk_weights}: {@code FixedSizeList<float32>[k]}. */
    public static Field topkWeightsField(int topK) {
        return listField(
                TOPK_WEIGHTS,
                new Field(
                        ITEM,
                        FieldType.notNullable(new ArrowType.FloatingPoint(
                                org.apache.arrow.vector.types.FloatingPointPrecision.SINGLE)),
                        null),
                topK);
    }

    /** A non-nullable fixed-size list field of {@code width} elements of {@code element}. */
    public static Field listField(String name, Field element, int width) {
        if (width < 1) {
            throw new IllegalArgumentException(name + ": list size must be >= 1, got " + width);
        }
        return new Field(name, FieldType.notNullable(new ArrowType.FixedSizeList(width)), List.of(element));
    }
}
