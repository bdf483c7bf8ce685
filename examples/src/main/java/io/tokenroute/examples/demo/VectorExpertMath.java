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
package io.tokenroute.examples.demo;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link ExpertMath} on the Vector API. A vector covers whole blocks (its length is a multiple of 4); for column
 * {@code j} a constant shuffle gives every lane its block's input {@code j}, so each output is summed in the same
 * order as the scalar loop. Loaded reflectively by {@link ExpertMath#best()} only when {@code jdk.incubator.vector} is
 * in the boot layer.
 */
final class VectorExpertMath implements ExpertMath {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(FLOATS.vectorBitSize() / 2));
    private static final int LANES = FLOATS.length();

    /** {@code column[j]} moves input {@code j} of each block to all four lanes of that block. */
    private final VectorShuffle<Float>[] column;

    @SuppressWarnings({"unchecked", "rawtypes"})
    VectorExpertMath() {
        if (LANES % BLOCK != 0) {
            throw new LinkageError("vector length " + LANES + " is not a multiple of the block size " + BLOCK);
        }
        column = new VectorShuffle[BLOCK];
        for (int j = 0; j < BLOCK; j++) {
            int col = j;
            column[j] = VectorShuffle.fromOp(FLOATS, lane -> lane - lane % BLOCK + col);
        }
    }

    @Override
    public void apply(float[] weights, int base, float[] x, float[] y, int hidden) {
        int h = 0;
        for (int bound = hidden - hidden % LANES; h < bound; h += LANES) {
            FloatVector in = FloatVector.fromArray(FLOATS, x, h);
            FloatVector v = FloatVector.fromArray(FLOATS, weights, base + h).mul(in.rearrange(column[0]));
            for (int j = 1; j < BLOCK; j++) {
                v = v.add(FloatVector.fromArray(FLOATS, weights, base + j * hidden + h)
                        .mul(in.rearrange(column[j])));
            }
            IntVector bits = v.reinterpretAsInts();
            bits.add(0x7FFF)
                    .add(bits.lanewise(VectorOperators.LSHR, 16).and(1))
                    .and(0xFFFF0000)
                    .reinterpretAsFloats()
                    .intoArray(y, h);
        }
        ExpertMath.applyScalar(weights, base, x, y, h, hidden);
    }

    @Override
    public void widen(short[] bits, int from, float[] x, int n) {
        int h = 0;
        for (int bound = n - n % LANES; h < bound; h += LANES) {
            ((IntVector) ShortVector.fromArray(SHORTS, bits, from + h).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats()
                    .intoArray(x, h);
        }
        for (; h < n; h++) {
            x[h] = Float.intBitsToFloat(bits[from + h] << 16);
        }
    }

    @Override
    public void narrow(float[] y, short[] bits, int n) {
        int h = 0;
        for (int bound = n - n % LANES; h < bound; h += LANES) {
            ((ShortVector) FloatVector.fromArray(FLOATS, y, h)
                            .reinterpretAsInts()
                            .lanewise(VectorOperators.LSHR, 16)
                            .convertShape(VectorOperators.I2S, SHORTS, 0))
                    .intoArray(bits, h);
        }
        for (; h < n; h++) {
            bits[h] = (short) (Float.floatToRawIntBits(y[h]) >>> 16);
        }
    }

    @Override
    public String name() {
        return "vector-" + FLOATS.vectorBitSize();
    }
}
