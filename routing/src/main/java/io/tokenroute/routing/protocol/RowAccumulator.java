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

/**
 * The combine inner loop: {@code acc[h] += w × bf16(row[h])} over one row, in float arithmetic with a separate
 * multiply and add (Java never fuses them), so every implementation gives the same bits.
 *
 * <p>{@link #best()} picks a SIMD implementation on the incubating Vector API when the JVM was started with
 * {@code --add-modules jdk.incubator.vector} (the launcher, tests and benchmarks do), and plain loops otherwise.
 */
public interface RowAccumulator {

    /**
     * @param bits the row's bf16 bit patterns, {@code length >= hidden}
     * @param weight w
     * @param acc the float accumulator, {@code length >= hidden}
     * @param hidden H
     */
    void accumulate(short[] bits, float weight, float[] acc, int hidden);

    /** Human-readable name, for benchmarks and logs. */
    String name();

    /** The plain-loop implementation. */
    RowAccumulator SCALAR = new RowAccumulator() {
        @Override
        public void accumulate(short[] bits, float weight, float[] acc, int hidden) {
            for (int h = 0; h < hidden; h++) {
                acc[h] += weight * Float.intBitsToFloat(bits[h] << 16);
            }
        }

        @Override
        public String name() {
            return "scalar";
        }
    };

    /** The fastest implementation this JVM can run. */
    static RowAccumulator best() {
        return Holder.BEST;
    }

    /** Resolves the SIMD implementation once, without linking it when the incubator module is absent. */
    final class Holder {
        static final RowAccumulator BEST = resolve();

        private Holder() {}

        private static RowAccumulator resolve() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
                return SCALAR;
            }
            try {
                return (RowAccumulator) Class.forName("io.tokenroute.routing.protocol.VectorRowAccumulator")
                        .getDeclaredConstructor()
                        .newInstance();
            } catch (ReflectiveOperationException | LinkageError e) {
                return SCALAR;
            }
        }
    }
}
