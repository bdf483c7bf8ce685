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
package io.tokenroute.routing.cuda;

import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import java.util.Arrays;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * What the host reads and writes in one rank's device memory besides the kernels' calls, on a stream of its own so
 * that it never waits behind a wait kernel spinning on the rank's stream: the mask (a masked entry reaches such a
 * wait at once; an unmasked one waits for the next cleanBuffer), the stats counters, the BEAT word of
 * {@link io.tokenroute.routing.ElasticBuffer#heartbeat()} and the host copy of a device batch's {@code topk_idx}.
 * Thread-safe: the mask calls may come from any thread.
 */
final class CudaRankControl implements AutoCloseable {
    /** Control word BEAT ({@code TR_EP_BEAT}): the rank's sign of life, watched by its peers' waits. */
    private static final int BEAT_WORD = 4;

    private final CudaRankEngine rank;
    private final CudaRankLayout layout;
    private final CudaStream side;
    /** Pinned scratch words for the small writes. */
    private final long scratch;
    /** Peers unmasked with updateMask/clearMask whose entries the next cleanBuffer clears. */
    private final boolean[] unmaskAtClean;

    private volatile boolean unmaskPending;

    CudaRankControl(CudaRankEngine rank, long pinnedScratch) {
        this.rank = rank;
        this.layout = rank.layout;
        this.scratch = pinnedScratch;
        this.unmaskAtClean = new boolean[layout.ranks];
        this.side = CudaStream.create(CudaStream.NON_BLOCKING);
    }

    /** Whether an unmask waits for a cleanBuffer (until then the rank's work is refused). */
    boolean unmaskPending() {
        return unmaskPending;
    }

    /** The cleanBuffer that applied the unmasks succeeded. */
    void applied() {
        unmaskPending = false;
    }

    /** This rank's mask as its kernels use it, 1 = masked, with the entries waiting for cleanBuffer shown as 0. */
    synchronized int[] viewMask() {
        int[] mask = readMask();
        for (int p = 0; p < mask.length; p++) {
            if (unmaskAtClean[p]) {
                mask[p] = 0;
            }
        }
        return mask;
    }

    /** Masks {@code peer} at once: a wait on it that is spinning on the rank's stream gives up on it. */
    synchronized void mask(int peer) {
        unmaskAtClean[peer] = false;
        writeMaskEntry(peer, 1);
    }

    /**
     * Unmasks {@code peer} at the next cleanBuffer: its sequence numbers are no longer the group's, so it must join a
     * rendezvous first.
     */
    synchronized void unmaskAtClean(int peer) {
        if (readMask()[peer] != 0) {
            unmaskAtClean[peer] = true;
            unmaskPending = true;
        }
    }

    /** {@link #unmaskAtClean} for every peer. */
    synchronized void unmaskAllAtClean() {
        int[] mask = readMask();
        for (int p = 0; p < mask.length; p++) {
            if (p != rank.id && mask[p] != 0) {
                unmaskAtClean[p] = true;
                unmaskPending = true;
            }
        }
    }

    /** Writes the entries cleared for the rendezvous, right before it is launched (it then waits for those peers). */
    synchronized void applyUnmasks() {
        for (int p = 0; p < unmaskAtClean.length; p++) {
            if (unmaskAtClean[p]) {
                writeMaskEntry(p, 0);
                unmaskAtClean[p] = false;
            }
        }
    }

    /** Replaces the whole mask now (a returning rank adopting a survivor's, right before their rendezvous). */
    synchronized void replaceMask(int[] mask) {
        begin();
        Arrays.fill(unmaskAtClean, false);
        Memcpy.toDevice(rank.base + layout.offMask, mask, side);
        side.synchronize();
    }

    /**
     * The end of one agreement round: the union of the gathered masks ({@link #bits} of each rank's, null for ranks
     * that did not take part) and of this rank's own after the round; every peer in it is masked here.
     *
     * @return the union, 1 = masked; its entry for this rank is 1 if some peer masks this rank
     */
    synchronized int[] adoptUnion(byte[][] gathered) {
        int[] union = viewMask();
        for (byte[] view : gathered) {
            for (int p = 0; view != null && p < union.length && p / 8 < view.length; p++) {
                union[p] |= (view[p / 8] >> (p % 8)) & 1;
            }
        }
        for (int p = 0; p < union.length; p++) {
            if (union[p] != 0 && p != rank.id) {
                mask(p);
            }
        }
        return union;
    }

    /** A mask as bits ({@code ceil(R / 8)} bytes, rank p in bit p % 8 of byte p / 8), an agreement's payload. */
    static byte[] bits(int[] mask) {
        byte[] out = new byte[(mask.length + 7) / 8];
        for (int p = 0; p < mask.length; p++) {
            out[p / 8] |= (byte) ((mask[p] & 1) << (p % 8));
        }
        return out;
    }

    /** Unmasks every peer now (a returning rank, right before its rendezvous). */
    synchronized void unmaskAllNow() {
        replaceMask(new int[layout.ranks]);
    }

    /** {@code count} int64 counters at {@code offset} of the allocation (stats). */
    synchronized long[] readLongs(long offset, int count) {
        begin();
        long[] out = new long[count];
        Memcpy.toHost(out, rank.base + offset, side);
        return out;
    }

    /**
     * Changes the rank's BEAT word, the sign of life its peers' waits watch (they restart their clock when it changes):
     * what a wait kernel does while it polls, done from the host between calls.
     */
    synchronized void beat() {
        begin();
        MemoryUtil.putLong(scratch, System.nanoTime());
        Memcpy.hostToDevice(rank.base + layout.ctrl(BEAT_WORD), scratch, 8, side);
        side.synchronize();
    }

    /** Copies {@code bytes} of device memory to pinned host memory and waits (a device batch's ids, for the checks). */
    void copyToHost(long dstHost, long srcDevice, long bytes) {
        if (bytes > 0) {
            Memcpy.deviceToHost(dstHost, srcDevice, bytes, side);
            side.synchronize();
        }
    }

    private int[] readMask() {
        begin();
        int[] out = new int[layout.ranks];
        Memcpy.toHost(out, rank.base + layout.offMask, side);
        return out;
    }

    private void writeMaskEntry(int peer, int value) {
        begin();
        MemoryUtil.putInt(scratch, value);
        Memcpy.hostToDevice(rank.base + layout.offMask + 4L * peer, scratch, 4, side);
        side.synchronize();
    }

    /** Refuses once the buffer closed; makes the device current on the calling thread, which may be any thread. */
    private void begin() {
        rank.ensureOpen();
        rank.device.makeCurrent();
    }

    @Override
    public void close() {
        side.close();
    }
}
