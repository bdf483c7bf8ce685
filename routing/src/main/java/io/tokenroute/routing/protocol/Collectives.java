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

import io.tokenroute.routing.CollectiveMismatchException;
import io.tokenroute.routing.Phase;
import java.lang.invoke.VarHandle;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * barrier() and allGather() over the group's regions. Each publishes its sync word ({@link Collective}) and waits for
 * every active peer to reach the same sequence; an allGather payload carries the sync word of the call that wrote it,
 * so a payload is used only by the same collective at the same sequence of the same generation.
 */
final class Collectives {
    private final GroupView view;
    private final RegionLayout layout;
    private long target;
    private final Waiter.PeerCondition arrived;

    Collectives(GroupView view) {
        this.view = view;
        this.layout = view.layout;
        this.arrived = p -> Collective.sequenceOf(view.stateOf(p, RegionLayout.SYNC)) >= target;
    }

    /** Starts collective {@code c}: the next sync sequence, published; returns it. */
    long arrive(Collective c, Phase phase) {
        long q = ++view.syncSeq;
        view.phase(phase, q);
        view.own.setRelease(RegionLayout.SYNC, c.word(q));
        return q;
    }

    /** Waits for every active peer to reach sequence {@code q}, then checks they called the same collective. */
    void awaitArrivals(Collective c, long q, Phase phase) {
        target = q;
        GroupView.WaitKind kind = switch (c) {
            case BARRIER -> GroupView.WaitKind.BARRIER;
            case ALL_GATHER -> GroupView.WaitKind.DATA;
            case AGREE -> GroupView.WaitKind.AGREEMENT;
        };
        view.awaitActive(arrived, phase, null, kind);
        checkSameCollective(c, q);
    }

    /**
     * Throws if a met peer sits at sequence {@code q} in another collective, or is two collectives ahead: it went
     * through
     * {@code q + 1} without this rank, so it masked this rank.
     */
    void checkSameCollective(Collective c, long q) {
        for (int p = 0; p < view.ranks; p++) {
            if (p == view.self || !view.met[p]) {
                continue;
            }
            long word = view.stateOf(p, RegionLayout.SYNC);
            if (Collective.sequenceOf(word) >= q + 2) {
                view.peerMovedOn(p, c == Collective.BARRIER ? Phase.BARRIER : Phase.ALL_GATHER);
            }
            if (Collective.sequenceOf(word) == q && Collective.of(word) != c) {
                Collective theirs = Collective.of(word);
                throw new CollectiveMismatchException(
                        view.self, c.call, p, theirs == null ? "no collective" : theirs.call, q);
            }
        }
    }

    /** Fault-tolerant barrier among active ranks. */
    void barrier() {
        view.beginCall(Phase.BARRIER);
        long q = arrive(Collective.BARRIER, Phase.BARRIER);
        awaitArrivals(Collective.BARRIER, q, Phase.BARRIER);
    }

    /**
     * Fault-tolerant all-gather: every active rank contributes {@code payload}; one entry per rank, null for masked
     * ranks.
     */
    byte[][] allGather(byte[] payload) {
        view.beginCall(Phase.ALL_GATHER);
        long q = view.syncSeq + 1;
        int slot = (int) (q & 1);
        long own = slotAddress(view.self, slot);
        view.own.announce(RegionLayout.PAYLOAD_STATE, q << 1);
        MemoryUtil.putLong(own, Collective.ALL_GATHER.word(q));
        MemoryUtil.putLong(own + 8, payload.length);
        MemoryUtil.copyToMemory(payload, 0, own + RegionLayout.PAYLOAD_HEADER_BYTES, payload.length);
        view.own.setRelease(RegionLayout.PAYLOAD_STATE, q << 1 | 1);
        arrive(Collective.ALL_GATHER, Phase.ALL_GATHER);
        awaitArrivals(Collective.ALL_GATHER, q, Phase.ALL_GATHER);
        byte[][] out = new byte[view.ranks][];
        long expected = Collective.ALL_GATHER.word(q);
        for (int p = 0; p < view.ranks; p++) {
            if (!view.met[p]) {
                continue;
            }
            long src = slotAddress(p, slot);
            long header = MemoryUtil.getLong(src);
            if (header != expected) {
                // The peer's slot holds another call's payload: it moved on past this allGather without this rank.
                view.peerMovedOn(p, Phase.ALL_GATHER);
            }
            long length = MemoryUtil.getLong(src + 8);
            if (length < 0 || length > view.config.collectiveBytes()) {
                throw new IllegalStateException("rank " + view.self + ": peer rank " + p + " published an allGather"
                        + " payload of " + length + " bytes (collectiveBytes = " + view.config.collectiveBytes() + ")");
            }
            out[p] = new byte[(int) length];
            MemoryUtil.copyFromMemory(src + RegionLayout.PAYLOAD_HEADER_BYTES, out[p], 0, (int) length);
        }
        VarHandle.acquireFence();
        for (int p = 0; p < view.ranks; p++) {
            // A peer that started rewriting this slot (for q + 2) moved on without this rank: its bytes may be torn.
            if (p != view.self && out[p] != null && view.stateOf(p, RegionLayout.PAYLOAD_STATE) >= (q + 2) << 1) {
                view.peerMovedOn(p, Phase.ALL_GATHER);
            }
        }
        return out;
    }

    private long slotAddress(int rank, int slot) {
        return view.regions[rank].address(layout.payloadSlot(slot));
    }
}
