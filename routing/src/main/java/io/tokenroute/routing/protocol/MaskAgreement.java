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
 * agreeMask(): a confirmed agreement of every live rank on one mask (docs/contract.md §3, "one agreed view").
 *
 * <p>Each rank's mask is always published ({@link MaskBoard}) and gossiped, so views converge on their own; the
 * agreement adds the confirmation. In round {@code i} a rank publishes {@code AGREE = seq, i, undecided} and waits for
 * every active peer to reach round {@code i} (or to have decided, or moved on). If its view did not change meanwhile
 * and every active peer published the same mask, it <em>decides</em>: it publishes {@code decided} and waits until
 * every active peer has decided with that same mask (or moved on past the agreement). Any change of its view in between
 * (a timeout, an entry adopted from a peer) sends it back to a new round. A rank leaves only after it saw every active
 * peer decided with its own mask; from then on nobody can change it (every peer's wait is satisfied by state that stays
 * published), so all live ranks return the same mask. Masks only grow, so this ends after at most a few rounds per
 * entry.
 *
 * <p>A rank that learns in the agreement that its peers masked it returns the agreed view with its own entry 1 (it
 * must be readmitted) instead of throwing.
 */
final class MaskAgreement {
    private static final long DECIDED = 1;

    /**
     * The agreement's waits suspect a silent peer after this many timeouts: they follow a data call by microseconds,
     * and a peer slow to come in is far more often late than dead (a dead one was usually found in the data call
     * already). Fewer timeouts inside the agreement means fewer masks on its boundary, where some peers may have
     * decided before a late mask.
     */
    private static final long PATIENCE = 2;

    private final GroupView view;
    private final Collectives collectives;
    private long seq;
    private long dataSeq;
    private long round;
    private final Waiter.PeerCondition reachedRound;
    private final Waiter.PeerCondition settled;

    MaskAgreement(GroupView view, Collectives collectives) {
        this.view = view;
        this.collectives = collectives;
        this.reachedRound = p -> {
            long a = view.stateOf(p, RegionLayout.AGREE);
            long at = a >>> 8;
            return at > seq
                    || movedOn(p)
                    || at == seq && (((a >>> 1) & 0x7f) >= Math.min(round, 0x7f) || (a & DECIDED) != 0);
        };
        this.settled = p -> {
            long a = view.stateOf(p, RegionLayout.AGREE);
            return (a >>> 8) > seq
                    || movedOn(p)
                    || (a >>> 8) == seq && (a & DECIDED) != 0 && view.publishedEqualsOwn(p);
        };
    }

    /**
     * A peer that left this agreement: it started a later collective, or a later dispatch. It decided (it saw every
     * active peer decided with its mask), and any entry it lacks now it adopts at its next call.
     */
    private boolean movedOn(int p) {
        return Collective.sequenceOf(view.stateOf(p, RegionLayout.SYNC)) > seq
                || view.stateOf(p, RegionLayout.DISPATCH_STATE) >>> 1 > dataSeq;
    }

    /** Every active peer that is still in this agreement published exactly this rank's mask. */
    private boolean othersAgree() {
        for (int p = 0; p < view.ranks; p++) {
            if (p != view.self && !view.mask.isMasked(p) && !movedOn(p) && !view.publishedEqualsOwn(p)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Runs the agreement.
     *
     * @return the agreed mask, 1 = masked; this rank's own entry is 1 if its peers masked it
     */
    int[] agree() {
        try {
            view.beginCall(Phase.AGREE);
            seq = view.syncSeq + 1;
            dataSeq = view.seq;
            round = 0;
            publish(false);
            collectives.arrive(Collective.AGREE, Phase.AGREE);
            collectives.awaitArrivals(Collective.AGREE, seq, Phase.AGREE);
            long patience = PATIENCE * view.waiter.timeoutNanos();
            for (round = 0; round < maxRounds(); round++) {
                int version = view.mask.version();
                publish(false);
                view.awaitActive(reachedRound, Phase.AGREE, patience);
                if (view.mask.version() != version || !othersAgree()) {
                    continue;
                }
                publish(true);
                view.awaitActive(settled, Phase.AGREE, patience);
                if (view.mask.version() == version && othersAgree()) {
                    break;
                }
            }
            // Past maxRounds (views changing all along, which takes a new mask entry per round or two) the view is
            // returned as it stands: the next call's gossip and the next agreement settle it.
            return view.mask.snapshot();
        } catch (RankMaskedException e) {
            int[] out = view.mask.snapshot();
            out[view.self] = 1;
            return out;
        }
    }

    /** Every round either settles or follows a change; masks only grow, so this is generous. */
    private int maxRounds() {
        return 4 * view.ranks + 16;
    }

    private void publish(boolean decided) {
        view.own.setRelease(RegionLayout.AGREE, seq << 8 | Math.min(round, 0x7f) << 1 | (decided ? DECIDED : 0));
    }
}
