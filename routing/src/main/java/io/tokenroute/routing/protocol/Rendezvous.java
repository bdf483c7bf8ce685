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

import io.tokenroute.routing.Phase;
import io.tokenroute.routing.RankMaskedException;

/**
 * The generation rendezvous behind cleanBuffer and readmit, and the handshake by which a masked rank comes back.
 *
 * <p>Participants converge on the largest generation any of them proposes (each proposes one more than every generation
 * it can see), then each resets its control words, publishes its mask for the new generation and confirms; every
 * sequence restarts at {@code generation << 32}, so words left by a stale rank never satisfy a wait. Waits go through
 * the failure detector like every other wait: a participant silent past the timeout is masked (elastic) or fails the
 * call. A participant that still masks this rank in the new generation means this rank was not admitted
 * ({@link RankMaskedException}).
 */
final class Rendezvous {
    private final GroupView view;
    private long proposal;
    private long doneWord;
    private final Waiter.PeerCondition sameProposal;
    private final Waiter.PeerCondition confirmed;

    Rendezvous(GroupView view) {
        this.view = view;
        this.sameProposal = p -> {
            long g = view.stateOf(p, RegionLayout.RENDEZVOUS) >>> 1;
            if (g > proposal) {
                proposal = g;
                view.own.setRelease(RegionLayout.RENDEZVOUS, proposal << 1);
            }
            return g == proposal;
        };
        this.confirmed = p -> view.stateOf(p, RegionLayout.RENDEZVOUS) >= doneWord;
    }

    /**
     * Runs the rendezvous.
     *
     * @param participants ranks taking part, self included; entries of ranks that time out are cleared
     * @param timeoutNanos the detector's timeout for this rendezvous
     * @throws RankMaskedException if a participant still masks this rank afterwards
     */
    void run(boolean[] participants, long timeoutNanos) {
        view.phase(Phase.CLEAN, view.generation + 1);
        view.inRendezvous = true;
        try {
            proposal = view.generation;
            for (int p = 0; p < view.ranks; p++) {
                if (participants[p]) {
                    proposal = Math.max(proposal, view.stateOf(p, RegionLayout.RENDEZVOUS) >>> 1);
                }
            }
            proposal++;
            view.own.setRelease(RegionLayout.RENDEZVOUS, proposal << 1);
            // Peers met under a smaller proposal must be looked at again once a larger one was adopted.
            long settled;
            do {
                settled = proposal;
                await(participants, sameProposal, timeoutNanos);
            } while (settled != proposal || !allPropose(participants, proposal));
            long agreed = proposal;
            long base = agreed << 32;
            view.seq = base;
            view.syncSeq = base;
            view.own.setRelease(RegionLayout.DISPATCH_STATE, base << 1 | 1);
            view.own.setRelease(RegionLayout.COMBINE_STATE, base << 1 | 1);
            view.own.setRelease(RegionLayout.PAYLOAD_STATE, base << 1 | 1);
            view.own.setRelease(RegionLayout.SYNC, base << 8);
            view.own.setRelease(RegionLayout.AGREE, base << 8);
            view.newGeneration();
            view.board.publish(agreed, view.mask);
            view.mask.unmaskApplied();
            doneWord = agreed << 1 | 1;
            view.own.setRelease(RegionLayout.RENDEZVOUS, doneWord);
            await(participants, confirmed, timeoutNanos);
            view.generation = agreed;
        } finally {
            view.inRendezvous = false;
        }
        admitted(participants);
    }

    private void await(boolean[] participants, Waiter.PeerCondition condition, long timeoutNanos) {
        for (int p = 0; p < view.ranks; p++) {
            view.pending[p] = participants[p] && p != view.self && !view.mask.isMasked(p);
        }
        view.waiter.awaitAll(view.pending, view.met, condition, Phase.CLEAN, null, timeoutNanos);
        for (int p = 0; p < view.ranks; p++) {
            if (p != view.self && participants[p] && !view.met[p]) {
                participants[p] = false;
            }
        }
    }

    private boolean allPropose(boolean[] participants, long generation) {
        for (int p = 0; p < view.ranks; p++) {
            if (p != view.self
                    && participants[p]
                    && !view.mask.isMasked(p)
                    && view.stateOf(p, RegionLayout.RENDEZVOUS) >>> 1 != generation) {
                return false;
            }
        }
        return true;
    }

    /** After the rendezvous: this rank is back unless a participant still masks it; adopts the others' entries. */
    private void admitted(boolean[] participants) {
        if (!view.elastic) {
            return;
        }
        for (int p = 0; p < view.ranks; p++) {
            if (p != view.self && participants[p] && view.board.masks(p, view.self, view.generation)) {
                view.expel(Phase.CLEAN);
            }
        }
        view.readmitted();
        view.gossip(Phase.CLEAN);
    }

    // ------------------------------------------------------------------------------------------------ readmit

    /** Survivor side: publishes the intent to readmit {@code rank} and clears it from the local view. */
    void publishIntent(int rank) {
        view.mask.unmaskLocally(rank);
        view.own.setRelease(RegionLayout.READMIT, rank + 1L);
    }

    /** Clears the intent. */
    void clearIntent() {
        view.own.setRelease(RegionLayout.READMIT, 0);
    }

    /**
     * Returning side: asks to come back, waits (up to {@code timeoutNanos} of wall time) until some peer announces it
     * readmits this rank, then adopts that peer's published mask with this rank active. Returns false if nobody did.
     */
    boolean adoptMaskOfReadmittingPeer(long timeoutNanos) {
        view.own.setRelease(RegionLayout.READMIT_REQUEST, view.generation << 1 | 1);
        long start = System.nanoTime();
        long[] words = new long[view.board.words()];
        try {
            for (int pass = 0; ; pass++) {
                for (int p = 0; p < view.ranks; p++) {
                    if (p != view.self
                            && view.stateOf(p, RegionLayout.READMIT) == view.self + 1L
                            && view.board.read(p, view.board.generationOf(p), words)) {
                        view.mask.replaceWith(words);
                        return true;
                    }
                }
                if (System.nanoTime() - start > timeoutNanos) {
                    return false;
                }
                view.waiter.backOff(pass, System.nanoTime() - start);
            }
        } finally {
            view.own.setRelease(RegionLayout.READMIT_REQUEST, 0);
        }
    }

    /** The ranks this rank masks that are waiting to be readmitted (they asked in {@code readmit(self)}). */
    int[] requests() {
        int count = 0;
        boolean[] asking = new boolean[view.ranks];
        for (int p = 0; p < view.ranks; p++) {
            if (p != view.self && view.mask.isMasked(p) && (view.stateOf(p, RegionLayout.READMIT_REQUEST) & 1) != 0) {
                asking[p] = true;
                count++;
            }
        }
        return MaskState.ranksOf(asking, count);
    }
}
