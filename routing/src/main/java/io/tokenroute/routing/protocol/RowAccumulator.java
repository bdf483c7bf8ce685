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
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * The combine arithmetic, in float with a separate multiply and add (Java never fuses them), so every implementation
 * gives the same bits: {@link #reduce} sums weighted bf16 rows in host memory and rounds the sum to bf16 once,
 * straight into its destination.
 *
 * <p>{@link #best()} picks a SIMD implementation on the incubating Vector API when the JVM was started with
 * {@code --add-modules jdk.incubator.vector} (the launcher, tests and benchmarks do), and plain loops otherwise.
 * Implementations are stateless and shared by all threads; the per-thread buffers of {@link #reduce} are a
 * {@link Scratch} owned by the caller.
 */
public interface RowAccumulator {

    /**
     * Sums {@code count} weighted bf16 rows and rounds once: for every channel {@code h < hidden},
     * {@code out[h] = bf16(((0 + w[0] × x0[h]) + w[1] × x1[h]) + ...)} with the rows in the given order, each product
     * and sum rounded to float, and the sum narrowed as {@link io.tokenroute.arrow.numeric.BFloat16#fromFloat}
     * (round to nearest even, NaN kept quiet). No rows ({@code count = 0}) writes +0.
     *
     * @param rowAddresses host addresses of the rows: {@code hidden} bf16 values each, native byte order (only the
     *     first {@code count} are read)
     * @param weights the rows' weights (the first {@code count})
     * @param count rows to sum, at most the scratch's {@link Scratch#maxRows()}
     * @param outAddress host address of the {@code hidden} bf16 results, native byte order; it may not overlap a row
     * @param hidden H, at most the scratch's {@link Scratch#hidden()}
     * @param scratch the calling thread's buffers
     */
    void reduce(long[] rowAddresses, float[] weights, int count, long outAddress, int hidden, Scratch scratch);

    /** Human-readable name, for benchmarks and logs. */
    String name();

    /** The plain-loop implementation. */
    RowAccumulator SCALAR = new RowAccumulator() {
        @Override
        public void reduce(
                long[] rowAddresses, float[] weights, int count, long outAddress, int hidden, Scratch scratch) {
            scratch.check(count, hidden);
            for (int h = 0; h < hidden; h++) {
                float sum = 0f;
                for (int j = 0; j < count; j++) {
                    sum += weights[j] * Float.intBitsToFloat(MemoryUtil.getShort(rowAddresses[j] + 2L * h) << 16);
                }
                MemoryUtil.putShort(outAddress + 2L * h, BFloat16.fromFloat(sum));
            }
        }

        @Override
        public String name() {
            return "scalar";
        }
    };

    /**
     * The heap buffers one thread's {@link #reduce} calls work in (the vector implementation copies each row into one
     * with a bulk copy, which it can then load whole vectors from). Allocated once per owner, sized for its largest
     * call; not thread-safe.
     */
    final class Scratch {
        private final int maxRows;
        private final int hidden;
        final byte[][] rows;
        final byte[] out;

        /**
         * @param maxRows the most rows one call sums
         * @param hidden the longest row, in bf16 values
         */
        public Scratch(int maxRows, int hidden) {
            this.maxRows = maxRows;
            this.hidden = hidden;
            this.rows = new byte[maxRows][2 * hidden];
            this.out = new byte[2 * hidden];
        }

        public int maxRows() {
            return maxRows;
        }

        public int hidden() {
            return hidden;
        }

        void check(int count, int length) {
            if (count < 0 || count > maxRows || length < 0 || length > hidden) {
                throw new IllegalArgumentException("reduce of " + count + " rows of " + length
                        + " values does not fit a scratch of " + maxRows + " rows of " + hidden);
            }
        }
    }

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
