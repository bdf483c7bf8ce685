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

import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * The demo's experts: one block-diagonal matrix per logical expert, {@value ExpertMath#BLOCK}×{@value ExpertMath#BLOCK}
 * blocks along the hidden dimension (the last block smaller when {@code H} is not a multiple),
 * {@code y = bf16(W_e · x)}.
 * Real arithmetic, so a row computed by the wrong expert, or combined at the wrong position, changes the output; yet
 * only {@value ExpertMath#BLOCK} multiply-adds per value, so a rank's expert work stays well inside the per-peer
 * timeout.
 *
 * <p>Weights are a deterministic function of the seed and the logical expert: every rank, and the reference check,
 * hold the same experts, as an engine whose workers load weights from one checkpoint. The kernel ({@link #applyRows})
 * and the reference check both go through {@link #apply}, so they agree bit for bit (see {@link ExpertMath}).
 *
 * <p>Immutable and thread-safe; callers pass their own scratch rows.
 */
public final class BlockExperts {
    private final int hidden;
    /**
     * {@code [e][j][h]}: the weight of output {@code h} of expert {@code e} on input {@code h - h % BLOCK + j}, so a
     * column {@code j} of consecutive outputs is contiguous (one vector load).
     */
    private final float[] weights;

    private final ExpertMath math = ExpertMath.best();

    /**
     * @param seed the run's seed
     * @param experts logical experts
     * @param hidden H
     */
    public BlockExperts(long seed, int experts, int hidden) {
        this.hidden = hidden;
        this.weights = new float[Math.multiplyExact(Math.multiplyExact(experts, hidden), ExpertMath.BLOCK)];
        for (int e = 0; e < experts; e++) {
            SplittableRandom rng = new SplittableRandom(SyntheticModel.splitMix(seed ^ 0x5EED) + e);
            for (int j = 0; j < ExpertMath.BLOCK; j++) {
                for (int h = 0; h < hidden; h++) {
                    float identity = h % ExpertMath.BLOCK == j ? 1f : 0f;
                    weights[(e * ExpertMath.BLOCK + j) * hidden + h] = identity + (float) (rng.nextDouble() - 0.5);
                }
            }
        }
    }

    /**
     * {@code y = bf16(W_expert · x)} for one row.
     *
     * @param x the input row widened to fp32, {@code [H]}
     * @param y receives the output row: bf16 values as floats, {@code [H]}
     */
    public void apply(int expert, float[] x, float[] y) {
        math.apply(weights, expert * ExpertMath.BLOCK * hidden, x, y, hidden);
    }

    /** {@code x[h] = float(bits[offset + h])}: a bf16 row widened for {@link #apply}. */
    public void widen(short[] bits, int offset, float[] x) {
        math.widen(bits, offset, x, hidden);
    }

    /**
     * Runs expert {@code expert} on {@code rows} bf16 rows in off-heap memory: the rows a rank received for one expert
     * slot, written straight into the buffer's zero-copy combine-send rows.
     *
     * @param src address of {@code rows × H} bf16 input values, row-major
     * @param dst address of {@code rows × H} bf16 outputs, row-major
     * @param bits scratch, {@code [H]}
     * @param x scratch, {@code [H]}
     * @param y scratch, {@code [H]}
     */
    public void applyRows(int expert, long src, long dst, int rows, short[] bits, float[] x, float[] y) {
        int bytes = Math.multiplyExact(rows, 2 * hidden);
        ShortBuffer in = MemoryUtil.directBuffer(src, bytes)
                .order(ByteOrder.nativeOrder())
                .asShortBuffer();
        ShortBuffer out = MemoryUtil.directBuffer(dst, bytes)
                .order(ByteOrder.nativeOrder())
                .asShortBuffer();
        for (int r = 0; r < rows; r++) {
            applyRow(expert, in, r, out, r, bits, x, y);
        }
    }

    /**
     * Runs expert {@code expert} on the listed rows of a row-major bf16 table in off-heap memory, writing one output
     * row per entry: the prefill mode's per-expert row lists, whose rows are not contiguous in the receive batch.
     *
     * @param table address of the bf16 table's first row ({@code tableRows × H} values)
     * @param tableRows rows in the table
     * @param rowOf the table row of entry {@code i}, for {@code 0 <= i < entries}
     * @param dst address of {@code entries × H} bf16 outputs, row-major, entry order
     * @param bits scratch, {@code [H]}
     * @param x scratch, {@code [H]}
     * @param y scratch, {@code [H]}
     */
    public void applyListed(
            int expert,
            long table,
            int tableRows,
            IntUnaryOperator rowOf,
            int entries,
            long dst,
            short[] bits,
            float[] x,
            float[] y) {
        ShortBuffer in = MemoryUtil.directBuffer(table, Math.multiplyExact(tableRows, 2 * hidden))
                .order(ByteOrder.nativeOrder())
                .asShortBuffer();
        ShortBuffer out = MemoryUtil.directBuffer(dst, Math.multiplyExact(entries, 2 * hidden))
                .order(ByteOrder.nativeOrder())
                .asShortBuffer();
        for (int i = 0; i < entries; i++) {
            applyRow(expert, in, rowOf.applyAsInt(i), out, i, bits, x, y);
        }
    }

    private void applyRow(
            int expert, ShortBuffer in, int inRow, ShortBuffer out, int outRow, short[] bits, float[] x, float[] y) {
        in.get(inRow * hidden, bits, 0, hidden);
        math.widen(bits, 0, x, hidden);
        apply(expert, x, y);
        math.narrow(y, bits, hidden);
        out.put(outRow * hidden, bits, 0, hidden);
    }
}
