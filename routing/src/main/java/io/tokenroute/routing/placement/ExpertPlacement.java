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
package io.tokenroute.routing.placement;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * Which logical expert (the model's experts, ids {@code [0, logicalExperts)}) each physical expert slot hosts
 * (docs/contract.md §4, seed "Redundant Expert Slots for CUDAGraph").
 *
 * <p><b>Shapes.</b> The routing buffer is configured with {@code physicalExperts() = ranks() × slotsPerRank()} experts;
 * physical slot {@code p} lives on rank {@code p / slotsPerRank()} at local index {@code p % slotsPerRank()}. A slot
 * hosts one logical expert or is empty ({@link #EMPTY}); no token is ever routed to an empty slot. A logical expert may
 * be hosted by several slots (replicas) or by none (unhosted, after failures exhausted the free slots). The shapes
 * never change across {@link #replan}: only which expert a slot hosts, so CUDA graphs captured for the buffer stay
 * valid.
 *
 * <p><b>Determinism.</b> Every method is a pure function of its inputs and this placement: equal inputs on every rank
 * give equal placements (compare with {@link #equals}), so survivors can replan independently and agree.
 *
 * <p>Immutable and thread-safe. The per-token mapping ({@link #toPhysical(long[], int, long[])}) allocates nothing.
 */
public final class ExpertPlacement {
    /** The logical id of an empty slot, as returned by {@link #logicalAt}. */
    public static final int EMPTY = -1;

    private final int logicalExperts;
    private final int ranks;
    private final int slotsPerRank;
    /** slots[p] = logical expert hosted by physical slot p, or EMPTY. */
    private final int[] slots;
    /** Hosts of expert e: hostSlots[hostStart[e] .. hostStart[e + 1]), ascending (CSR, so lookups allocate nothing). */
    private final int[] hostStart;

    private final int[] hostSlots;
    private final int[] unhosted;

    private ExpertPlacement(int logicalExperts, int ranks, int slotsPerRank, int[] slots) {
        this.logicalExperts = logicalExperts;
        this.ranks = ranks;
        this.slotsPerRank = slotsPerRank;
        this.slots = slots;
        this.hostStart = new int[logicalExperts + 1];
        for (int e : slots) {
            if (e != EMPTY) {
                hostStart[e + 1]++;
            }
        }
        for (int e = 0; e < logicalExperts; e++) {
            hostStart[e + 1] += hostStart[e];
        }
        this.hostSlots = new int[hostStart[logicalExperts]];
        int[] next = Arrays.copyOf(hostStart, logicalExperts);
        for (int p = 0; p < slots.length; p++) {
            if (slots[p] != EMPTY) {
                hostSlots[next[slots[p]]++] = p;
            }
        }
        this.unhosted =
                IntStream.range(0, logicalExperts).filter(e -> !isHosted(e)).toArray();
    }

    // ------------------------------------------------------------------------------------------------ factories

    /**
     * The healthy-start placement: {@code base = ceil(logicalExperts / ranks)} base slots per rank plus
     * {@code redundantSlotsPerRank} empty redundant slots; logical expert {@code e} sits on rank {@code e / base} at
     * local index {@code e % base} (contiguous blocks, as docs/contract.md §1's {@code e / L}). When {@code ranks} does
     * not divide
     * {@code logicalExperts}, the last ranks have empty base slots too.
     *
     * @param logicalExperts the model's expert count
     * @param ranks R
     * @param redundantSlotsPerRank slots kept empty so a failed rank's experts can be re-hosted without a shape change;
     *     one failed rank is fully re-hosted when {@code (ranks - 1) × free slots per survivor >= its expert count}
     * @return a complete placement with {@code slotsPerRank() = base + redundantSlotsPerRank}
     * @throws IllegalArgumentException if {@code logicalExperts < 1}, {@code ranks < 1} or
     *     {@code redundantSlotsPerRank < 0}
     */
    public static ExpertPlacement initial(int logicalExperts, int ranks, int redundantSlotsPerRank) {
        if (logicalExperts < 1 || ranks < 1 || redundantSlotsPerRank < 0) {
            throw new IllegalArgumentException("need logicalExperts >= 1, ranks >= 1, redundantSlotsPerRank >= 0; got "
                    + logicalExperts + ", " + ranks + ", " + redundantSlotsPerRank);
        }
        int base = (logicalExperts + ranks - 1) / ranks;
        int slotsPerRank = base + redundantSlotsPerRank;
        int[] slots = new int[Math.multiplyExact(ranks, slotsPerRank)];
        Arrays.fill(slots, EMPTY);
        for (int e = 0; e < logicalExperts; e++) {
            slots[(e / base) * slotsPerRank + e % base] = e;
        }
        return new ExpertPlacement(logicalExperts, ranks, slotsPerRank, slots);
    }

    /**
     * An explicit placement, e.g. one with replicas of hot experts in the redundant slots, computed by an EPLB policy.
     *
     * @param logicalExperts the model's expert count
     * @param ranks R
     * @param slotsPerRank S
     * @param slotToLogical {@code [ranks × slotsPerRank]}: the logical expert of each physical slot, or {@link #EMPTY};
     *     copied
     * @return the placement; experts the table does not mention are {@link #unhostedExperts() unhosted}
     * @throws IllegalArgumentException on non-positive sizes, a wrong table length or an id outside
     *     {@code [-1, logicalExperts)}
     */
    public static ExpertPlacement of(int logicalExperts, int ranks, int slotsPerRank, int[] slotToLogical) {
        if (logicalExperts < 1 || ranks < 1 || slotsPerRank < 1) {
            throw new IllegalArgumentException("need logicalExperts, ranks and slotsPerRank >= 1; got " + logicalExperts
                    + ", " + ranks + ", " + slotsPerRank);
        }
        if (slotToLogical.length != (long) ranks * slotsPerRank) {
            throw new IllegalArgumentException("slot table has " + slotToLogical.length + " entries, need ranks × "
                    + "slotsPerRank = " + ((long) ranks * slotsPerRank));
        }
        for (int p = 0; p < slotToLogical.length; p++) {
            if (slotToLogical[p] < EMPTY || slotToLogical[p] >= logicalExperts) {
                throw new IllegalArgumentException("slot " + p + " hosts logical expert " + slotToLogical[p]
                        + ", outside [-1, " + logicalExperts + ")");
            }
        }
        return new ExpertPlacement(logicalExperts, ranks, slotsPerRank, slotToLogical.clone());
    }

    // ------------------------------------------------------------------------------------------------ shape

    /** The number of logical experts (the model's experts). */
    public int logicalExperts() {
        return logicalExperts;
    }

    /** R, the number of ranks. */
    public int ranks() {
        return ranks;
    }

    /** S, physical slots per rank (base + redundant); the routing buffer's local experts per rank. */
    public int slotsPerRank() {
        return slotsPerRank;
    }

    /** {@code R × S}, the routing buffer's expert count. */
    public int physicalExperts() {
        return slots.length;
    }

    // ------------------------------------------------------------------------------------------------ queries

    /** The logical expert hosted by {@code physicalSlot}, or {@link #EMPTY}. */
    public int logicalAt(int physicalSlot) {
        return slots[checkSlot(physicalSlot)];
    }

    /** The rank that physical slot {@code physicalSlot} lives on: {@code physicalSlot / slotsPerRank()}. */
    public int rankOf(int physicalSlot) {
        return checkSlot(physicalSlot) / slotsPerRank;
    }

    /** The physical slots hosting {@code logical}, ascending (a new array; empty when unhosted). */
    public int[] hostsOf(int logical) {
        checkLogical(logical);
        return Arrays.copyOfRange(hostSlots, hostStart[logical], hostStart[logical + 1]);
    }

    /** The logical experts that no slot hosts, ascending (a new array; empty when {@link #isComplete()}). */
    public int[] unhostedExperts() {
        return unhosted.clone();
    }

    /** Whether every logical expert has at least one host. */
    public boolean isComplete() {
        return unhosted.length == 0;
    }

    /**
     * Sums per-physical-slot counts into per-logical-expert load, e.g. the ranks' all-gathered
     * {@code cumulativeRecvStats()} (rank r's S entries at {@code [r × S, (r + 1) × S)}), as input to {@link #replan}.
     * Counts of empty slots are ignored.
     *
     * @param slotCounts {@code [physicalExperts()]} counts
     * @return {@code [logicalExperts()]} loads, a new array
     */
    public long[] logicalLoad(long[] slotCounts) {
        if (slotCounts.length != slots.length) {
            throw new IllegalArgumentException(
                    "need one count per physical slot (" + slots.length + "), got " + slotCounts.length);
        }
        long[] load = new long[logicalExperts];
        for (int p = 0; p < slots.length; p++) {
            if (slots[p] != EMPTY) {
                load[slots[p]] += slotCounts[p];
            }
        }
        return load;
    }

    // ------------------------------------------------------------------------------------------------ replanning

    /**
     * The placement after the ranks in {@code maskedRanks} failed (pass the agreed mask, so all survivors compute the
     * same plan).
     *
     * <ul>
     *   <li>Every slot on a masked rank becomes empty.</li>
     *   <li>Slots on surviving ranks keep their experts (minimal movement: the engine reloads weights only for
     *       {@link #movesFrom moved} experts), except a replica slot reclaimed below.</li>
     *   <li>Every expert left without a host (hosted only on masked ranks, or unhosted already) is re-hosted greedily:
     *       heaviest first by {@code logicalLoad} (ties: lower id first), each onto the surviving rank with the
     *       smallest current load (ties: lower rank id) that has a free slot. A rank's load is the sum over its slots
     *       of the hosted expert's load divided by that expert's host count. A free slot is the rank's lowest empty
     *       slot, else its lowest slot hosting a replica of an expert that keeps another host.</li>
     *   <li>Experts that find no free slot stay unhosted ({@link #unhostedExperts()}); this does not throw.</li>
     * </ul>
     *
     * <p>A readmitted rank is simply unmasked in the next call: its slots are empty, so they serve as free capacity for
     * later re-hosting (and host any experts still unhosted), but experts do not move back to it by themselves:
     * survivors keep hosting what they took over, which avoids a second weight reload.
     *
     * @param maskedRanks {@code [ranks()]}, true = failed (DeepEP polarity 1); not modified
     * @param logicalLoad {@code [logicalExperts()]}, non-negative, e.g. cumulative receive counts from
     *     {@link #logicalLoad}; pass all ones (not zeros) when nothing is known, or every expert ties at load 0 and
     *     the lowest-id rank with free slots takes them all
     * @return a new placement of the same shape
     * @throws IllegalArgumentException on wrong lengths or a negative load
     */
    public ExpertPlacement replan(boolean[] maskedRanks, long[] logicalLoad) {
        if (maskedRanks.length != ranks || logicalLoad.length != logicalExperts) {
            throw new IllegalArgumentException("need maskedRanks[" + ranks + "] and logicalLoad[" + logicalExperts
                    + "], got [" + maskedRanks.length + "] and [" + logicalLoad.length + "]");
        }
        for (int e = 0; e < logicalExperts; e++) {
            if (logicalLoad[e] < 0) {
                throw new IllegalArgumentException("logicalLoad[" + e + "] = " + logicalLoad[e] + " is negative");
            }
        }
        int[] next =
                GreedyReplan.run(slots, ranks, slotsPerRank, logicalExperts, maskedRanks.clone(), logicalLoad.clone());
        return new ExpertPlacement(logicalExperts, ranks, slotsPerRank, next);
    }

    /**
     * The weight loads needed to go from {@code previous} to this placement: one move per slot that hosts an expert
     * now and hosted a different one (or none) before, ascending by slot. Slots that merely became empty need no load
     * and are not listed.
     *
     * @throws IllegalArgumentException if the two placements differ in shape
     */
    public List<ExpertMove> movesFrom(ExpertPlacement previous) {
        if (previous.logicalExperts != logicalExperts
                || previous.ranks != ranks
                || previous.slotsPerRank != slotsPerRank) {
            throw new IllegalArgumentException("placements differ in shape: " + shape() + " vs " + previous.shape());
        }
        List<ExpertMove> moves = new ArrayList<>();
        for (int p = 0; p < slots.length; p++) {
            int e = slots[p];
            if (e != EMPTY && previous.slots[p] != e) {
                int fromRank = previous.isHosted(e) ? previous.hostSlots[previous.hostStart[e]] / slotsPerRank : -1;
                moves.add(new ExpertMove(e, p, fromRank));
            }
        }
        return moves;
    }

    // ------------------------------------------------------------------------------------------------ routing

    /**
     * Maps one logical expert id of token {@code token} to a physical slot.
     *
     * <p>Replica choice: with {@code c} hosts {@code h[0] < … < h[c-1]} ({@link #hostsOf}), the token goes to
     * {@code h[(token + logical) mod c]}, so consecutive tokens alternate between replicas and the replicas share the
     * load, deterministically on every rank.
     *
     * @param logicalId a logical expert id, or {@code -1} (no expert)
     * @param token the token's index in its batch, {@code >= 0}
     * @return the physical slot; {@code -1} for {@code -1} and for an unhosted expert, whose weight is then dropped
     *     (see {@link #unhostedWeight})
     * @throws IllegalArgumentException for an id outside {@code [-1, logicalExperts())} or a negative token
     */
    public long toPhysical(long logicalId, int token) {
        if (token < 0) {
            throw new IllegalArgumentException("token index " + token + " is negative");
        }
        if (logicalId == -1) {
            return -1;
        }
        int e = checkLogicalId(logicalId);
        int count = hostStart[e + 1] - hostStart[e];
        return count == 0 ? -1 : hostSlots[hostStart[e] + (int) (((long) token + e) % count)];
    }

    /**
     * Maps a row-major {@code [n][topK]} {@code topk_idx} of logical ids to physical slots, token {@code t} being row
     * {@code t} (see {@link #toPhysical(long, int)} for replicas, {@code -1} and unhosted experts). All ids are checked
     * before anything is written; {@code physicalOut} may be {@code logicalTopk} itself.
     *
     * @param physicalOut receives the physical ids in its first {@code logicalTopk.length} entries
     * @throws IllegalArgumentException on an id outside {@code [-1, logicalExperts())}, a length that is not a
     *     multiple of {@code topK}, or a too short output
     */
    public void toPhysical(long[] logicalTopk, int topK, long[] physicalOut) {
        if (topK < 1 || logicalTopk.length % topK != 0 || physicalOut.length < logicalTopk.length) {
            throw new IllegalArgumentException("need topK >= 1 dividing topk_idx's length and an output at least as "
                    + "long; got topK = " + topK + ", lengths " + logicalTopk.length + " and " + physicalOut.length);
        }
        for (long id : logicalTopk) {
            if (id != -1) {
                checkLogicalId(id);
            }
        }
        for (int i = 0; i < logicalTopk.length; i++) {
            physicalOut[i] = toPhysical(logicalTopk[i], i / topK);
        }
    }

    /**
     * A host batch routed to physical slots: a NEW batch whose {@code topk_idx} holds
     * {@link #toPhysical(long, int) physical ids}, and whose {@code hidden} and {@code topk_weights} columns are the
     * input's own buffers (no copy; same addresses). Weights of unhosted experts stay in {@code topk_weights} but their
     * id is {@code -1}, so dispatch/combine drop them: add {@link #unhostedWeight} to combine's {@code lost_weight} to
     * account for them.
     *
     * <p>Ownership: the caller closes the returned batch. It holds its own references to the shared buffers, so
     * {@code logical} may be closed before or after it. It is labelled {@link MemoryLocation#HOST} since its new
     * {@code topk_idx} buffer is plain host memory.
     *
     * @param allocator allocates the new {@code topk_idx} buffer and the vectors; must share a root allocator with
     *     {@code logical}'s buffers
     * @param logical a batch in CPU-accessible memory
     * @throws io.tokenroute.arrow.memory.DeviceMemoryAccessException for a device batch
     * @throws IllegalArgumentException on an expert id outside {@code [-1, logicalExperts())} (nothing is allocated
     *     then)
     */
    public TokenBatch toPhysical(BufferAllocator allocator, TokenBatch logical) {
        VectorSchemaRoot root = logical.root();
        int n = logical.numTokens();
        int topK = logical.topK();
        long src = logical.topkIdxAddress();
        long count = (long) n * topK;
        for (long i = 0; i < count; i++) {
            long id = MemoryUtil.getLong(src + 8 * i);
            if (id != -1) {
                checkLogicalId(id);
            }
        }
        try (ArrowBuf idx = allocator.buffer(8 * count)) {
            for (long i = 0; i < count; i++) {
                long physical = toPhysical(MemoryUtil.getLong(src + 8 * i), (int) (i / topK));
                MemoryUtil.putLong(idx.memoryAddress() + 8 * i, physical);
            }
            return TokenBatch.fromBuffers(
                    allocator,
                    MemoryLocation.HOST,
                    logical.dtype(),
                    n,
                    logical.hiddenSize(),
                    topK,
                    dataBuffer(root, TokenBatchSchema.HIDDEN),
                    idx,
                    dataBuffer(root, TokenBatchSchema.TOPK_WEIGHTS));
        }
    }

    /**
     * The summed weight (fp32, in top-k order) of token {@code token}'s experts that this placement does not host.
     * Those map to {@code -1}, so combine neither uses nor reports them; an engine's lost weight for the token is
     * combine's {@code lost_weight} plus this.
     *
     * @param logicalTopk row-major {@code [n][topK]} logical ids
     * @param topkWeights row-major {@code [n][topK]} weights
     * @throws IllegalArgumentException on mismatched lengths, a token outside {@code [0, n)} or a bad id
     */
    public float unhostedWeight(long[] logicalTopk, float[] topkWeights, int topK, int token) {
        if (topK < 1 || logicalTopk.length != topkWeights.length || logicalTopk.length % topK != 0) {
            throw new IllegalArgumentException("need equal-length [n][topK] ids and weights; got topK = " + topK
                    + ", lengths " + logicalTopk.length + " and " + topkWeights.length);
        }
        if (token < 0 || token >= logicalTopk.length / topK) {
            throw new IllegalArgumentException("token " + token + " outside [0, " + logicalTopk.length / topK + ")");
        }
        float lost = 0f;
        for (int i = token * topK; i < (token + 1) * topK; i++) {
            if (logicalTopk[i] != -1 && !isHosted(checkLogicalId(logicalTopk[i]))) {
                lost += topkWeights[i];
            }
        }
        return lost;
    }

    // ------------------------------------------------------------------------------------------------ reporting

    /**
     * A small table for logs, the demo and notebooks: a header with the shape and the unhosted experts, then one line
     * per rank listing its slots' logical ids ({@code -} = empty), e.g. {@code rank 1: [ 2  3  -]}.
     */
    public String describe() {
        int width = String.valueOf(logicalExperts - 1).length();
        StringBuilder sb = new StringBuilder(shape())
                .append(", unhosted: ")
                .append(isComplete() ? "none" : Arrays.toString(unhosted))
                .append('\n');
        for (int r = 0; r < ranks; r++) {
            sb.append("rank ")
                    .append(String.format("%" + String.valueOf(ranks - 1).length() + "d", r))
                    .append(": [");
            for (int j = 0; j < slotsPerRank; j++) {
                int e = slots[r * slotsPerRank + j];
                sb.append(j == 0 ? "" : " ").append(String.format("%" + width + "s", e == EMPTY ? "-" : e));
            }
            sb.append("]\n");
        }
        return sb.toString();
    }

    /** Same as {@link #describe()}. */
    @Override
    public String toString() {
        return describe();
    }

    /** Equal shape and equal slot table. */
    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertPlacement other
                && other.logicalExperts == logicalExperts
                && other.ranks == ranks
                && other.slotsPerRank == slotsPerRank
                && Arrays.equals(other.slots, slots);
    }

    @Override
    public int hashCode() {
        return Objects.hash(logicalExperts, ranks, slotsPerRank) * 31 + Arrays.hashCode(slots);
    }

    // ------------------------------------------------------------------------------------------------ internals

    private String shape() {
        return "ExpertPlacement: " + logicalExperts + " logical experts on " + ranks + " ranks × " + slotsPerRank
                + " slots (" + slots.length + " physical)";
    }

    private boolean isHosted(int logical) {
        return hostStart[logical] < hostStart[logical + 1];
    }

    private static ArrowBuf dataBuffer(VectorSchemaRoot root, String column) {
        return ((FixedSizeListVector) root.getVector(column)).getDataVector().getDataBuffer();
    }

    private int checkSlot(int physicalSlot) {
        if (physicalSlot < 0 || physicalSlot >= slots.length) {
            throw new IndexOutOfBoundsException("physical slot " + physicalSlot + " outside [0, " + slots.length + ")");
        }
        return physicalSlot;
    }

    private void checkLogical(int logical) {
        if (logical < 0 || logical >= logicalExperts) {
            throw new IndexOutOfBoundsException("logical expert " + logical + " outside [0, " + logicalExperts + ")");
        }
    }

    private int checkLogicalId(long id) {
        if (id < 0 || id >= logicalExperts) {
            throw new IllegalArgumentException("expert id " + id + " outside [-1, " + logicalExperts + ")");
        }
        return (int) id;
    }
}
