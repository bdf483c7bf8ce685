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

import io.tokenroute.arrow.numeric.BFloat16;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * {@link RowAccumulator} on the Vector API, loaded reflectively by {@link RowAccumulator#best()} only when
 * {@code jdk.incubator.vector} is in the boot layer. Same operations as the scalar loops, lane by lane: widen (bf16
 * bits into the float's high half), multiply, add (two roundings), and the narrowing of
 * {@link BFloat16#fromFloat} in integer lanes.
 *
 * <p>{@link #reduce} reads each pair of adjacent bf16 values as one int lane (in native order, as it writes them
 * back): shifting the lane left by 16 gives the value in its low half as a float, clearing the low half gives the other
 * one, so both go through plain float lanes without any cross-lane conversion, and the two rounded values are put back
 * together the same way. The rows are summed per vector in registers (no float row in memory) and each output vector
 * is written once.
 */
final class VectorRowAccumulator implements RowAccumulator {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    /** bf16 values per int vector (two per lane). */
    private static final int PAIR_STEP = 2 * INTS.length();
    /** The order the scalar loops read and write bf16 values in ({@code MemoryUtil} is native-order). */
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private static final int HIGH_HALF = 0xFFFF_0000;
    private static final int ABS = 0x7FFF_FFFF;
    private static final int INFINITY = 0x7F80_0000;
    private static final int QUIET = 0x0040;
    private static final int HALF_MINUS_ONE = 0x7FFF;

    @Override
    public void reduce(long[] rowAddresses, float[] weights, int count, long outAddress, int hidden, Scratch scratch) {
        scratch.check(count, hidden);
        int body = hidden - hidden % PAIR_STEP;
        byte[][] rows = scratch.rows;
        byte[] out = scratch.out;
        for (int j = 0; j < count; j++) {
            MemoryUtil.copyFromMemory(rowAddresses[j], rows[j], 0, 2L * body);
        }
        for (int h = 0; h < body; h += PAIR_STEP) {
            FloatVector first = FloatVector.zero(FLOATS);
            FloatVector second = FloatVector.zero(FLOATS);
            for (int j = 0; j < count; j++) {
                IntVector pair = IntVector.fromByteArray(INTS, rows[j], 2 * h, ORDER);
                float w = weights[j];
                first = first.add(pair.lanewise(VectorOperators.LSHL, 16)
                        .reinterpretAsFloats()
                        .mul(w));
                second = second.add(pair.and(HIGH_HALF).reinterpretAsFloats().mul(w));
            }
            IntVector low = narrow(first.reinterpretAsInts()).lanewise(VectorOperators.LSHR, 16);
            IntVector high = narrow(second.reinterpretAsInts()).and(HIGH_HALF);
            low.or(high).intoByteArray(out, 2 * h, ORDER);
        }
        MemoryUtil.copyToMemory(out, 0, outAddress, 2L * body);
        for (int h = body; h < hidden; h++) {
            float sum = 0f;
            for (int j = 0; j < count; j++) {
                sum += weights[j] * Float.intBitsToFloat(MemoryUtil.getShort(rowAddresses[j] + 2L * h) << 16);
            }
            MemoryUtil.putShort(outAddress + 2L * h, BFloat16.fromFloat(sum));
        }
    }

    /**
     * {@link BFloat16#fromFloat} on every lane, the bf16 result left in the lane's high half: NaN keeps its top bits
     * with the quiet bit set; everything else gets {@code 0x7FFF} plus the lowest kept bit added, which rounds to
     * nearest even and carries into the exponent (finite overflow becomes Inf).
     */
    private static IntVector narrow(IntVector bits) {
        IntVector kept = bits.lanewise(VectorOperators.LSHR, 16);
        IntVector rounded = bits.add(kept.and(1)).add(HALF_MINUS_ONE);
        VectorMask<Integer> nan = bits.and(ABS).compare(VectorOperators.GT, INFINITY);
        return rounded.blend(bits.or(QUIET << 16), nan);
    }

    @Override
    public String name() {
        return "vector-" + FLOATS.vectorBitSize();
    }
}
