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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.KernelAbi;
import io.tokenroute.device.KernelImage;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.cuda.CudaRankLayout.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The device layout's sections are aligned, disjoint and large enough; the descriptor holds every field at its word;
 * and everything this package shares with the kernels agrees with the ABI the kernel build wrote (the check that also
 * runs when a layout is first made), which reports any disagreement by name with both values.
 */
class CudaRankLayoutTest {

    private record Section(String name, long offset, long bytes) {}

    @Test
    void sectionsAreAlignedDisjointAndSized() {
        for (int[] s : new int[][] {{8, 256, 8, 7168, 128}, {2, 2, 2, 100, 5}, {4, 16, 6, 384, 32}, {1, 4, 2, 64, 1}}) {
            BufferConfig c = BufferConfig.builder()
                    .ranks(s[0])
                    .experts(s[1])
                    .maxTopK(s[2])
                    .hidden(s[3])
                    .maxTokensPerRank(s[4])
                    .collectiveBytes(1000)
                    .build();
            CudaRankLayout l = new CudaRankLayout(c);
            long entries = (long) s[4] * s[2];
            long recvRows = (long) l.localExperts * l.recvCapacity;
            List<Section> sections = new ArrayList<>(List.of(
                    new Section("ctrl", l.offCtrl, CudaRankLayout.CTRL_BYTES),
                    new Section("stage", l.offStage, 2 * l.stageStride),
                    new Section("layout", l.offLayout, 8L * l.localExperts * l.ranks),
                    new Section("combRows", l.offCombRows, 2L * l.hidden * recvRows),
                    new Section("payload", l.offPayload, 2 * l.payloadStride),
                    new Section("state", l.offState, CudaRankLayout.STATE_BYTES),
                    new Section("mask", l.offMask, 4L * l.ranks),
                    new Section("met", l.offMet, 4L * l.ranks),
                    new Section("cmet", l.offCmet, 4L * l.ranks),
                    new Section("sent", l.offSent, 4L * l.experts),
                    new Section("valid", l.offValid, 4L * l.experts),
                    new Section("rowBase", l.offRowBase, 4L * (l.localExperts + 1)),
                    new Section("recvCount", l.offRecvCount, 4L * l.localExperts),
                    new Section("cumRecv", l.offCumRecv, 8L * l.localExperts),
                    new Section("dwait", l.offDwait, 8L * l.ranks),
                    new Section("cwait", l.offCwait, 8L * l.ranks),
                    new Section("srcBegin", l.offSrcBegin, 4L * l.localExperts * l.ranks),
                    new Section("trace", l.offTrace, 16L * CudaRankLayout.TRACE_PHASES),
                    new Section("routed", l.offRouted, 4 * entries),
                    new Section("position", l.offPosition, 4 * entries),
                    new Section("bitmap", l.offBitmap, 4L * l.experts * l.bitmapWords),
                    new Section("recvX", l.offRecvX, 2L * l.hidden * recvRows),
                    new Section("recvScales", l.offRecvScales, 4L * l.scaleGroups * recvRows),
                    new Section("srcRank", l.offSrcRank, 4 * recvRows),
                    new Section("srcToken", l.offSrcToken, 4 * recvRows),
                    new Section("out", l.offOut, 2L * l.hidden * l.maxTokens),
                    new Section("lost", l.offLost, 4L * l.maxTokens),
                    new Section("gatherIn", l.offGatherIn, 8L + l.collectiveBytes),
                    new Section("gatherOut", l.offGatherOut, (8L + l.collectiveBytes) * l.ranks),
                    new Section("inputX", l.offInputX, 4L * l.hidden * l.maxTokens),
                    new Section("inputIdx", l.offInputIdx, 8 * entries),
                    new Section("inputW", l.offInputW, 4 * entries),
                    new Section("desc", l.offDesc, 8L * CudaRankLayout.DESCRIPTOR_WORDS),
                    new Section("peers", l.offPeers, 8L * l.ranks)));
            sections.sort(Comparator.comparingLong(Section::offset));
            long end = 0;
            for (Section x : sections) {
                assertEquals(0, x.offset % 256, x.name + " is 256-byte aligned");
                assertTrue(x.offset >= end, x.name + " overlaps the section before it");
                end = x.offset + x.bytes;
            }
            assertTrue(end <= l.bytes, "sections fit in the allocation");
            assertTrue(l.stBf16 + 2L * l.maxTokens * l.hidden <= l.stFp8, "staging bf16 rows fit");
            assertTrue(l.stScales + 4L * l.maxTokens * l.scaleGroups <= l.stageStride, "staging scales fit");
            assertTrue(l.offState < l.offMask && l.offCwait < l.zeroEnd, "zeroed block covers the control words");
        }
    }

