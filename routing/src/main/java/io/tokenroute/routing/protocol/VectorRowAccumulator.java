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
package io.tokenroute.routing.protocol;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link RowAccumulator} on the Vector API: widens bf16 lanes to int, shifts them into the float's high half,
 * reinterprets, multiplies and adds (two roundings, as the scalar loop). Loaded reflectively by
 * {@link RowAccumulator#best()} only when {@code jdk.incubator.vector} is in the boot layer.
 */
final class VectorRowAccumulator implements RowAccumulator {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(FLOATS.vectorBitSize() / 2));

    @Override
    public void accumulate(short[] bits, float weight, float[] acc, int hidden) {
        FloatVector w = FloatVector.broadcast(FLOATS, weight);
        int lanes = FLOATS.length();
        int h = 0;
        for (int bound = hidden - hidden % lanes; h < bound; h += lanes) {
            FloatVector x = ((IntVector)
                            ShortVector.fromArray(SHORTS, bits, h).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats();
            FloatVector.fromArray(FLOATS, acc, h).add(x.mul(w)).intoArray(acc, h);
        }
        for (; h < hidden; h++) {
            acc[h] += weight * Float.intBitsToFloat(bits[h] << 16);
        }
    }

    @Override
    public String name() {
        return "vector-" + FLOATS.vectorBitSize();
    }
}
