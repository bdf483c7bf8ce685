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

import io.tokenroute.routing.BufferConfig;

/**
 * Byte offsets inside one rank's symmetric region. Every rank computes the same layout from equal configurations.
 *
 * <pre>
 * control words   8 bytes each, one per 64-byte line (no false sharing between words peers poll)
 * published mask  ceil(R / 64) int64 words, bit r = rank r masked in the owner's view ({@link MaskBoard})
 * payload         2 slots × (16-byte header: sync word, length; then collectiveBytes), alternating by sync sequence
 * staging         2 slots, alternating by step: format int64, CSR offsets int32[E + 1],
 *                 token lists int32[T × maxTopK], rows [T][stageRowBytes]
 * combine send    layout int32[L][R][2] (begin, count), rows [L][R × T][H] bf16
 * prefill         (only with prefillMaxTokensPerRank > 0) tokens per destination int32[2][R] (by step parity); progress
 * words int64[R]
 *                 each for dispatch sent / dispatch consumed / combine sent / combine consumed; dispatch queues
 *                 [R destinations][chunks][chunk rows] of (int32 token, int32 local expert ids [k], float32 weights
 *                 [k], staged row); combine queues [R sources][chunks][chunk rows] of (int32 token, bf16 partial row)
 * </pre>
 *
 * <p>Only the owner writes its region; peers read it (a dead or stale rank can therefore never corrupt a live one).
 * Staging alternates between two slots so a rank can publish step q + 1 while a slower peer still copies step q:
 * publishing never has to wait for peers, which keeps one dead peer from delaying the healthy ones past their
 * timeouts. Slot q mod 2 is rewritten only at step q + 2, by which time every peer this rank heard from in step
 * q + 1 has finished step q.
 */
public final class RegionLayout {
    /** Dispatch staging state: {@code seq << 1 | ready}. */
    public static final int DISPATCH_STATE = 0;
    /** Combine-send state: {@code seq << 1 | ready}. */
    public static final int COMBINE_STATE = 64;
    /**
     * The collective (barrier, allGather, agreement) this rank arrived at last: {@code syncSeq << 8 | operation code}
     * ({@link Collective}), so a peer in a different collective at the same sequence is told apart.
     */
    public static final int SYNC = 128;
    /** Rendezvous word: {@code generation << 1 | done}. */
    public static final int RENDEZVOUS = 192;
    /** {@code rank + 1} while this rank is readmitting {@code rank}, else 0. */
    public static final int READMIT = 256;
    /** Fingerprint of the configuration, checked when a process attaches to shared memory. */
    public static final int CONFIG_FINGERPRINT = 320;
    /**
     * allGather payload state: {@code syncSeq << 1 | written}; the slot of {@code syncSeq} is being rewritten while
     * odd.
     */
    public static final int PAYLOAD_STATE = 384;
    /** Heartbeat count: advanced while the owner waits and when its engine reports host-side work. */
    public static final int HEARTBEAT = 448;
    /** Prefill step state: {@code prefillSeq << 4 | stage} ({@link PrefillEngine}). */
    public static final int PREFILL_STATE = 704;
    /** Generation of the published mask: {@code generation << 1}, odd while the owner rewrites it at a rendezvous. */
    public static final int MASK_GENERATION = 512;
    /** Mask agreement state: {@code syncSeq << 8 | round << 1 | decided} ({@link MaskAgreement}). */
    public static final int AGREE = 576;
    /** {@code generation << 1 | 1} while this rank, masked by its peers, waits in readmit to come back; else 0. */
    public static final int READMIT_REQUEST = 640;

    private static final int CONTROL_BYTES = 768;
    /** Bytes before an allGather payload: the writer's sync word and the payload length. */
    public static final int PAYLOAD_HEADER_BYTES = 16;

