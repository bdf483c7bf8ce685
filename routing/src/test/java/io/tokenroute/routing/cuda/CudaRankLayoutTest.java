package io.tokenroute.routing.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.BufferConfig;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The device layout's sections are aligned, disjoint and large enough; the descriptor has the kernels' word count. */
class CudaRankLayoutTest {

    private record Section(String name, long offset, long bytes) {
    }

    @Test
    void sectionsAreAlignedDisjointAndSized() {
        for (int[] s : new int[][] {{8, 256, 8, 7168, 128}, {2, 2, 2, 100, 5}, {4, 16, 6, 384, 32}, {1, 4, 2, 64, 1}}) {
            BufferConfig c = BufferConfig.builder().ranks(s[0]).experts(s[1]).maxTopK(s[2]).hidden(s[3])
                    .maxTokensPerRank(s[4]).collectiveBytes(1000).build();
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
            long[] d = l.descriptor(1, true, 0x1000_0000L, 0x2000L);
            assertEquals(CudaRankLayout.DESCRIPTOR_WORDS, d.length);
            assertEquals(l.offTrace, d[CudaRankLayout.FIELDS - 1], "last descriptor word (TR_EP_OFF_TRACE)");
            assertEquals(l.scaleGroups, d[52], "TR_EP_SCALE_GROUPS");
            assertEquals(l.offCtrl, d[13], "TR_EP_OFF_CTRL");
            assertEquals(l.offState, d[26], "TR_EP_OFF_STATE");
            assertEquals(l.recvCapacity, d[51], "TR_EP_RECV_CAPACITY");
        }
    }
}
