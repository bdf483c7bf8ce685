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

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.KernelAbi;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.protocol.RegionLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/**
 * The prefill sections of a rank's device allocation: aligned, disjoint, after the low-latency ones and inside the
 * allocation; queue entries of the host transports' sizes; the descriptor's words in the kernels' order; and the
 * prefill ABI (descriptor, launch struct, codes) in agreement with what the kernel build wrote.
 */
class CudaPrefillLayoutTest {

    private record Section(String name, long offset, long bytes) {}

    private static BufferConfig config(int[] s) {
        return BufferConfig.builder()
                .ranks(s[0])
                .experts(s[1])
                .maxTopK(s[2])
                .hidden(s[3])
                .maxTokensPerRank(s[4])
                .prefillMaxTokensPerRank(s[5])
                .prefillChunkRows(s[6])
                .prefillChunks(s[7])
                .collectiveBytes(1000)
                .build();
    }

    // ranks, experts, k, hidden, T, Tp, chunk rows, chunks
    private static final int[][] SHAPES = {
        {8, 256, 8, 7168, 128, 4096, 64, 4},
        {2, 2, 2, 100, 5, 33, 1, 1},
        {4, 16, 6, 384, 32, 48, 4, 3},
        {1, 4, 2, 64, 1, 20, 4, 2},
        {40, 80, 3, 32, 4, 17, 16, 4}
    };

    @Test
    void sectionsAreAlignedDisjointAndInsideTheAllocation() {
        for (int[] s : SHAPES) {
            CudaRankLayout rank = new CudaRankLayout(config(s));
            CudaPrefillLayout l = rank.prefill;
            long tokens = s[5];
            int slots = Math.min(s[2], s[0]);
            long queue = (long) s[0] * s[7] * s[6];
            List<Section> sections = new ArrayList<>(List.of(
                    new Section("notify", l.offNotify, 8),
                    new Section("counts", l.offCounts, 8L * s[0]),
                    new Section("progress", l.offProgress, 8L * CudaPrefillLayout.PROGRESS_KINDS * s[0]),
                    new Section("queues", l.offQueues, queue * l.entryBytes),
                    new Section("backQueues", l.offBackQueues, queue * l.backEntryBytes),
                    new Section("descriptor", l.offDescriptor, 8L * CudaPrefillLayout.DESCRIPTOR_WORDS),
                    new Section("state", l.offState, CudaPrefillLayout.STATE_BYTES),
                    new Section("alive", l.offAlive, 4L * s[0]),
                    new Section("kept", l.offKept, 4L * s[0]),
                    new Section("recvFrom", l.offRecvFrom, 4L * s[0]),
                    new Section("recvBegin", l.offRecvBegin, 4L * (s[0] + 1)),
                    new Section("destCount", l.offDestCount, 4L * s[0]),
                    new Section("destStart", l.offDestStart, 4L * (s[0] + 1)),
                    new Section("backTo", l.offBackTo, 4L * s[0]),
                    new Section("backGot", l.offBackGot, 4L * s[0]),
                    new Section("inRank", l.offInRank, 4L * tokens * ((s[0] + 31) / 32)),
                    new Section("destTokens", l.offDestTokens, 4L * tokens * slots),
                    new Section("tokPos", l.offTokPos, 4L * tokens * slots),
                    new Section("routed", l.offRouted, 4L * tokens * s[2]),
                    new Section("inputX", l.offInputX, 4L * tokens * s[3]),
                    new Section("inputIdx", l.offInputIdx, 8L * tokens * s[2]),
                    new Section("inputW", l.offInputW, 4L * tokens * s[2]),
                    new Section("out", l.offOut, 2L * tokens * s[3]),
                    new Section("lost", l.offLost, 4L * tokens),
                    new Section("summary", l.offSummary, 4L * (8 + 3 * s[0] + 2 * (s[1] / s[0]) + 1))));
            sections.sort(Comparator.comparingLong(Section::offset));
            long end = rank.offPeers + 8L * s[0];
            for (Section x : sections) {
                assertEquals(0, x.offset % 256, x.name + " is 256-byte aligned");
                assertTrue(x.offset >= end, x.name + " overlaps the section before it");
                end = x.offset + x.bytes;
            }
            assertTrue(end <= rank.bytes, "prefill sections fit in the allocation");
            assertEquals(l.end, rank.bytes, "the allocation ends with the prefill sections");
            assertEquals(0, l.entryBytes % 16, "queue entries keep rows 16-byte aligned");
            assertEquals(0, l.entryRow % 16);
            assertEquals(0, l.backEntryBytes % 16);
            assertEquals(l.summaryInts, 8 + 3 * s[0] + 2 * (s[1] / s[0]) + 1);
        }
    }

