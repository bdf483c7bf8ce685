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

/**
 * The arithmetic of {@link BlockExperts}, in two implementations that give the same bits: plain loops, and SIMD on
 * the incubating Vector API when the JVM runs with {@code --add-modules jdk.incubator.vector} (the launcher and the
 * tests do). The experts are the demo's hottest code, run once per received row and again by the reference check, and
 * the per-peer timeout only stays clear of healthy ranks while that work is small (see {@link DecodeDemo}).
 *
 * <p>Rows are bf16 values widened to fp32 ({@code float[]} holding exactly representable bf16 values). Every output
 * sums its block's products in column order, {@code ((w0·x0 + w1·x1) + w2·x2) + w3·x3}, with separate multiplies and
 * adds (Java never fuses them), then rounds to bf16 (nearest, ties to even). Inputs and weights are finite and small,
 * so the rounding never meets NaN or overflow.
 */
interface ExpertMath {
    /** Block size along the hidden dimension. */
    int BLOCK = 4;

    /**
     * {@code y = bf16(W · x)} for one row.
     *
     * @param weights {@code [j][h]} from {@code base}: the weight of output {@code h} on input
     *     {@code h - h % BLOCK + j} (entries past a last, partial block are ignored)
     * @param base offset of this expert's weights in {@code weights}
     * @param x the input row, {@code [hidden]}
     * @param y receives the output row, bf16 values as floats, {@code [hidden]}
     */
    void apply(float[] weights, int base, float[] x, float[] y, int hidden);

    /** {@code x[h] = float(bits[from + h])} for {@code h < n}. */
    void widen(short[] bits, int from, float[] x, int n);

    /** {@code bits[h] = bf16 bits of y[h]} for {@code h < n}, where every {@code y[h]} is already a bf16 value. */
    void narrow(float[] y, short[] bits, int n);

    /** Human-readable name, for logs. */
    String name();

    /** bf16 rounding (nearest, ties to even) of a finite float, as a float. */
    static float roundToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000);
    }

    /** Outputs {@code [from, hidden)} of {@link #apply} in plain loops (also the SIMD version's tail). */
    static void applyScalar(float[] weights, int base, float[] x, float[] y, int from, int hidden) {
        for (int h = from; h < hidden; h++) {
            int block = h - h % BLOCK;
            int width = Math.min(BLOCK, hidden - block);
            float v = weights[base + h] * x[block];
            for (int j = 1; j < width; j++) {
                v += weights[base + j * hidden + h] * x[block + j];
            }
            y[h] = roundToBf16(v);
        }
    }

    /** The plain-loop implementation. */
    ExpertMath SCALAR = new ExpertMath() {
        @Override
        public void apply(float[] weights, int base, float[] x, float[] y, int hidden) {
            applyScalar(weights, base, x, y, 0, hidden);
        }

        @Override
        public void widen(short[] bits, int from, float[] x, int n) {
            for (int h = 0; h < n; h++) {
                x[h] = Float.intBitsToFloat(bits[from + h] << 16);
            }
        }

        @Override
        public void narrow(float[] y, short[] bits, int n) {
            for (int h = 0; h < n; h++) {
                bits[h] = (short) (Float.floatToRawIntBits(y[h]) >>> 16);
            }
        }

        @Override
        public String name() {
            return "scalar";
        }
    };

    /** The fastest implementation this JVM can run. */
    static ExpertMath best() {
        return Holder.BEST;
    }

    /** Resolves the SIMD implementation once, without linking it when the incubator module is absent. */
    final class Holder {
        static final ExpertMath BEST = resolve();

        private Holder() {}

        private static ExpertMath resolve() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
                return SCALAR;
            }
            try {
                return (ExpertMath) Class.forName("io.tokenroute.examples.demo.VectorExpertMath")
                        .getDeclaredConstructor()
                        .newInstance();
            } catch (ReflectiveOperationException | LinkageError e) {
                return SCALAR;
            }
        }
    }
}
