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
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.RankMaskedException;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.PhaseListener;
import io.tokenroute.routing.memory.RankRegion;
import io.tokenroute.routing.memory.SymmetricMemory;

/**
 * One rank's view of its group, shared by the data path ({@link RankProtocol}), the collectives, the mask agreement and
 * the rendezvous: the regions, the local mask and the published ones, the failure detector, the sequence counters, and
 * whether this rank was masked by its peers ("expelled").
 *
 * <p><b>Mask gossip.</b> A rank reads the masks its active peers published for the current generation: at the start
 * of every call it adopts every entry it lacks (reported as newly masked by that call), and during a wait it adopts the
 * entries of the peers it still waits for, which are then dropped from the wait. It never adopts an entry for a peer
 * whose data the call already used, so the mask after a call explains its result exactly: the masked peers are the
 * ones whose rows or outputs it did not use. An active peer that masks this rank means this rank was cut off: it stops
 * ({@link RankMaskedException}) instead of computing a step on a view its peers do not share, also at the end of a
 * wait whose data it would otherwise use (the peer published the entry before its data). Two live ranks that mask
 * each other (both timed out at once) are settled the same way on both sides: the side with fewer active ranks, or on
 * a tie the one without the lowest rank id, gives way, so no two live groups ever mask each other.
 */
final class GroupView {
    /**
     * Polls between two full gossip reads inside a wait (the cheap "does a pending peer mask me" check runs each poll).
     */
    private static final int GOSSIP_PASSES = 8;

    private static final long UNSEEN = Long.MIN_VALUE;

    final BufferConfig config;
    final RegionLayout layout;
    final int self;
    final int ranks;
    final boolean elastic;
    final RankRegion own;
    final RankRegion[] regions;
    final MaskState mask;
    final MaskBoard board;
    final Waiter waiter;
    final CallGuard guard;
    final boolean[] pending;
    final boolean[] met;
    private final PhaseListener listener;

    /** Rendezvous generation; {@link #seq} and {@link #syncSeq} restart at {@code generation << 32} after each. */
    long generation;
    /** Dispatch/combine steps. */
    long seq;
    /** Barriers, allGathers and agreements. */
    long syncSeq;
    /** While a rendezvous rewrites the generation, published masks are not gossiped. */
    boolean inRendezvous;

    /** The phase and kind of the wait in progress (what an exception thrown from inside it names). */
    private Phase waitPhase = Phase.BEFORE_DISPATCH;

    private WaitKind waitKind = WaitKind.DATA;
    private boolean expelled;
    private final java.util.List<Runnable> generationResets = new java.util.ArrayList<>();
    private final boolean[] maskedBy;
    private final long[] peerWords;
    private final long[] ownWords;
    private final long[] mutualBeat;
    private long beats;

    GroupView(BufferConfig config, SymmetricMemory memory, CallGuard guard) {
        this.config = config;
        this.layout = new RegionLayout(config);
        if (memory.regionBytes() < layout.regionBytes() || memory.ranks() != config.ranks()) {
            throw new IllegalArgumentException("symmetric memory of " + memory.ranks() + " × " + memory.regionBytes()
                    + " bytes does not fit " + config + " (needs " + config.ranks() + " × " + layout.regionBytes()
                    + ")");
        }
        this.self = config.rank();
        this.ranks = config.ranks();
        this.elastic = config.elastic();
        this.regions = new RankRegion[ranks];
        for (int r = 0; r < ranks; r++) {
            regions[r] = memory.region(r);
        }
        this.own = regions[self];
        this.guard = guard;
        this.listener = PhaseHooks.listenerOf(config);
        this.mask = new MaskState(ranks, self);
        this.board = new MaskBoard(layout, regions, self);
        mask.publishTo(board);
        Waiter.Liveness liveness = new Waiter.Liveness() {
            @Override
            public long beatOf(int peer) {
                return regions[peer].getAcquire(RegionLayout.HEARTBEAT);
            }

            @Override
            public void beat() {
                heartbeat();
            }
        };
        this.waiter = new Waiter(
                self, elastic, mask, liveness, guard, config.timeout().toNanos());
        waiter.setPassHook(this::onPass);
        this.pending = new boolean[ranks];
        this.met = new boolean[ranks];
        this.maskedBy = new boolean[ranks];
        this.peerWords = new long[board.words()];
        this.ownWords = new long[board.words()];
        this.mutualBeat = new long[ranks];
        java.util.Arrays.fill(mutualBeat, UNSEEN);
    }

    // ------------------------------------------------------------------------------------------------ calls