    @Test
    void queueEntriesHaveTheHostTransportsSizes() {
        for (int[] s : SHAPES) {
            BufferConfig c = config(s);
            CudaPrefillLayout l = new CudaRankLayout(c).prefill;
            RegionLayout host = new RegionLayout(c);
            assertEquals(host.prefillEntryBytes(), l.entryBytes, "dispatch entry");
            assertEquals(host.prefillEntryRow(), l.entryRow, "row offset in a dispatch entry");
            assertEquals(
                    host.prefillBackEntry(0, 0, 1) - host.prefillBackEntry(0, 0, 0), l.backEntryBytes, "back entry");
            assertEquals(RegionLayout.prefillBackEntryRow(), CudaPrefillLayout.BACK_ROW, "partial row offset");
            long hostQueues = host.prefillBackEntry(s[0], 0, 0) - host.prefillEntry(0, 0, 0);
            assertTrue(hostQueues >= l.queueBytes() && hostQueues - l.queueBytes() < 64, "same queue bytes");
        }
    }

    @Test
    void withoutThePrefillModeThereAreNoPrefillSections() {
        BufferConfig c = BufferConfig.builder()
                .ranks(2)
                .experts(4)
                .maxTopK(2)
                .hidden(64)
                .maxTokensPerRank(8)
                .build();
        CudaRankLayout l = new CudaRankLayout(c);
        assertNull(l.prefill);
        assertEquals(0, l.descriptor(0, true, 1 << 20, 1 << 12)[CudaRankLayout.Field.OFF_PREFILL.word]);
    }

    @Test
    void theDescriptorsHoldEveryFieldAtItsWord() {
        int[] s = SHAPES[2];
        CudaRankLayout rank = new CudaRankLayout(config(s));
        CudaPrefillLayout l = rank.prefill;
        assertEquals(
                l.offDescriptor, rank.descriptor(1, true, 1 << 20, 1 << 12)[CudaRankLayout.Field.OFF_PREFILL.word]);
        // Independent of Field.word: struct TrPf's order, spelled out.
        long[] expected = {
            s[5],
            s[6],
            s[7],
            l.entryBytes,
            l.entryRow,
            l.backEntryBytes,
            1,
            Math.min(s[2], s[0]),
            l.offNotify,
            l.offCounts,
            l.offProgress,
            l.offQueues,
            l.offBackQueues,
            l.offState,
            l.offAlive,
            l.offKept,
            l.offRecvFrom,
            l.offRecvBegin,
            l.offDestCount,
            l.offDestStart,
            l.offBackTo,
            l.offBackGot,
            l.offInRank,
            l.offDestTokens,
            l.offTokPos,
            l.offRouted,
            l.offInputX,
            l.offInputIdx,
            l.offInputW,
            l.offOut,
            l.offLost,
            l.offSummary
        };
        assertEquals(Arrays.toString(expected), Arrays.toString(l.descriptor()));
        assertEquals("off_back_queues", CudaPrefillLayout.Field.OFF_BACK_QUEUES.cName());
    }

    @Test
    void launchArgumentsAreContiguousAndInsideTheStruct() {
        long end = 0;
        for (CudaPrefillLaunches.Arg a : CudaPrefillLaunches.Arg.values()) {
            assertEquals(0, a.offset % a.bytes, a + " is aligned");
            assertTrue(a.offset >= end, a + " overlaps the field before it");
            end = a.offset + a.bytes;
        }
        assertTrue(end <= CudaPrefillLaunches.ARGS_BYTES);
        assertEquals(1, CudaPrefillLaunches.rowGrid(0, 8, 100), "an empty round still launches one block");
        assertEquals(4, CudaPrefillLaunches.rowGrid(32, 8, 100));
        assertEquals(5, CudaPrefillLaunches.rowGrid(33, 8, 100));
        assertEquals(3, CudaPrefillLaunches.rowGrid(1000, 8, 3), "capped at the rank's share of a wave");
    }

    @Test
    void thisPackageAgreesWithTheKernelsPrefillAbi() {
        KernelAbi abi = bundledAbi();
        assertDoesNotThrow(() -> CudaPrefillLayout.checkKernelAbi(abi));
        assertEquals(8L * CudaPrefillLayout.Field.OFF_SUMMARY.word(), abi.value("prefill.off_summary"));
        assertEquals(CudaPrefillLaunches.Arg.ROWS.offset, abi.value("prefill_args.rows"));
    }

    @Test
    void aPrefillDisagreementIsNamedWithBothValues() {
        Properties altered = bundledAbi().toProperties();
        altered.setProperty("prefill.off_queues", "96");
        altered.setProperty("prefill_args.step", "112");
        altered.setProperty("prefill_wait.COMBINE_TAIL", "7");
        altered.setProperty("prefill.off_extra", "256");
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> CudaPrefillLayout.checkKernelAbi(KernelAbi.of("altered.properties", altered)));
        String text = e.getMessage();
        assertTrue(text.contains("prefill.off_queues: kernels 96, Java 88 (CudaPrefillLayout.Field)"), text);
        assertTrue(text.contains("prefill_args.step: kernels 112, Java 104 (CudaPrefillLaunches.Arg)"), text);
        assertTrue(text.contains("prefill_wait.COMBINE_TAIL: kernels 7, Java 3"), text);
        assertTrue(text.contains("prefill.off_extra: kernels 256, absent from Java"), text);
    }

    private static KernelAbi bundledAbi() {
        assumeTrue(KernelAbi.isBundled(), "the kernels were not compiled in this build (no nvcc)");
        return KernelAbi.bundled();
    }
}
