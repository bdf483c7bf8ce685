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

import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.protocol.RegionLayout.Progress;
import java.util.Arrays;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * The high-throughput (prefill) mode of one rank over the group's regions (docs/contract.md §3b): DeepEP's "normal"
 * dispatch and combine, elastic in every wait.
 *
 * <p><b>Dispatch.</b> Each token goes once to every destination rank that hosts one of its experts, with its top-k ids
 * restricted to that rank's experts (local ids, -1 elsewhere) and the matching weights. First every rank publishes how
 * many tokens it sends each destination and reads how many it receives from each source (notify), so the receive batch
 * is laid out contiguously per source rank, ascending source rank then ascending source token. Then the rows stream
 * through one bounded queue per (source, destination) pair in the source's region: {@code chunks} slots of {@code chunk
 * rows} entries; the source writes a chunk when the destination has consumed enough (its progress word is the credit),
 * the destination copies each chunk into place and publishes its progress. Memory is set by the queue sizes, not by the
 * batch: a batch larger than a queue streams through it.
 *
 * <p><b>Combine.</b> Each destination reduces, per received token, the outputs of its local experts weighted by the
 * restricted weights (fp32, in top-k order, rounded to bf16 once) and streams one partial row per (token, destination)
 * back through queues of its own; each source merges the partial rows of its tokens in ascending token order and sums
 * them in ascending rank order (fp32, rounded to bf16 once), so the output is deterministic. Each destination's partial
 * rows for a source come in that source's token order, so the merge needs nothing but the queues.
 *
 * <p>The listener hears {@code PREFILL_NOTIFY} once per dispatch, and {@code PREFILL_DISPATCH} / {@code
 * PREFILL_COMBINE} before every chunk this rank writes, so a test can stop a rank in mid-stream.
 *
 * <p><b>Elastic.</b> Every wait goes through the failure detector as a streaming wait ({@link Waiter#awaitAny}): a peer
 * silent past the timeout is masked whatever else keeps the operation busy. A masked destination gets nothing more;
 * a masked source's rows are all discarded (the receive batch holds none of them); a masked destination's partial rows
 * count for the tokens merged before it was masked, and its experts' weights go to {@code lost_weight} for the others,
 * so each token's output is explained by its own lost weight. Sequence numbers restart at every rendezvous.
 */
public final class PrefillEngine implements AutoCloseable {
    private static final long NOTIFIED = 1;
    private static final long DISPATCHED = 2;
    private static final long COMBINED = 3;

    private final GroupView view;
    private final RegionLayout layout;
    private final BufferAllocator allocator;
    private final RowCodec codec;
    private final RowAccumulator accumulator = RowAccumulator.best();
    private final int ranks;
    private final int self;
    private final int localExperts;
    private final int hidden;
    private final int maxTopK;
    private final int capacity;
    private final int chunkRows;
    private final int chunks;

    // The rank's own tokens (as a source).
    private final long[] routed;
    private final boolean[] inRank;
    private final int[] destCount;
    private final int[] destStart;
    private final int[] destTokens;
    private final int[] sent;
    private final int[] chunksTo;
    private final int[] backRow;
    private final int[] backTaken;
    private final boolean[] awaitingBack;
    private final ArrowBuf outHidden;
    private final ArrowBuf outLost;

    // What it received (as a destination).
    private final int[] recvFrom;
    private final int[] recvBegin;
    private final boolean[] kept;
    private final int[] got;
    private final int[] chunksFrom;
    private final int[] backSent;
    private final int[] backChunksTo;
    private final int[] expertCount;
    private final int[] expertBegin;
    private final int[] expertFill;
    private final PrefillReceive recv;
    private int received;

    private final boolean[] pending;
    private final boolean[] met;
    private final boolean[] used;
    private final long[] sumRows;
    private final float[] sumWeights;
    private final RowAccumulator.Scratch scratch;
    private final Waiter.PeerCondition notified;
    private final Waiter.PeerCondition dispatchReady;
    private final Waiter.PeerCondition combineReady;

    private long step;
    private int tokens;
    private int topK;
    private int format;
    private long hiddenAddress;
    private HiddenDtype dtype;
    private boolean stepOpen;

    PrefillEngine(GroupView view, BufferConfig config, BufferAllocator allocator) {
        this.view = view;
        this.layout = view.layout;
        this.allocator = allocator;
        this.ranks = view.ranks;
        this.self = view.self;
        this.localExperts = config.localExperts();
        this.hidden = config.hidden();
        this.maxTopK = config.maxTopK();
        this.capacity = config.prefillMaxTokensPerRank();
        this.chunkRows = config.prefillChunkRows();
        this.chunks = config.prefillChunks();
        this.routed = new long[capacity * maxTopK];
        this.inRank = new boolean[capacity * ranks];
        this.destCount = new int[ranks];
        this.destStart = new int[ranks + 1];
        this.destTokens = new int[capacity * Math.min(maxTopK, ranks)];
        this.sent = new int[ranks];
        this.chunksTo = new int[ranks];
        this.backRow = new int[ranks];
        this.backTaken = new int[ranks];
        this.awaitingBack = new boolean[ranks];
        this.recvFrom = new int[ranks];
        this.recvBegin = new int[ranks + 1];
        this.kept = new boolean[ranks];
        this.got = new int[ranks];
        this.chunksFrom = new int[ranks];
        this.backSent = new int[ranks];
        this.backChunksTo = new int[ranks];
        this.expertCount = new int[localExperts];
        this.expertBegin = new int[localExperts + 1];
        this.expertFill = new int[localExperts];
        this.pending = new boolean[ranks];
        this.met = new boolean[ranks];
        this.used = new boolean[ranks];
        int sumMax = Math.max(maxTopK, ranks);
        this.sumRows = new long[sumMax];
        this.sumWeights = new float[sumMax];
        this.scratch = new RowAccumulator.Scratch(sumMax, hidden);
        this.notified = p -> view.stateOf(p, RegionLayout.PREFILL_STATE) >= (step << 4 | NOTIFIED);
        this.dispatchReady = p -> canSend(p) || canReceive(p);
        this.combineReady = p -> canSendBack(p) || awaitingBack[p] && backAvailable(p) > backRow[p];
        this.recv = new PrefillReceive(allocator, hidden, maxTopK);
        ArrowBuf hiddenOut = null;
        ArrowBuf lostOut = null;
        try {
            hiddenOut = allocator.buffer(Math.max(1, 2L * hidden * capacity));
            lostOut = allocator.buffer(Math.max(1, 4L * capacity));
            this.codec = new RowCodec(hidden, allocator);
        } catch (RuntimeException e) {
            Closeables.closeAll(hiddenOut, lostOut);
            throw e;
        }
        this.outHidden = hiddenOut;
        this.outLost = lostOut;
        view.onNewGeneration(this::reset);
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Runs one prefill dispatch. Inputs were validated by the caller.
     *
     * @param n tokens, at most {@code prefillMaxTokensPerRank}
     * @param k routing slots per token
     * @param hiddenAddress host address of {@code n × H} values of {@code inputType}
     * @param idx host address of {@code n × k} int64 expert ids
     * @param weights host address of {@code n × k} float32 weights (each destination gets those of its experts)
     * @param wireFormat the dispatch options' format code
     */
    public void dispatch(
            int n, int k, long hiddenAddress, HiddenDtype inputType, long idx, long weights, int wireFormat) {
        view.beginCall(Phase.PREFILL_NOTIFY);
        step++;
        tokens = n;
        topK = k;
        format = wireFormat;
        this.hiddenAddress = hiddenAddress;
        this.dtype = inputType;
        stepOpen = true;
        view.phase(Phase.PREFILL_NOTIFY, step);
        plan(n, k, idx);
        for (int r = 0; r < ranks; r++) {
            MemoryUtil.putInt(view.own.address(layout.prefillCount(step, r)), destCount[r]);
        }
        view.own.setRelease(RegionLayout.PREFILL_STATE, step << 4 | NOTIFIED);
        view.awaitActive(notified, Phase.PREFILL_NOTIFY, null, GroupView.WaitKind.DATA);
        int total = 0;
        for (int p = 0; p < ranks; p++) {
            kept[p] = view.met[p];
            recvFrom[p] = kept[p] ? MemoryUtil.getInt(view.regions[p].address(layout.prefillCount(step, self))) : 0;
            if (recvFrom[p] < 0 || recvFrom[p] > capacity) {
                throw new IllegalStateException("rank " + self + ": peer rank " + p + " announced " + recvFrom[p]
                        + " prefill tokens (prefillMaxTokensPerRank = " + capacity + ")");
            }
            recvBegin[p] = total;
            total += recvFrom[p];
        }
        recvBegin[ranks] = total;
        recv.ensureRows(total);
        streamRows(weights);
        finishReceive();
        view.own.setRelease(RegionLayout.PREFILL_STATE, step << 4 | DISPATCHED);
    }

    /** Per destination rank, the ascending list of this rank's tokens with an expert there (masked ranks get none). */
    private void plan(int n, int k, long idx) {
        Arrays.fill(destCount, 0);
        Arrays.fill(inRank, 0, n * ranks, false);
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < k; j++) {
                long e = MemoryUtil.getLong(idx + 8L * (t * k + j));
                routed[t * k + j] = e;
                if (e < 0) {
                    continue;
                }
                int r = (int) (e / localExperts);
                if (!view.mask.isMasked(r) && !inRank[t * ranks + r]) {
                    inRank[t * ranks + r] = true;
                    destCount[r]++;
                }
            }
        }
        destStart[0] = 0;
        for (int r = 0; r < ranks; r++) {
            destStart[r + 1] = destStart[r] + destCount[r];
            sent[r] = destStart[r];
        }
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < ranks; r++) {
                if (inRank[t * ranks + r]) {
                    destTokens[sent[r]++] = t;
                }
            }
        }
    }

    private void streamRows(long weights) {
        view.waiter.beginStream();
        for (int r = 0; r < ranks; r++) {
            sent[r] = 0;
            chunksTo[r] = view.mask.isMasked(r) ? 0 : chunksOf(destCount[r]);
            got[r] = 0;
            chunksFrom[r] = kept[r] ? chunksOf(recvFrom[r]) : 0;
        }
        while (true) {
            boolean progress = false;
            boolean done = true;
            for (int r = 0; r < ranks; r++) {
                if (sent[r] == chunksTo[r]) {
                    continue;
                }
                if (view.mask.isMasked(r)) {
                    chunksTo[r] = sent[r];
                    continue;
                }
                done = false;
                if (canSend(r)) {
                    view.phase(Phase.PREFILL_DISPATCH, step);
                    writeChunk(r, sent[r], weights);
                    sent[r]++;
                    view.own.setRelease(layout.prefillProgress(Progress.DISPATCH_SENT, r), tag(sent[r]));
                    progress = true;
                }
            }
            for (int p = 0; p < ranks; p++) {
                if (got[p] == chunksFrom[p]) {
                    continue;
                }
                if (view.mask.isMasked(p)) {
                    kept[p] = false;
                    chunksFrom[p] = got[p];
                    continue;
                }
                done = false;
                if (canReceive(p)) {
                    readChunk(p, got[p]);
                    got[p]++;
                    view.own.setRelease(layout.prefillProgress(Progress.DISPATCH_TAKEN, p), tag(got[p]));
                    progress = true;
                }
            }
            if (done) {
                break;
            }
            if (!progress) {
                for (int p = 0; p < ranks; p++) {
                    pending[p] = p != self && (sent[p] < chunksTo[p] || got[p] < chunksFrom[p]);
                }
                awaitPeers(dispatchReady, Phase.PREFILL_DISPATCH);
            }
        }
        view.checkAfterData(Phase.PREFILL_DISPATCH);
    }

    private boolean canSend(int r) {
        return sent[r] < chunksTo[r]
                && sent[r] - countOf(view.stateOf(r, layout.prefillProgress(Progress.DISPATCH_TAKEN, self))) < chunks;
    }

    private boolean canReceive(int p) {
        return got[p] < chunksFrom[p]
                && countOf(view.stateOf(p, layout.prefillProgress(Progress.DISPATCH_SENT, self))) > got[p];
    }

    /** Writes chunk {@code c} of this rank's tokens for destination {@code r} into its queue slot. */
    private void writeChunk(int r, int c, long weights) {
        int first = c * chunkRows;
        int last = Math.min(first + chunkRows, destCount[r]);
        for (int m = first; m < last; m++) {
            int t = destTokens[destStart[r] + m];
            long entry = view.own.address(layout.prefillEntry(r, c % chunks, m - first));
            MemoryUtil.putInt(entry, t);
            for (int j = 0; j < maxTopK; j++) {
                long e = j < topK ? routed[t * topK + j] : -1;
                boolean local = e >= 0 && e / localExperts == r;
                MemoryUtil.putInt(entry + 4 + 4L * j, local ? (int) (e % localExperts) : -1);
                MemoryUtil.putInt(
                        entry + 4 + 4L * maxTopK + 4L * j,
                        local ? MemoryUtil.getInt(weights + 4L * (t * topK + j)) : 0);
            }
            codec.stage(hiddenAddress, dtype, t, format, entry + layout.prefillEntryRow());
        }
    }

    /** Copies chunk {@code c} from source {@code p}'s queue into this rank's receive batch. */
    private void readChunk(int p, int c) {
        int first = c * chunkRows;
        int last = Math.min(first + chunkRows, recvFrom[p]);
        for (int m = first; m < last; m++) {
            long entry = view.regions[p].address(layout.prefillEntry(self, c % chunks, m - first));
            int row = recvBegin[p] + m;
            MemoryUtil.putInt(recv.srcRank().memoryAddress() + 4L * row, p);
            MemoryUtil.putInt(recv.srcToken().memoryAddress() + 4L * row, MemoryUtil.getInt(entry));
            for (int j = 0; j < maxTopK; j++) {
                MemoryUtil.putLong(
                        recv.ids().memoryAddress() + 8L * (row * maxTopK + j), MemoryUtil.getInt(entry + 4 + 4L * j));
                MemoryUtil.putInt(
                        recv.weights().memoryAddress() + 4L * (row * maxTopK + j),
                        MemoryUtil.getInt(entry + 4 + 4L * maxTopK + 4L * j));
            }
            codec.unstage(
                    entry + layout.prefillEntryRow(),
                    format,
                    recv.rows().memoryAddress(),
                    recv.scales().memoryAddress(),
                    row);
        }
    }

    /** Drops the rows of sources masked mid-stream (all of them: none is half used), then indexes rows per expert. */
    private void finishReceive() {
        int write = 0;
        for (int p = 0; p < ranks; p++) {
            int count = kept[p] ? recvFrom[p] : 0;
            if (count > 0 && write != recvBegin[p]) {
                moveRows(recvBegin[p], write, count);
            }
            recvFrom[p] = count;
            recvBegin[p] = write;
            write += count;
        }
        recvBegin[ranks] = write;
        received = write;
        Arrays.fill(expertCount, 0);
        for (int row = 0; row < received; row++) {
            for (int j = 0; j < maxTopK; j++) {
                long l = MemoryUtil.getLong(recv.ids().memoryAddress() + 8L * (row * maxTopK + j));
                if (l >= 0) {
                    expertCount[(int) l]++;
                }
            }
        }
        expertBegin[0] = 0;
        for (int l = 0; l < localExperts; l++) {
            expertBegin[l + 1] = expertBegin[l] + expertCount[l];
        }
        recv.ensureEntries(expertBegin[localExperts]);
        int[] fill = expertFill;
        System.arraycopy(expertBegin, 0, fill, 0, localExperts);
        for (int row = 0; row < received; row++) {
            for (int j = 0; j < maxTopK; j++) {
                long l = MemoryUtil.getLong(recv.ids().memoryAddress() + 8L * (row * maxTopK + j));
                int at = l >= 0 ? fill[(int) l]++ : -1;
                MemoryUtil.putInt(recv.expertPos().memoryAddress() + 4L * (row * maxTopK + j), at);
                if (at >= 0) {
                    MemoryUtil.putInt(recv.expertRowList().memoryAddress() + 4L * at, row);
                }
            }
        }
    }

    private void moveRows(int from, int to, int count) {
        int groups = codec.scalesPerRow(format);
        long rowBytes = (format & RowCodec.FP8) != 0 ? hidden : 2L * hidden;
        long scaleBytes = (format & RowCodec.UE8M0) != 0 ? groups : 4L * groups;
        move(recv.rows(), rowBytes, from, to, count);
        move(recv.scales(), scaleBytes, from, to, count);
        move(recv.ids(), 8L * maxTopK, from, to, count);
        move(recv.weights(), 4L * maxTopK, from, to, count);
        move(recv.srcRank(), 4, from, to, count);
        move(recv.srcToken(), 4, from, to, count);
    }

    private static void move(ArrowBuf buf, long rowBytes, int from, int to, int count) {
        if (rowBytes > 0) {
            MemoryUtil.copyMemory(
                    buf.memoryAddress() + rowBytes * from, buf.memoryAddress() + rowBytes * to, rowBytes * count);
        }
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Runs the prefill combine of the current step: the expert outputs are in {@link #expertOutputAddress(int)} (one
     * bf16 row per entry of each local expert's row list).
     *
     * @param weights host address of the dispatched batch's {@code n × k} float32 weights (for {@code lost_weight})
     */
    public void combine(long weights) {
        view.beginCall(Phase.PREFILL_COMBINE);
        stepOpen = false;
        view.waiter.beginStream();
        for (int r = 0; r < ranks; r++) {
            backSent[r] = 0;
            backChunksTo[r] = kept[r] && !view.mask.isMasked(r) ? chunksOf(recvFrom[r]) : 0;
            backRow[r] = 0;
            backTaken[r] = 0;
        }
        int next = 0;
        while (true) {
            boolean progress = false;
            for (int s = 0; s < ranks; s++) {
                if (backSent[s] == backChunksTo[s]) {
                    continue;
                }
                if (view.mask.isMasked(s)) {
                    backChunksTo[s] = backSent[s];
                    continue;
                }
                if (canSendBack(s)) {
                    view.phase(Phase.PREFILL_COMBINE, step);
                    writeBackChunk(s, backSent[s]);
                    backSent[s]++;
                    view.own.setRelease(layout.prefillProgress(Progress.COMBINE_SENT, s), tag(backSent[s]));
                    progress = true;
                }
            }
            while (next < tokens && partialsReady(next)) {
                mergeToken(next, weights);
                next++;
                progress = true;
            }
            if (next == tokens) {
                Arrays.fill(awaitingBack, false);
            }
            boolean producing = false;
            for (int s = 0; s < ranks; s++) {
                producing |= backSent[s] < backChunksTo[s];
            }
            if (next == tokens && !producing) {
                break;
            }
            if (!progress) {
                for (int p = 0; p < ranks; p++) {
                    pending[p] = p != self && (backSent[p] < backChunksTo[p] || awaitingBack[p]);
                }
                awaitPeers(combineReady, Phase.PREFILL_COMBINE);
            }
        }
        view.checkAfterData(Phase.PREFILL_COMBINE);
        view.own.setRelease(RegionLayout.PREFILL_STATE, step << 4 | COMBINED);
    }

    private boolean canSendBack(int s) {
        return backSent[s] < backChunksTo[s]
                && backSent[s] - countOf(view.stateOf(s, layout.prefillProgress(Progress.COMBINE_TAKEN, self)))
                        < chunks;
    }

    /** Partial rows destination {@code r} has published for this rank so far. */
    private long backAvailable(int r) {
        return Math.min(
                countOf(view.stateOf(r, layout.prefillProgress(Progress.COMBINE_SENT, self))) * chunkRows,
                destCount[r]);
    }

    /** Whether every unmasked destination of token {@code t} has published its partial row. */
    private boolean partialsReady(int t) {
        boolean ready = true;
        for (int r = 0; r < ranks; r++) {
            awaitingBack[r] = false;
            if (inRank[t * ranks + r] && !view.mask.isMasked(r) && backAvailable(r) <= backRow[r]) {
                awaitingBack[r] = true;
                ready = false;
            }
        }
        return ready;
    }

    /**
     * Sums token {@code t}'s partial rows in ascending rank order straight from the queues into the output row, then
     * hands the queue slots back (not before: a destination may rewrite a slot once it is credited); the weights of
     * the ranks left out are lost.
     */
    private void mergeToken(int t, long weights) {
        int count = 0;
        for (int r = 0; r < ranks; r++) {
            used[r] = inRank[t * ranks + r] && !view.mask.isMasked(r);
            if (!used[r]) {
                continue;
            }
            int row = backRow[r];
            long entry = layout.prefillBackEntry(self, (row / chunkRows) % chunks, row % chunkRows);
            int token = MemoryUtil.getInt(view.regions[r].address(entry));
            if (token != t) {
                throw new IllegalStateException("rank " + self + ": peer rank " + r + " sent the partial row of token "
                        + token + " where token " + t + " was due");
            }
            sumRows[count] = view.regions[r].address(entry + RegionLayout.prefillBackEntryRow());
            sumWeights[count++] = 1f;
        }
        accumulator.reduce(sumRows, sumWeights, count, outHidden.memoryAddress() + 2L * hidden * t, hidden, scratch);
        float lost = 0f;
        for (int j = 0; j < topK; j++) {
            long e = routed[t * topK + j];
            if (e >= 0 && !used[(int) (e / localExperts)]) {
                lost += Float.intBitsToFloat(MemoryUtil.getInt(weights + 4L * (t * topK + j)));
            }
        }
        MemoryUtil.putInt(outLost.memoryAddress() + 4L * t, Float.floatToRawIntBits(lost));
        for (int r = 0; r < ranks; r++) {
            if (used[r]) {
                backRow[r]++;
                if (backRow[r] % chunkRows == 0 || backRow[r] == destCount[r]) {
                    backTaken[r]++;
                    view.own.setRelease(layout.prefillProgress(Progress.COMBINE_TAKEN, r), tag(backTaken[r]));
                }
            }
        }
    }

    /** Reduces the received rows of chunk {@code c} of source {@code s} into partial rows in its combine queue. */
    private void writeBackChunk(int s, int c) {
        int first = c * chunkRows;
        int last = Math.min(first + chunkRows, recvFrom[s]);
        for (int m = first; m < last; m++) {
            int row = recvBegin[s] + m;
            int count = 0;
            for (int j = 0; j < maxTopK; j++) {
                int at = MemoryUtil.getInt(recv.expertPos().memoryAddress() + 4L * (row * maxTopK + j));
                if (at < 0) {
                    continue;
                }
                sumWeights[count] = Float.intBitsToFloat(
                        MemoryUtil.getInt(recv.weights().memoryAddress() + 4L * (row * maxTopK + j)));
                sumRows[count++] = recv.expertOut().memoryAddress() + 2L * hidden * at;
            }
            long entry = view.own.address(layout.prefillBackEntry(s, c % chunks, m - first));
            MemoryUtil.putInt(entry, MemoryUtil.getInt(recv.srcToken().memoryAddress() + 4L * row));
            accumulator.reduce(sumRows, sumWeights, count, entry + RegionLayout.prefillBackEntryRow(), hidden, scratch);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /**
     * Waits for progress from (or a mask of) a peer flagged in {@code pending}. This rank's own queues are never waited
     * on: it fills and drains them itself in the same loop, so it always moves them on before it waits.
     */
    private void awaitPeers(Waiter.PeerCondition condition, Phase phase) {
        boolean any = false;
        for (int p = 0; p < ranks; p++) {
            any |= pending[p];
        }
        if (!any) {
            throw new IllegalStateException(
                    "rank " + self + ": the prefill stream stalled in " + phase + " with no peer to wait for");
        }
        view.awaitStream(pending, met, condition, phase);
    }

    private int chunksOf(int rows) {
        return (rows + chunkRows - 1) / chunkRows;
    }

    private long tag(long count) {
        return (step & 0xffff_ffffL) << 32 | count;
    }

    /** The chunk count a progress word holds for the current step (0 if the owner has not started it). */
    private long countOf(long word) {
        return word >>> 32 == (step & 0xffff_ffffL) ? word & 0xffff_ffffL : 0;
    }

    /** A rendezvous started a new generation: steps restart, and the progress words go back to zero. */
    private void reset() {
        step = 0;
        stepOpen = false;
        for (Progress kind : Progress.values()) {
            for (int r = 0; r < ranks; r++) {
                view.own.setRelease(layout.prefillProgress(kind, r), 0);
            }
        }
        view.own.setRelease(RegionLayout.PREFILL_STATE, 0);
    }

    // ------------------------------------------------------------------------------------------------ results

    /** The current prefill step (dispatch and combine share it). */
    public long step() {
        return step;
    }

    /** Whether a prefill dispatch was not combined yet. */
    public boolean stepOpen() {
        return stepOpen;
    }

    public int tokens() {
        return tokens;
    }

    public int topK() {
        return topK;
    }

    public int format() {
        return format;
    }

    /** The expert id the step dispatched at row-major index {@code i} ({@code n × k}). */
    public long routedIdx(int i) {
        return routed[i];
    }

    /** Rows received (after dropping masked sources). */
    public int received() {
        return received;
    }

    public int sourceBegin(int p) {
        return recvBegin[p];
    }

    public int sourceCount(int p) {
        return recvFrom[p];
    }

    /** Whether token {@code t} of this rank went to destination {@code r}. */
    public boolean tokenInRank(int t, int r) {
        return inRank[t * ranks + r];
    }

    public int expertCount(int l) {
        return expertCount[l];
    }

    public int expertBegin(int l) {
        return expertBegin[l];
    }

    /** What this rank received in the current step. */
    public PrefillReceive receive() {
        return recv;
    }

    /** Address of local expert {@code l}'s first expert-output row. */
    public long expertOutputAddress(int l) {
        return recv.expertOut().memoryAddress() + 2L * hidden * expertBegin[l];
    }

    public ArrowBuf outHidden() {
        return outHidden;
    }

    public ArrowBuf outLost() {
        return outLost;
    }

    @Override
    public void close() {
        Closeables.closeAll(recv, outHidden, outLost, codec);
    }
}