    /**
     * Starts a call: forgets the last call's report, refuses an expelled rank, beats (every call of a live rank is a
     * sign of life, also for a rank with nobody to wait for), adopts the peers' published masks.
     */
    void beginCall(Phase phase) {
        mask.beginCall();
        ensureNotExpelled(phase);
        heartbeat();
        if (elastic) {
            gossip(phase);
            settleMutualMasks(phase);
        }
    }

    /** Tells the listener; a safe point (the listener may block; close may free memory meanwhile). */
    void phase(Phase phase, long step) {
        guard.pause();
        try {
            listener.onPhase(self, phase, step);
        } finally {
            guard.resume();
        }
    }

    long stateOf(int peer, int word) {
        return regions[peer].getAcquire(word);
    }

    void heartbeat() {
        own.setRelease(RegionLayout.HEARTBEAT, ++beats);
    }

    /** What a wait may learn from the peers' published masks (see the class comment). */
    enum WaitKind {
        /**
         * The caller uses the data of the peers it met: entries are adopted only for peers still pending (whose data
         * will then not be used), and after the wait a peer that masked this rank stops the call. So the mask after a
         * data call holds exactly the peers whose data it did not use.
         */
        DATA,
        /** A barrier: as DATA during the wait; nothing after it (a barrier uses no data). */
        BARRIER,
        /** The mask agreement: adopts every entry, during and after the wait. */
        AGREEMENT
    }

    /**
     * Waits on every active peer (self excluded) for {@code condition}; results in {@link #met} ({@code met[self]}
     * true).
     */
    void awaitActive(Waiter.PeerCondition condition, Phase phase, long[] waitCost, WaitKind kind) {
        awaitActive(condition, phase, waitCost, kind, waiter.timeoutNanos());
    }

    /** The agreement's wait, with its own timeout. */
    void awaitActive(Waiter.PeerCondition condition, Phase phase, long timeoutNanos) {
        awaitActive(condition, phase, null, WaitKind.AGREEMENT, timeoutNanos);
    }

    private void awaitActive(
            Waiter.PeerCondition condition, Phase phase, long[] waitCost, WaitKind kind, long timeoutNanos) {
        for (int p = 0; p < ranks; p++) {
            pending[p] = p != self && !mask.isMasked(p);
        }
        waitPhase = phase;
        waitKind = kind;
        waiter.awaitAll(pending, met, condition, phase, waitCost, timeoutNanos);
        met[self] = true;
        if (!elastic) {
            return;
        }
        if (kind == WaitKind.AGREEMENT) {
            gossip(phase);
        } else if (kind == WaitKind.DATA) {
            checkNotMaskedByActivePeers(phase);
        }
    }

    /**
     * A streaming wait ({@link Waiter#awaitAny}): until at least one pending peer meets {@code condition}; the pass
     * hook learns from the peers it waits for as a data wait does.
     */
    void awaitStream(boolean[] waitingOn, boolean[] ready, Waiter.PeerCondition condition, Phase phase) {
        waitPhase = phase;
        waitKind = WaitKind.DATA;
        waiter.awaitAny(waitingOn, ready, condition, phase);
    }

    /** After a data call that did not end in a wait: stops if an active peer masked this rank meanwhile. */
    void checkAfterData(Phase phase) {
        if (elastic) {
            checkNotMaskedByActivePeers(phase);
        }
    }

    /** Runs {@code reset} at every rendezvous, after the sequences restarted and before the rank confirms. */
    void onNewGeneration(Runnable reset) {
        generationResets.add(reset);
    }

    /** Called by the rendezvous. */
    void newGeneration() {
        generationResets.forEach(Runnable::run);
    }

    // ------------------------------------------------------------------------------------------------ gossip

    private void onPass(boolean[] waitingOn, int pass) {
        if (!elastic || inRendezvous) {
            return;
        }
        for (int p = 0; p < ranks; p++) {
            if (waitingOn[p] && maskedByPeer(p)) {
                expel(waitPhase);
            }
        }
        if (pass % GOSSIP_PASSES == GOSSIP_PASSES - 1) {
            adoptPeerEntries(waitPhase, waitKind == WaitKind.AGREEMENT ? null : waitingOn);
        }
    }

    /**
     * Whether active peer {@code p} shows that it masked this rank: its mask for this generation holds it, or it is in
     * a later generation (a rendezvous converges only once every participant proposed, so it held one without this
     * rank).
     */
    private boolean maskedByPeer(int p) {
        long g = board.latestGenerationOf(p);
        return g > generation || g == generation && board.masks(p, self, generation);
    }

    /** Throws {@link RankMaskedException} if an active peer masked this rank. */
    private void checkNotMaskedByActivePeers(Phase phase) {
        for (int p = 0; p < ranks; p++) {
            if (p != self && !mask.isMasked(p) && maskedByPeer(p)) {
                expel(phase);
            }
        }
    }

