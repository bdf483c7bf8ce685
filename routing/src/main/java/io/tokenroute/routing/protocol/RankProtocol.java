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

import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.memory.RankRegion;
import io.tokenroute.routing.memory.SymmetricMemory;
import java.lang.invoke.VarHandle;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * One rank's side of the elastic EP protocol over {@link SymmetricMemory}: the reference implementation the CUDA
 * kernels are checked against (design: docs/protocol.md). This class is the data path (dispatch, combine) and the
 * facade over the collectives, the mask agreement and the rendezvous, which share one {@link GroupView}. Not
 * thread-safe; {@code ElasticBuffer} guards it.
 *
 * <p><b>Pull model.</b> Each rank writes only its own region: its staged rows plus, per destination expert, the
 * ascending list of its tokens routed there (dispatch), and its expert outputs plus their layout (combine). Peers read
 * those after an acquire-load of the owner's state word sees the step published. A receiver copies each block straight
 * into its packed position (blocks in ascending source rank, rows in ascending source token), so one copy per
 * (token, expert) row gives the deterministic layout of docs/contract.md §2, and a dead or stale rank can never write
 * into a live one.
 *
 * <p><b>Publish first, then wait.</b> Every operation publishes before it waits, and waits on every active peer (as
 * DeepEP's kernels do): all survivors then meet a dead peer in the same phase and lose the same timeout, instead of
 * one survivor's wait delaying its next publish past another survivor's timeout. Reuse needs no acknowledgements:
 * staging is double-buffered (see {@link RegionLayout}), and a rank overwrites its expert outputs of step q only after
 * its dispatch of step q + 1 heard from every active peer, which each do after finishing combine q. Only a peer that
 * masked this rank can move on early; the seqlock re-check after each copy detects that, and this rank, cut off, stops.
 *
 * <p><b>Sequence numbers.</b> {@code seq} counts dispatch/combine steps, {@code syncSeq} barriers and allGathers.
 * Both restart at {@code generation << 32} after every cleanBuffer/readmit rendezvous, so words left by a stale rank
 * (older generation) never satisfy a wait.
 */
public final class RankProtocol implements AutoCloseable {
    private static final long NO_POSITION = -1;

    private final BufferConfig config;
    private final GroupView view;
    private final RegionLayout layout;
    private final RankRegion own;
    private final RankRegion[] regions;
    private final int self;
    private final int ranks;
    private final int localExperts;
    private final int hidden;
    private final int capacity;
    private final MaskState mask;
    private final Collectives collectives;
    private final MaskAgreement agreement;
    private final Rendezvous rendezvous;
    private final PrefillEngine prefill;
    private final RowAccumulator accumulator = RowAccumulator.best();

    // Private memory: what this rank received and produced.
    private final ArrowBuf recvRows;
    private final ArrowBuf recvScales;
    private final ArrowBuf srcRank;
    private final ArrowBuf srcToken;
    private final ArrowBuf combineOut;
    private final ArrowBuf lostWeight;
    private final RowCodec codec;

    // Step state, allocated once.
    private final boolean[] met;
    private final boolean[] expertValid;
    private final int[] sentCount;
    private final int[] csrStart;
    private final int[] recvCount;
    private final int[] layoutBegin;
    private final int[] layoutCount;
    private final long[] routedIdx;
    private final long[] position;
    private final int[] combineBegin;
    private final long[] sumRows;
    private final float[] sumWeights;
    private final RowAccumulator.Scratch scratch;
    private final long[] cumulativeRecv;
    private final long[] dispatchWait;
    private final long[] combineWait;
    private final Waiter.PeerCondition dispatchReady;
    private final Waiter.PeerCondition combineReady;

    private int tokens;
    private int topK;
    private int format;
    private boolean stepOpen;
    private boolean closed;

    /**
     * @param config this rank's configuration
     * @param memory the group's symmetric memory, laid out by {@link RegionLayout}; not closed here
     * @param allocator pays for this rank's private receive and output buffers until {@link #close()}
     * @param guard the rank's call guard (parking and listeners are its safe points)
     */
    public RankProtocol(BufferConfig config, SymmetricMemory memory, BufferAllocator allocator, CallGuard guard) {
        this.config = config;
        this.view = new GroupView(config, memory, guard);
        this.layout = view.layout;
        this.self = view.self;
        this.ranks = view.ranks;
        this.localExperts = config.localExperts();
        this.hidden = config.hidden();
        this.capacity = layout.recvCapacity();
        this.own = view.own;
        this.regions = view.regions;
        this.mask = view.mask;
        this.met = view.met;
        this.collectives = new Collectives(view);
        this.agreement = new MaskAgreement(view, collectives);
        this.rendezvous = new Rendezvous(view);
        this.dispatchReady = p -> view.stateOf(p, RegionLayout.DISPATCH_STATE) >= ready(view.seq);
        this.combineReady = p -> view.stateOf(p, RegionLayout.COMBINE_STATE) >= ready(view.seq);
        long rows = (long) localExperts * capacity;
        int scalesPerRow = hidden % Fp8Quantizer.GROUP == 0 ? hidden / Fp8Quantizer.GROUP : 0;
        ArrowBuf[] bufs = new ArrowBuf[6];
        RowCodec rowCodec = null;
        try {
            rowCodec = new RowCodec(hidden, allocator);
            bufs[0] = allocator.buffer(rows * 2 * hidden);
            bufs[1] = allocator.buffer(Math.max(1, rows * 4 * scalesPerRow));
            bufs[2] = allocator.buffer(rows * 4);
            bufs[3] = allocator.buffer(rows * 4);
            bufs[4] = allocator.buffer(2L * hidden * config.maxTokensPerRank());
            bufs[5] = allocator.buffer(4L * config.maxTokensPerRank());
        } catch (RuntimeException e) {
            for (ArrowBuf b : bufs) {
                if (b != null) {
                    b.close();
                }
            }
            if (rowCodec != null) {
                rowCodec.close();
            }
            throw e;
        }
        this.recvRows = bufs[0];
        this.recvScales = bufs[1];
        this.srcRank = bufs[2];
        this.srcToken = bufs[3];
        this.combineOut = bufs[4];
        this.lostWeight = bufs[5];
        this.codec = rowCodec;
        PrefillEngine prefillEngine = null;
        if (config.prefillMaxTokensPerRank() > 0) {
            try {
                prefillEngine = new PrefillEngine(view, config, allocator);
            } catch (RuntimeException e) {
                for (ArrowBuf b : bufs) {
                    b.close();
                }
                codec.close();
                throw e;
            }
        }
        this.prefill = prefillEngine;
        this.expertValid = new boolean[config.experts()];
        this.sentCount = new int[config.experts()];
        this.csrStart = new int[config.experts()];
        this.recvCount = new int[localExperts];
        this.layoutBegin = new int[localExperts * ranks];
        this.layoutCount = new int[localExperts * ranks];
        this.routedIdx = new long[config.maxTokensPerRank() * config.maxTopK()];
        this.position = new long[config.maxTokensPerRank() * config.maxTopK()];
        this.combineBegin = new int[config.experts()];
        this.sumRows = new long[config.maxTopK()];
        this.sumWeights = new float[config.maxTopK()];
        this.scratch = new RowAccumulator.Scratch(config.maxTopK(), hidden);
        this.cumulativeRecv = new long[localExperts];
        this.dispatchWait = new long[ranks];
        this.combineWait = new long[ranks];
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /**
     * Runs one dispatch. Inputs were validated by the caller (shapes, expert ids, no duplicate expert per token).
     *
     * @param n tokens
     * @param k routing slots per token
     * @param hiddenAddress host address of {@code n × H} values of {@code dtype}
     * @param dtype input dtype (bf16, fp16 or fp32)
     * @param topkIdxAddress host address of {@code n × k} int64 expert ids
     * @param fp8Format the dispatch options' format code (0 = bf16)
     * @param stats whether to add received counts to the cumulative stats
     * @return the step's sequence number
     */
    public long dispatch(
            int n, int k, long hiddenAddress, HiddenDtype dtype, long topkIdxAddress, int fp8Format, boolean stats) {
        view.beginCall(Phase.BEFORE_DISPATCH);
        long q = ++view.seq;
        stepOpen = true;
        tokens = n;
        topK = k;
        format = fp8Format;
        view.phase(Phase.BEFORE_DISPATCH, q);
        planRouting(n, k, topkIdxAddress);
        int slot = RegionLayout.slotOf(q);
        own.announce(RegionLayout.DISPATCH_STATE, q << 1);
        writeRoutingLists(slot, n);
        view.phase(Phase.DISPATCH_SEND, q);
        writeRows(slot, n, hiddenAddress, dtype);
        own.setRelease(RegionLayout.DISPATCH_STATE, ready(q));

        view.phase(Phase.DISPATCH_RECV, q);
        view.awaitActive(dispatchReady, Phase.DISPATCH_RECV, dispatchWait, GroupView.WaitKind.DATA);
        int mismatched = -1;
        for (int p = 0; p < ranks; p++) {
            if (met[p] && regions[p].getAcquire((int) layout.stageFormat(slot)) != fp8Format) {
                met[p] = false;
                mismatched = p;
            }
        }
        receiveRows(slot);
        VarHandle.acquireFence();
        checkNobodyMovedOn(RegionLayout.DISPATCH_STATE, (q + 2) << 1, Phase.DISPATCH_RECV);
        own.announce(RegionLayout.COMBINE_STATE, q << 1);
        publishCombineLayout();
        if (stats) {
            for (int l = 0; l < localExperts; l++) {
                cumulativeRecv[l] += recvCount[l];
            }
        }
        if (mismatched >= 0) {
            throw new IllegalStateException("rank " + self + ": peer rank " + mismatched + " dispatched step " + q
                    + " with other fp8 options; every rank must pass the same options");
        }
        return q;
    }

    /** Per destination expert: counts, and for each (token, slot) its row among this rank's rows for that expert. */
    private void planRouting(int n, int k, long topkIdxAddress) {
        java.util.Arrays.fill(sentCount, 0);
        for (int i = 0; i < n * k; i++) {
            long e = MemoryUtil.getLong(topkIdxAddress + 8L * i);
            routedIdx[i] = e;
            if (e >= 0 && !mask.isMasked((int) e / localExperts)) {
                position[i] = sentCount[(int) e]++;
            } else {
                position[i] = NO_POSITION;
            }
        }
    }

    private void writeRoutingLists(int slot, int n) {
        int experts = config.experts();
        int offset = 0;
        for (int e = 0; e < experts; e++) {
            csrStart[e] = offset;
            MemoryUtil.putInt(own.address(layout.csrEntry(slot, e)), offset);
            offset += sentCount[e];
        }
        MemoryUtil.putInt(own.address(layout.csrEntry(slot, experts)), offset);
        for (int i = 0, total = n * topK; i < total; i++) {
            if (position[i] >= 0) {
                int start = csrStart[(int) routedIdx[i]];
                MemoryUtil.putInt(own.address(layout.tokenListEntry(slot, start + (int) position[i])), i / topK);
            }
        }
        own.setRelease((int) layout.stageFormat(slot), format);
    }

    private void writeRows(int slot, int n, long hiddenAddress, HiddenDtype dtype) {
        for (int t = 0; t < n; t++) {
            codec.stage(hiddenAddress, dtype, t, format, own.address(layout.stageRow(slot, t)));
        }
    }

    /** Copies every met peer's rows for this rank's experts into their packed, deterministic positions. */
    private void receiveRows(int slot) {
        int groups = codec.scalesPerRow(format);
        long scaleBytes = (format & RowCodec.UE8M0) != 0 ? groups : 4L * groups;
        long bf16Bytes = 2L * hidden;
        for (int l = 0; l < localExperts; l++) {
            int e = self * localExperts + l;
            int offset = 0;
            long expertRows = recvRows.memoryAddress() + bf16Bytes * (long) l * capacity;
            long expertScales = recvScales.memoryAddress() + scaleBytes * l * capacity;
            for (int p = 0; p < ranks; p++) {
                int cell = l * ranks + p;
                layoutBegin[cell] = offset;
                if (!met[p]) {
                    layoutCount[cell] = 0;
                    continue;
                }
                RankRegion peer = regions[p];
                int begin = MemoryUtil.getInt(peer.address(layout.csrEntry(slot, e)));
                int count = MemoryUtil.getInt(peer.address(layout.csrEntry(slot, e + 1))) - begin;
                layoutCount[cell] = count;
                for (int i = 0; i < count; i++) {
                    int token = MemoryUtil.getInt(peer.address(layout.tokenListEntry(slot, begin + i)));
                    int row = offset + i;
                    codec.unstage(peer.address(layout.stageRow(slot, token)), format, expertRows, expertScales, row);
                    long rowIndex = (long) l * capacity + row;
                    MemoryUtil.putInt(srcRank.memoryAddress() + 4L * rowIndex, p);
                    MemoryUtil.putInt(srcToken.memoryAddress() + 4L * rowIndex, token);
                }
                offset += count;
            }
            recvCount[l] = offset;
        }
    }

    /** Publishes, for each (local expert, source rank), where that source's rows start and how many there are. */
    private void publishCombineLayout() {
        for (int l = 0; l < localExperts; l++) {
            for (int p = 0; p < ranks; p++) {
                long a = own.address(layout.combineLayout(l, p));
                MemoryUtil.putInt(a, layoutBegin[l * ranks + p]);
                MemoryUtil.putInt(a + 4, layoutCount[l * ranks + p]);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ combine

    /**
     * Runs the combine of the current step. Expert outputs must already be in this rank's combine-send rows.
     *
     * @param topkWeightsAddress host address of {@code n × k} float32 weights (same n, k as the dispatch)
     */
    public void combine(long topkWeightsAddress) {
        view.beginCall(Phase.COMBINE_SEND);
        long q = view.seq;
        stepOpen = false;
        view.phase(Phase.COMBINE_SEND, q);
        own.setRelease(RegionLayout.COMBINE_STATE, ready(q));
        view.phase(Phase.COMBINE_RECV, q);
        view.awaitActive(combineReady, Phase.COMBINE_RECV, combineWait, GroupView.WaitKind.DATA);
        markValidExperts();
        reduce(topkWeightsAddress);
        VarHandle.acquireFence();
        checkNobodyMovedOn(RegionLayout.COMBINE_STATE, ready(q) + 1, Phase.COMBINE_RECV);
    }

    /**
     * An expert's outputs are usable when its rank published and received exactly the rows this rank sent. Where they
     * start is read once here and checked to lie in the expert's combine rows, since {@link #reduce} reads them by
     * address, not through a bounds-checked buffer.
     */
    private void markValidExperts() {
        for (int e = 0; e < expertValid.length; e++) {
            int r = e / localExperts;
            expertValid[e] = false;
            if (!met[r] || sentCount[e] <= 0) {
                continue;
            }
            long entry = regions[r].address(layout.combineLayout(e % localExperts, self));
            if (MemoryUtil.getInt(entry + 4) != sentCount[e]) {
                continue;
            }
            int begin = MemoryUtil.getInt(entry);
            if (begin < 0 || begin > capacity - sentCount[e]) {
                // a peer that masked this rank may be rewriting its layout for its next step: that is reported first
                checkNobodyMovedOn(RegionLayout.COMBINE_STATE, ready(view.seq) + 1, Phase.COMBINE_RECV);
                throw new IllegalStateException("rank " + self + ": peer rank " + r + " published its rows of expert "
                        + e + " at " + begin + ", outside its " + capacity + " combine rows");
            }
            combineBegin[e] = begin;
            expertValid[e] = true;
        }
    }

    /**
     * Sums, per token, its valid experts' rows weighted in top-k order (fp32, rounded to bf16 once, straight into the
     * output row); the weights of the experts it cannot use go to {@code lost_weight}.
     */
    private void reduce(long topkWeightsAddress) {
        long out = combineOut.memoryAddress();
        long rowBytes = layout.bf16RowBytes();
        for (int t = 0; t < tokens; t++) {
            int count = 0;
            float lost = 0f;
            for (int j = 0; j < topK; j++) {
                int i = t * topK + j;
                long e = routedIdx[i];
                if (e < 0) {
                    continue;
                }
                float w = Float.intBitsToFloat(MemoryUtil.getInt(topkWeightsAddress + 4L * i));
                if (position[i] < 0 || !expertValid[(int) e]) {
                    lost += w;
                    continue;
                }
                int r = (int) e / localExperts;
                int l = (int) e % localExperts;
                sumRows[count] =
                        regions[r].address(layout.combineRows(l) + rowBytes * (combineBegin[(int) e] + position[i]));
                sumWeights[count++] = w;
            }
            accumulator.reduce(sumRows, sumWeights, count, out + 2L * hidden * t, hidden, scratch);
            MemoryUtil.putInt(lostWeight.memoryAddress() + 4L * t, Float.floatToRawIntBits(lost));
        }
    }

    // ------------------------------------------------------------------------------------------------ shared helpers

    private static long ready(long q) {
        return q << 1 | 1;
    }

    /**
     * The seqlock half of the pull model: a peer whose state word reached {@code overwrittenFrom} started rewriting
     * the data this rank read. It could only get there by going on without this rank, having masked it: this rank was
     * cut off from the step ({@link io.tokenroute.routing.RankMaskedException}), and nothing it read is used.
     */
    private void checkNobodyMovedOn(int stateWord, long overwrittenFrom, Phase phase) {
        for (int p = 0; p < ranks; p++) {
            if (p != self && met[p] && regions[p].getAcquire(stateWord) >= overwrittenFrom) {
                view.peerMovedOn(p, phase);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ collectives

    /** Fault-tolerant barrier among active ranks. */
    public void barrier() {
        collectives.barrier();
    }

    /**
     * Fault-tolerant all-gather: every active rank contributes {@code payload}; the result has one entry per rank,
     * null for masked ranks.
     */
    public byte[][] allGather(byte[] payload) {
        if (payload.length > config.collectiveBytes()) {
            throw new IllegalArgumentException("allGather payload of " + payload.length
                    + " bytes exceeds collectiveBytes " + config.collectiveBytes());
        }
        return collectives.allGather(payload);
    }

    /** The confirmed mask agreement ({@link MaskAgreement}); this rank's entry is 1 if its peers masked it. */
    public int[] agreeMask() {
        return agreement.agree();
    }

    /**
     * The generation rendezvous behind cleanBuffer and readmit ({@link Rendezvous}).
     *
     * @param participants ranks taking part, self included; entries of ranks that time out are cleared
     */
    public void rendezvous(boolean[] participants, long timeoutNanos) {
        stepOpen = false;
        rendezvous.run(participants, timeoutNanos);
    }

    // ------------------------------------------------------------------------------------------------ readmit support

    /** Survivor side of readmit: announces it readmits {@code rank} and clears it from the local view. */
    public void publishReadmitIntent(int rank) {
        rendezvous.publishIntent(rank);
    }

    /** Clears the readmit intent. */
    public void clearReadmitIntent() {
        rendezvous.clearIntent();
    }

    /**
     * For the returning rank: asks to come back and waits until some peer announces it readmits this rank, then adopts
     * that peer's mask with this rank active. Returns false if nobody did within the timeout (wall time).
     */
    public boolean adoptMaskOfReadmittingPeer(long timeoutNanos) {
        return rendezvous.adoptMaskOfReadmittingPeer(timeoutNanos);
    }

    /** The ranks this rank masks that asked to be readmitted. */
    public int[] readmitRequests() {
        return rendezvous.requests();
    }

    /** Throws {@link io.tokenroute.routing.RankMaskedException} if this rank's peers masked it. */
    public void ensureNotMaskedByPeers(Phase phase) {
        view.ensureNotExpelled(phase);
    }

    /**
     * Shows peers that this rank is alive: call during host-side work between operations that may take longer than the
     * timeout (waits beat on their own). Cheap: one release store to this rank's own region.
     */
    public void heartbeat() {
        view.heartbeat();
    }

    // ------------------------------------------------------------------------------------------------ accessors

    public MaskState mask() {
        return mask;
    }

    public Waiter waiter() {
        return view.waiter;
    }

    public RegionLayout layout() {
        return layout;
    }

    public long seq() {
        return view.seq;
    }

    /** Whether the current step was dispatched and not yet combined. */
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

    /** The expert ids the current step was dispatched with ({@code n × k}, row-major). */
    public long routedIdx(int i) {
        return routedIdx[i];
    }

    public int recvCount(int localExpert) {
        return recvCount[localExpert];
    }

    public int layoutBegin(int localExpert, int srcRank) {
        return layoutBegin[localExpert * ranks + srcRank];
    }

    public int layoutCount(int localExpert, int srcRank) {
        return layoutCount[localExpert * ranks + srcRank];
    }

    public long[] cumulativeRecv() {
        return cumulativeRecv;
    }

    public long[] dispatchWait() {
        return dispatchWait;
    }

    public long[] combineWait() {
        return combineWait;
    }

    public ArrowBuf recvRows() {
        return recvRows;
    }

    public ArrowBuf recvScales() {
        return recvScales;
    }

    public ArrowBuf srcRank() {
        return srcRank;
    }

    public ArrowBuf srcToken() {
        return srcToken;
    }

    public ArrowBuf combineOut() {
        return combineOut;
    }

    public ArrowBuf lostWeight() {
        return lostWeight;
    }

    /** Address of local expert {@code l}'s first combine-send row in this rank's region. */
    public long combineSendAddress(int localExpert) {
        return own.address(layout.combineRows(localExpert));
    }

    /** The high-throughput (prefill) mode, or null when the configuration has no prefill queues. */
    public PrefillEngine prefill() {
        return prefill;
    }

    /** The failure detector's view of every peer (allocates). */
    public io.tokenroute.routing.HealthReport healthReport() {
        return view.waiter.report();
    }

    /** Whether {@link #close()} ran: results that view this rank's memory must not be read any more. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        closed = true;
        try {
            org.apache.arrow.util.AutoCloseables.close(
                    recvRows, recvScales, srcRank, srcToken, combineOut, lostWeight, codec, prefill);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing rank " + self + "'s protocol memory failed", e);
        }
    }
}
