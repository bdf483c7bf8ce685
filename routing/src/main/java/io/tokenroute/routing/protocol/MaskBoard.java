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

import io.tokenroute.routing.memory.RankRegion;
import java.lang.invoke.VarHandle;

/**
 * The masks every rank publishes in its own region ({@link RegionLayout#maskWord}), one bit per rank, under the
 * generation of the last rendezvous ({@link RegionLayout#MASK_GENERATION}). Within a generation a rank's published mask
 * only grows (bits are OR-ed in as its view gains them), so a reader that races a writer sees a subset, never garbage;
 * at a rendezvous the owner marks the generation odd, rewrites the words and publishes the new generation.
 *
 * <p>What peers publish is how ranks converge on one view (docs/contract.md §3, "one agreed view"): a rank adopts the
 * entries of its active peers' masks, and finds out that it was itself masked when an active peer's mask holds it.
 * Reads allocate nothing.
 */
public final class MaskBoard {
    private final RegionLayout layout;
    private final RankRegion[] regions;
    private final RankRegion own;
    private final int words;

    public MaskBoard(RegionLayout layout, RankRegion[] regions, int self) {
        this.layout = layout;
        this.regions = regions;
        this.own = regions[self];
        this.words = RegionLayout.maskWords(regions.length);
    }

    /** Sets {@code rank}'s bit in this rank's published mask (any thread). */
    void publishMasked(int rank) {
        own.orRelease(layout.maskWord(rank), 1L << (rank & 63));
    }

    /** Publishes {@code view} as this rank's whole mask for {@code generation} (the rank's own thread). */
    void publish(long generation, MaskState view) {
        own.announce(RegionLayout.MASK_GENERATION, generation << 1 | 1);
        for (int w = 0; w < words; w++) {
            long bits = 0;
            for (int r = w << 6; r < Math.min(regions.length, (w + 1) << 6); r++) {
                if (view.isMasked(r)) {
                    bits |= 1L << (r & 63);
                }
            }
            own.setRelease(layout.maskWord(w << 6), bits);
        }
        own.setRelease(RegionLayout.MASK_GENERATION, generation << 1);
    }

    /** The generation {@code peer}'s mask was published for, or -1 while the peer rewrites it. */
    public long generationOf(int peer) {
        long g = regions[peer].getAcquire(RegionLayout.MASK_GENERATION);
        return (g & 1) != 0 ? -1 : g >>> 1;
    }

    /** The generation {@code peer} published its mask for, or is publishing it for right now. */
    public long latestGenerationOf(int peer) {
        return regions[peer].getAcquire(RegionLayout.MASK_GENERATION) >>> 1;
    }

    /**
     * Whether {@code peer}'s mask, published for {@code generation}, holds {@code rank}. False when the peer published
     * another generation (a stale view from before a rendezvous, or one being rewritten).
     */
    public boolean masks(int peer, int rank, long generation) {
        if (generationOf(peer) != generation) {
            return false;
        }
        long bits = regions[peer].getAcquire(layout.maskWord(rank));
        VarHandle.acquireFence();
        return (bits & (1L << (rank & 63))) != 0 && generationOf(peer) == generation;
    }

    /** Word {@code w} of {@code peer}'s published mask (no generation check: callers check it around the read). */
    long word(int peer, int w) {
        return regions[peer].getAcquire(layout.maskWord(w << 6));
    }

    /** int64 words per mask. */
    int words() {
        return words;
    }

    /**
     * Copies {@code peer}'s published mask into {@code out} (length {@link #words()}) if it was published for
     * {@code generation}; returns false otherwise.
     */
    boolean read(int peer, long generation, long[] out) {
        if (generationOf(peer) != generation) {
            return false;
        }
        for (int w = 0; w < words; w++) {
            out[w] = word(peer, w);
        }
        VarHandle.acquireFence();
        return generationOf(peer) == generation;
    }
}