    /**
     * Adopts every entry of the active peers' published masks; throws {@link RankMaskedException} if one of them
     * masks this rank.
     */
    void gossip(Phase phase) {
        if (inRendezvous) {
            return;
        }
        checkNotMaskedByActivePeers(phase);
        adoptPeerEntries(phase, null);
    }

    /** Adopts the entries of the active peers' published masks, only for ranks in {@code only} if it is not null. */
    private void adoptPeerEntries(Phase phase, boolean[] only) {
        for (int p = 0; p < ranks; p++) {
            if (p == self || mask.isMasked(p) || !board.read(p, generation, peerWords)) {
                continue;
            }
            for (int w = 0; w < peerWords.length; w++) {
                long bits = peerWords[w];
                while (bits != 0) {
                    int r = (w << 6) + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    if (r == self) {
                        expel(phase);
                    }
                    if (!mask.isMasked(r) && (only == null || only[r])) {
                        mask.maskOnTimeout(r);
                    }
                }
            }
        }
    }

    /**
     * A peer this rank masks and that masks this rank, while both are alive (its heartbeat still moves): two groups
     * that would each go on without the other. The smaller group (fewer active ranks in its published view; on a tie,
     * the one not holding the lowest rank id) gives way; both sides compute the same answer.
     */
    private void settleMutualMasks(Phase phase) {
        for (int p = 0; p < ranks; p++) {
            if (p == self || !mask.isMasked(p) || !board.masks(p, self, generation)) {
                mutualBeat[p] = UNSEEN;
                continue;
            }
            long beat = regions[p].getAcquire(RegionLayout.HEARTBEAT);
            if (mutualBeat[p] == UNSEEN) {
                mutualBeat[p] = beat;
            } else if (beat != mutualBeat[p] && board.read(p, generation, peerWords) && losesTo()) {
                expel(phase);
            }
        }
    }

    /** Whether this rank's group gives way to the group of the peer whose mask is in {@link #peerWords}. */
    private boolean losesTo() {
        int mine = 0;
        int theirs = 0;
        int myLowest = Integer.MAX_VALUE;
        int theirLowest = Integer.MAX_VALUE;
        for (int r = 0; r < ranks; r++) {
            if (!mask.isMasked(r)) {
                mine++;
                myLowest = Math.min(myLowest, r);
            }
            if ((peerWords[r >>> 6] & (1L << (r & 63))) == 0) {
                theirs++;
                theirLowest = Math.min(theirLowest, r);
            }
        }
        return mine < theirs || mine == theirs && myLowest > theirLowest;
    }

    // ------------------------------------------------------------------------------------------------ expelled

    /** This rank was masked by its peers: remembers by whom and throws. */
    void expel(Phase phase) {
        if (!expelled) {
            expelled = true;
            for (int p = 0; p < ranks; p++) {
                maskedBy[p] = p != self && maskedByPeer(p);
            }
        }
        throw maskedException(phase);
    }

    /** A peer's state shows it went on past data this rank still reads: it can only have done so having masked us. */
    void peerMovedOn(int peer, Phase phase) {
        if (!elastic) {
            throw new IllegalStateException("rank " + self + ": peer rank " + peer + " moved on in " + phase
                    + " without this rank, in non-elastic mode");
        }
        maskedBy[peer] = true;
        expel(phase);
    }

    void ensureNotExpelled(Phase phase) {
        if (expelled) {
            throw maskedException(phase);
        }
    }

    boolean isExpelled() {
        return expelled;
    }

    /** After a rendezvous that admitted this rank. */
    void readmitted() {
        expelled = false;
        java.util.Arrays.fill(maskedBy, false);
        java.util.Arrays.fill(mutualBeat, UNSEEN);
    }

    private RankMaskedException maskedException(Phase phase) {
        int count = 0;
        for (boolean b : maskedBy) {
            count += b ? 1 : 0;
        }
        return new RankMaskedException(self, MaskState.ranksOf(maskedBy, count), phase);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** This rank's view as published-mask words (into a reused array). */
    long[] ownWords() {
        java.util.Arrays.fill(ownWords, 0);
        for (int r = 0; r < ranks; r++) {
            if (mask.isMasked(r)) {
                ownWords[r >>> 6] |= 1L << (r & 63);
            }
        }
        return ownWords;
    }

    /** Whether {@code peer} published, for the current generation, exactly the mask this rank holds. */
    boolean publishedEqualsOwn(int peer) {
        long[] mine = ownWords();
        if (!board.read(peer, generation, peerWords)) {
            return false;
        }
        for (int w = 0; w < mine.length; w++) {
            if (mine[w] != peerWords[w]) {
                return false;
            }
        }
        return true;
    }
}