    @Test
    void theDescriptorHoldsEveryFieldAtItsWordAndZeroInTheSpareWords() {
        Random random = new Random(20);
        for (int[] s : new int[][] {{8, 256, 8, 7168, 128}, {3, 9, 2, 100, 5}, {1, 4, 2, 64, 1}}) {
            BufferConfig c = BufferConfig.builder()
                    .ranks(s[0])
                    .experts(s[1])
                    .maxTopK(s[2])
                    .hidden(s[3])
                    .maxTokensPerRank(s[4])
                    .collectiveBytes(1 + random.nextInt(4096))
                    .build();
            CudaRankLayout l = new CudaRankLayout(c);
            int rank = random.nextInt(s[0]);
            long base = (1L + random.nextInt(1 << 20)) << 12;
            long report = (1L + random.nextInt(1 << 20)) << 6;
            long[] d = l.descriptor(rank, false, base, report);
            assertEquals(CudaRankLayout.DESCRIPTOR_WORDS, d.length);
            assertEquals(56, CudaRankLayout.FIELDS);
            // Independent of Field.word: the kernels' word order, spelled out.
            long[] expected = {
                rank,
                l.ranks,
                l.experts,
                l.localExperts,
                l.maxTokens,
                l.hidden,
                l.maxTopK,
                0,
                l.collectiveBytes,
                l.bitmapWords,
                base,
                base + l.offPeers,
                report,
                l.offCtrl,
                l.offStage,
                l.stageStride,
                l.stFormat,
                l.stCsr,
                l.stTokens,
                l.stBf16,
                l.stFp8,
                l.stScales,
                l.offLayout,
                l.offCombRows,
                l.offPayload,
                l.payloadStride,
                l.offState,
                l.offMask,
                l.offMet,
                l.offCmet,
                l.offRouted,
                l.offPosition,
                l.offBitmap,
                l.offSent,
                l.offValid,
                l.offRowBase,
                l.offCumRecv,
                l.offDwait,
                l.offCwait,
                l.offRecvX,
                l.offRecvScales,
                l.offSrcRank,
                l.offSrcToken,
                l.offRecvCount,
                l.offOut,
                l.offLost,
                l.offGatherIn,
                l.offGatherOut,
                l.offInputX,
                l.offInputIdx,
                l.offInputW,
                l.recvCapacity,
                l.scaleGroups,
                l.offSrcBegin,
                l.offTrace,
                0, // no prefill sections: CudaPrefillLayoutTest checks the word with them
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0
            };
            assertEquals(Arrays.toString(expected), Arrays.toString(d));
            assertEquals(1, l.descriptor(rank, true, base, report)[Field.ELASTIC.word]);
        }
        Set<Integer> words = new HashSet<>();
        for (Field f : Field.values()) {
            assertTrue(words.add(f.word), f + " shares a word");
        }
        assertEquals("off_src_begin", Field.OFF_SRC_BEGIN.cName());
    }

    @Test
    void thisPackageAgreesWithTheKernelsAbi() {
        KernelAbi abi = bundledAbi();
        assertDoesNotThrow(() -> CudaRankLayout.checkKernelAbi(abi));
        assertEquals(8L * Field.HIDDEN.word, abi.value("descriptor.hidden"));
        assertEquals(Phase.ALL_GATHER.code(), abi.value("phase.ALL_GATHER"));
    }

    @Test
    void aDisagreementWithTheKernelsIsNamedWithBothValues() {
        Properties altered = bundledAbi().toProperties();
        altered.setProperty("descriptor.hidden", "48");
        altered.setProperty("state.bytes", "264");
        altered.setProperty("batch.send.n", "1540");
        altered.setProperty("format.FP8_UE8M0", "5");
        altered.setProperty("config.TR_EP_BATCH_RANKS", "32");
        altered.remove("phase.AGREE");
        altered.setProperty("phase.DRAIN", "9");
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> CudaRankLayout.checkKernelAbi(KernelAbi.of("altered.properties", altered)));
        String text = e.getMessage();
        assertTrue(text.contains("7 entries"), text);
        assertTrue(text.contains("descriptor.hidden: kernels 48, Java 40 (CudaRankLayout.Field)"), text);
        assertTrue(text.contains("state.bytes: kernels need 264, Java has only 256"), text);
        assertTrue(text.contains("batch.send.n: kernels 1540, Java 1536 (CudaLaunches.SEND_N)"), text);
        assertTrue(text.contains("format.FP8_UE8M0: kernels 5, Java 7 (DispatchOptions.formatCode())"), text);
        assertTrue(text.contains("config.TR_EP_BATCH_RANKS: kernels 32, Java 64 (CudaLaunches.BATCH)"), text);
        assertTrue(text.contains("phase.AGREE: absent from the kernels' ABI, Java 8 (Phase.code())"), text);
        assertTrue(text.contains("phase.DRAIN: kernels 9, absent from Java"), text);
    }

    @Test
    void phasesHaveFixedDistinctCodesMappedBackByLookup() {
        Set<Integer> codes = new HashSet<>();
        for (Phase phase : Phase.values()) {
            assertTrue(codes.add(phase.code()), phase + " reuses a code");
            assertEquals(Optional.of(phase), Phase.ofCode(phase.code()));
        }
        // The codes the kernels report (TR_EP_PHASE_*): fixed whatever the enum's declaration order.
        assertEquals(2, Phase.DISPATCH_RECV.code());
        assertEquals(4, Phase.COMBINE_RECV.code());
        assertEquals(5, Phase.CLEAN.code());
        assertEquals(6, Phase.BARRIER.code());
        assertEquals(7, Phase.ALL_GATHER.code());
        assertEquals(8, Phase.AGREE.code());
        assertEquals(Optional.empty(), Phase.ofCode(-1));
        assertEquals(Optional.empty(), Phase.ofCode(Phase.values().length));
    }

    @Test
    void formatCodesAreTheWireBits() {
        assertEquals(0, DispatchOptions.BF16.formatCode());
        assertEquals(1, DispatchOptions.FP8.formatCode());
        assertEquals(3, DispatchOptions.FP8_ROUND_SCALE.formatCode());
        assertEquals(7, DispatchOptions.FP8_UE8M0.formatCode());
        assertEquals(1, new DispatchOptions(true, false, false, false).formatCode(), "stats is not part of the code");
    }

    private static KernelAbi bundledAbi() {
        assumeTrue(
                KernelAbi.isBundled(),
                "no kernel ABI: the build did not compile the kernels ("
                        + KernelImage.buildInfo().getProperty("reason", "no kernels.properties") + ")");
        return KernelAbi.bundled();
    }
}
