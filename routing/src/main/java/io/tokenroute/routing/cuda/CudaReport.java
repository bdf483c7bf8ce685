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

import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Reader of one rank's host report: pinned host memory the rank's kernels write (layout in {@link CudaRankLayout}) and
 * the host reads after the work that wrote it completed (or polls, for the fault word). Plain host memory: reading it
 * is a CPU load, never a device access.
 */
final class CudaReport {
    private final CudaRankLayout layout;
    private final long address;

    CudaReport(CudaRankLayout layout, long address) {
        this.layout = layout;
        this.address = address;
    }

    long address() {
        return address;
    }

    int word(int index) {
        return MemoryUtil.getInt(address + 4L * index);
    }

    /** Fault bits ({@link CudaRankLayout#FAULT_TIMEOUT}, ...) of the last call; polled without synchronisation. */
    int fault() {
        return word(CudaRankLayout.REPORT_FAULT);
    }

    int phase() {
        return word(CudaRankLayout.REPORT_PHASE);
    }

    int badIds() {
        return word(CudaRankLayout.REPORT_BAD);
    }

    /** The peer whose fp8 options differed, or -1. */
    int mismatchedPeer() {
        return word(CudaRankLayout.REPORT_MISMATCH) - 1;
    }

    int recvCount(int l) {
        return word(layout.reportRecvCount(l));
    }

    int layoutBegin(int l, int p) {
        return word(layout.reportLayoutBegin(l, p));
    }

    int layoutCount(int l, int p) {
        return word(layout.reportLayoutBegin(l, p) + 1);
    }

    boolean met(int p) {
        return word(layout.reportMet(p)) != 0;
    }

    boolean faultPeer(int p) {
        return word(layout.reportFaultPeer(p)) != 0;
    }

    /** Copies the newly-masked flags of a call kind ({@link CudaRankLayout#CALL_DISPATCH}, ...) into {@code out}. */
    int copyNewly(int kind, boolean[] out) {
        int count = 0;
        for (int p = 0; p < out.length; p++) {
            out[p] = word(layout.reportNewly(kind, p)) != 0;
            count += out[p] ? 1 : 0;
        }
        return count;
    }

    /** The peers that timed out (non-elastic faults), ascending. */
    int[] faultPeers() {
        int count = 0;
        for (int p = 0; p < layout.ranks; p++) {
            count += faultPeer(p) ? 1 : 0;
        }
        int[] out = new int[count];
        for (int p = 0, i = 0; p < layout.ranks; p++) {
            if (faultPeer(p)) {
                out[i++] = p;
            }
        }
        return out;
    }

    /** Zeroes the whole report (open, and before a rank is launched again after a stall ended). */
    void clear() {
        MemoryUtil.setMemory(address, 4L * layout.reportInts(), (byte) 0);
    }
}