    private final int ranks;
    private final int experts;
    private final int localExperts;
    private final int maxTokens;
    private final int maxTopK;
    private final int hidden;
    private final long bf16RowBytes;
    private final long stageRowBytes;
    private final long maskOffset;
    private final long payloadOffset;
    private final long payloadSlotBytes;
    private final long stagingOffset;
    private final long slotBytes;
    private final long csrOffset;
    private final long tokenListOffset;
    private final long stageRowsOffset;
    private final long combineLayoutOffset;
    private final long combineRowsOffset;
    private final long prefillOffset;
    private final int prefillChunkRows;
    private final int prefillChunks;
    private final long prefillEntryBytes;
    private final long prefillBackEntryBytes;
    private final long prefillQueuesOffset;
    private final long prefillBackQueuesOffset;
    private final long regionBytes;

    public RegionLayout(BufferConfig c) {
        this.ranks = c.ranks();
        this.experts = c.experts();
        this.localExperts = c.localExperts();
        this.maxTokens = c.maxTokensPerRank();
        this.maxTopK = c.maxTopK();
        this.hidden = c.hidden();
        this.bf16RowBytes = 2L * hidden;
        long fp8RowBytes = hidden % 128 == 0 ? hidden + 4L * (hidden / 128) : 0;
        this.stageRowBytes = align(Math.max(bf16RowBytes, fp8RowBytes), 16);
        this.maskOffset = align(CONTROL_BYTES, 64);
        this.payloadOffset = align(maskOffset + 8L * maskWords(ranks), 64);
        this.payloadSlotBytes = align(PAYLOAD_HEADER_BYTES + c.collectiveBytes(), 64);
        this.stagingOffset = payloadOffset + 2 * payloadSlotBytes;
        this.csrOffset = 64;
        this.tokenListOffset = align(csrOffset + 4L * (experts + 1), 64);
        this.stageRowsOffset = align(tokenListOffset + 4L * maxTokens * maxTopK, 64);
        this.slotBytes = align(stageRowsOffset + stageRowBytes * maxTokens, 64);
        this.combineLayoutOffset = stagingOffset + 2 * slotBytes;
        this.combineRowsOffset = align(combineLayoutOffset + 8L * localExperts * ranks, 64);
        long end = align(combineRowsOffset + bf16RowBytes * localExperts * recvCapacity(), 64);
        this.prefillChunkRows = c.prefillChunkRows();
        this.prefillChunks = c.prefillChunks();
        this.prefillEntryBytes = align(4L + 8L * maxTopK, 16) + stageRowBytes;
        this.prefillBackEntryBytes = align(16 + bf16RowBytes, 16);
        this.prefillOffset = end;
        this.prefillQueuesOffset = align(align(prefillOffset + 2 * 4L * ranks, 8) + 4 * 8L * ranks, 64);
        long queueBytes = (long) prefillChunks * prefillChunkRows * prefillEntryBytes;
        this.prefillBackQueuesOffset = align(prefillQueuesOffset + ranks * queueBytes, 64);
        long backBytes = (long) prefillChunks * prefillChunkRows * prefillBackEntryBytes;
        this.regionBytes =
                c.prefillMaxTokensPerRank() == 0 ? end : align(prefillBackQueuesOffset + ranks * backBytes, 64);
    }

    // ------------------------------------------------------------------------------------------------ prefill

    /**
     * int32 tokens this rank sends to destination {@code r} in prefill step {@code step}. Two sets, by the step's
     * parity: a rank that finished a step may announce the next one before a slower peer has read this one's counts (it
     * cannot get two steps ahead: the next notify waits for every peer).
     */
    public long prefillCount(long step, int r) {
        return prefillOffset + 4L * ((step & 1) * ranks + r);
    }

    /** The four progress words of a prefill pair: {@code prefillSeq << 32 | chunks}. */
    public enum Progress {
        /** In the sender's region, per destination: dispatch chunks written for it. */
        DISPATCH_SENT,
        /** In the receiver's region, per source: dispatch chunks consumed from it (the sender's credit). */
        DISPATCH_TAKEN,
        /** In the expert rank's region, per source: combine chunks written back to it. */
        COMBINE_SENT,
        /** In the source's region, per expert rank: combine chunks consumed from it. */
        COMBINE_TAKEN
    }

    /** The progress word of kind {@code kind} about peer {@code peer}. */
    public int prefillProgress(Progress kind, int peer) {
        return (int) (align(prefillOffset + 2 * 4L * ranks, 8) + 8L * ((long) kind.ordinal() * ranks + peer));
    }

