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
package io.tokenroute.routing.transport;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import java.util.List;
import java.util.function.IntUnaryOperator;
import java.util.function.LongUnaryOperator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * The input checks of docs/contract.md §7, one path for every transport, so the same bad input gets the same
 * exception text everywhere. Every check runs before anything is published, so a refused call leaves no peer
 * waiting. Messages start with {@code rank R: OPERATION: }.
 */
public final class InputChecks {
    private InputChecks() {}

    /**
     * The token batch itself: present, open, of the buffer's dtype and hidden size, at most {@code maxTokensPerRank}
     * tokens and {@code maxTopK} slots. Its memory location and expert ids are checked by the caller (ids need host
     * bytes: {@link #checkExpertIds}).
     */
    public static void checkBatch(int rank, String op, BufferConfig config, TokenBatch batch) {
        checkBatch(rank, op, config, batch, config.maxTokensPerRank(), "maxTokensPerRank");
    }

    /** {@link #checkBatch(int, String, BufferConfig, TokenBatch)} with another token limit (the prefill mode's). */
    public static void checkBatch(
            int rank, String op, BufferConfig config, TokenBatch batch, int maxTokens, String limitName) {
        if (batch == null) {
            throw refuse(rank, op, "batch is null");
        }
        if (batch.isClosed()) {
            throw refuse(rank, op, "the token batch is closed");
        }
        if (batch.dtype() != config.dtype()) {
            throw refuse(rank, op, "batch dtype " + batch.dtype() + " differs from the buffer's " + config.dtype());
        }
        if (batch.hiddenSize() != config.hidden()) {
            throw refuse(
                    rank,
                    op,
                    "batch hidden size " + batch.hiddenSize() + " differs from the buffer's " + config.hidden());
        }
        if (batch.numTokens() > maxTokens) {
            throw refuse(rank, op, batch.numTokens() + " tokens exceed " + limitName + " = " + maxTokens);
        }
        if (batch.topK() > config.maxTopK()) {
            throw refuse(rank, op, "k = " + batch.topK() + " exceeds maxTopK = " + config.maxTopK());
        }
    }

    /**
     * Every expert id in {@code [0, E)} or -1, no expert twice in one token.
     *
     * @param idx host address of {@code n × k} int64 ids
     * @param save if not null, receives the ids ({@code n × k}, row-major)
     */
    public static void checkExpertIds(int rank, String op, int experts, long idx, int n, int k, long[] save) {
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < k; j++) {
                long e = MemoryUtil.getLong(idx + 8L * (t * k + j));
                if (e < -1 || e >= experts) {
                    throw refuse(
                            rank,
                            op,
                            "topk_idx[" + t + "][" + j + "] = " + e + " is outside [0, " + experts + ") and not -1");
                }
                for (int i = 0; i < j && e >= 0; i++) {
                    if (MemoryUtil.getLong(idx + 8L * (t * k + i)) == e) {
                        throw refuse(rank, op, "token " + t + " lists expert " + e + " twice");
                    }
                }
                if (save != null) {
                    save[t * k + j] = e;
                }
            }
        }
    }

    /**
     * Combine's routing batch: the dispatched step's shape, and (when {@code idx} is a host address) the same expert
     * ids, slot by slot.
     *
     * @param dispatchedId the id the step dispatched at row-major index {@code i}
     */
    public static void checkCombineRouting(
            int rank, TokenBatch routing, int n, int k, long idx, LongUnaryOperator dispatchedId) {
        if (routing.numTokens() != n || routing.topK() != k) {
            throw new IllegalArgumentException("rank " + rank + ": combine routing has n = " + routing.numTokens()
                    + ", k = " + routing.topK() + " but the step dispatched n = " + n + ", k = " + k);
        }
        for (int i = 0; i < n * k; i++) {
            if (MemoryUtil.getLong(idx + 8L * i) != dispatchedId.applyAsLong(i)) {
                throw new IllegalArgumentException("rank " + rank + ": combine routing differs from the dispatched"
                        + " topk_idx at token " + (i / k) + ", slot " + (i % k));
            }
        }
    }

    /**
     * Expert-output batches for a copying combine: one per local expert, each with a {@code hidden} column of bf16
     * rows of {@code H}, as many rows as that expert received.
     */
    public static void checkExpertOutputs(
            int rank, BufferConfig config, List<VectorSchemaRoot> outputs, IntUnaryOperator received) {
        int experts = config.localExperts();
        if (outputs.size() != experts) {
            throw refuse(
                    rank,
                    "combine",
                    "expected " + experts + " expert outputs (one per local expert), got " + outputs.size());
        }
        for (int l = 0; l < experts; l++) {
            VectorSchemaRoot out = outputs.get(l);
            if (!(column(out, TokenBatchSchema.HIDDEN) instanceof FixedSizeListVector list)) {
                throw refuse(rank, "combine", "expert output " + l + " needs a 'hidden' FixedSizeList column");
            }
            ArrowType.FixedSizeList type =
                    (ArrowType.FixedSizeList) list.getField().getType();
            HiddenDtype dtype =
                    HiddenDtype.of(list.getField().getChildren().get(0).getType());
            if (dtype != HiddenDtype.BF16 || type.getListSize() != config.hidden()) {
                throw refuse(
                        rank,
                        "combine",
                        "expert output " + l + " must be bf16 rows of H = " + config.hidden() + ", got " + dtype
                                + " rows of " + type.getListSize());
            }
            if (out.getRowCount() != received.applyAsInt(l)) {
                throw refuse(
                        rank,
                        "combine",
                        "expert output " + l + " has " + out.getRowCount() + " rows, but expert " + l + " received "
                                + received.applyAsInt(l));
            }
        }
    }

    /** The column named {@code name}, or null if the batch (or the column) is missing. */
    public static FieldVector column(VectorSchemaRoot root, String name) {
        if (root == null) {
            return null;
        }
        for (Field f : root.getSchema().getFields()) {
            if (f.getName().equals(name)) {
                return root.getVector(name);
            }
        }
        return null;
    }

    /**
     * Refuses an fp8 dispatch when {@code hidden} is not a multiple of the quantiser's group of
     * {@value Fp8Quantizer#GROUP} channels (one scale per group and token).
     */
    public static void checkFp8Hidden(int rank, String op, boolean fp8, int hidden) {
        if (fp8 && hidden % Fp8Quantizer.GROUP != 0) {
            throw refuse(rank, op, "fp8 dispatch needs hidden % " + Fp8Quantizer.GROUP + " == 0, hidden is " + hidden);
        }
    }

    /** A refusal naming the rank and the operation. */
    public static IllegalArgumentException refuse(int rank, String op, String problem) {
        return new IllegalArgumentException("rank " + rank + ": " + op + ": " + problem);
    }
}