    /** Entry {@code row} of chunk slot {@code slot} of the dispatch queue towards {@code dest}. */
    public long prefillEntry(int dest, int slot, int row) {
        return prefillQueuesOffset
                + (((long) dest * prefillChunks + slot) * prefillChunkRows + row) * prefillEntryBytes;
    }

    /** Bytes of a dispatch queue entry: token, local expert ids and weights (padded to 16), then the staged row. */
    public long prefillEntryBytes() {
        return prefillEntryBytes;
    }

    /** Offset of the staged row inside a dispatch queue entry. */
    public long prefillEntryRow() {
        return align(4L + 8L * maxTopK, 16);
    }

    /** Entry {@code row} of chunk slot {@code slot} of the combine queue towards source {@code src}. */
    public long prefillBackEntry(int src, int slot, int row) {
        return prefillBackQueuesOffset
                + (((long) src * prefillChunks + slot) * prefillChunkRows + row) * prefillBackEntryBytes;
    }

    /** Offset of the partial row inside a combine queue entry (after the int32 token, padded to 16). */
    public static long prefillBackEntryRow() {
        return 16;
    }

    /** Rows per prefill chunk. */
    public int prefillChunkRows() {
        return prefillChunkRows;
    }

    /** Chunks per prefill queue. */
    public int prefillChunks() {
        return prefillChunks;
    }

    static long align(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /** Rows each local expert can receive: {@code R × T}. */
    public int recvCapacity() {
        return ranks * maxTokens;
    }

    /** Total bytes of one rank's region. */
    public long regionBytes() {
        return regionBytes;
    }

    /** int64 words of a published mask: one bit per rank. */
    public static int maskWords(int ranks) {
        return (ranks + 63) >>> 6;
    }

    /** The int64 word of the owner's published mask that holds rank {@code r}'s bit ({@code 1L << (r & 63)}). */
    public int maskWord(int r) {
        return (int) (maskOffset + 8L * (r >>> 6));
    }

    /**
     * Start of allGather payload slot {@code slot} (0 or 1): an int64 copy of the sync word of the collective that
     * wrote it, an int64 length, then the bytes.
     */
    public long payloadSlot(int slot) {
        return payloadOffset + slot * payloadSlotBytes;
    }

    /** Staging slot of step {@code q}. */
    public static int slotOf(long q) {
        return (int) (q & 1);
    }

    /** The int64 wire format ({@link io.tokenroute.routing.DispatchOptions}) of the step staged in {@code slot}. */
    public long stageFormat(int slot) {
        return stagingOffset + slotBytes * slot;
    }

    /** {@code csr[e]}: start of expert {@code e}'s token list; {@code csr[E]} = total entries. */
    public long csrEntry(int slot, int expert) {
        return stagingOffset + slotBytes * slot + csrOffset + 4L * expert;
    }

    /** Entry {@code i} of the concatenated token lists (int32 source-token index). */
    public long tokenListEntry(int slot, int i) {
        return stagingOffset + slotBytes * slot + tokenListOffset + 4L * i;
    }

    /** Staged row of token {@code t} (bf16, or fp8 bytes followed by float32 scales). */
    public long stageRow(int slot, int t) {
        return stagingOffset + slotBytes * slot + stageRowsOffset + stageRowBytes * t;
    }

    /** Combine layout of (local expert, source rank): int32 begin then int32 count. */
    public long combineLayout(int localExpert, int srcRank) {
        return combineLayoutOffset + 8L * ((long) localExpert * ranks + srcRank);
    }

    /** First combine-send row of local expert {@code l}. */
    public long combineRows(int localExpert) {
        return combineRowsOffset + bf16RowBytes * (long) localExpert * recvCapacity();
    }

    /** Bytes of one bf16 row, {@code 2H}. */
    public long bf16RowBytes() {
        return bf16RowBytes;
    }

    public int ranks() {
        return ranks;
    }

    public int experts() {
        return experts;
    }

    public int localExperts() {
        return localExperts;
    }

    public int maxTokens() {
        return maxTokens;
    }

    public int maxTopK() {
        return maxTopK;
    }

    public int hidden() {
        return hidden;
    }
}
