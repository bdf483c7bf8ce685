package io.tokenroute.routing.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ArrowArrayView;
import io.tokenroute.arrow.cdata.DeviceArrayView;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.numeric.BFloat16;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.DeviceMemoryTracker;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.testkit.RankInput;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.Float16;
import org.apache.arrow.memory.util.MemoryUtil;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code cuda-local} transport on a real GPU against the plain-loop reference: dispatch bit for bit, combine bit
 * for bit (fp32 in top-k order, one rounding), every masking phase (a rank not launched at dispatch, not launched at
 * combine, stalled then masked, masked by the engine), non-elastic failure and recovery, collectives, bad input and
 * the C Device Data export. Skips with the reason where CUDA is unavailable.
 */
class CudaLocalGpuTest {
    private static CudaDevice device;
    private BufferAllocator allocator;

    @BeforeAll
    static void openDevice() {
        if (Cuda.isAvailable()) {
            device = CudaDevice.open(0);
        }
    }

    @AfterAll
    static void closeDevice() {
        if (device != null) {
            device.close();
            device = null;
        }
    }

    @BeforeEach
    void requireCuda() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        device.makeCurrent();
        allocator = new RootAllocator();
    }

    @AfterEach
    void noLeaks() {
        if (allocator != null) {
            allocator.close();
            allocator = null;
        }
        DeviceMemoryTracker.assertNoLeaks();
    }

    private static BufferConfig config(int ranks, int experts, int topK, int hidden, int maxTokens, boolean elastic,
            Duration timeout, HiddenDtype dtype) {
        return BufferConfig.builder().ranks(ranks).experts(experts).maxTopK(topK).hidden(hidden)
                .maxTokensPerRank(maxTokens).elastic(elastic).timeout(timeout).dtype(dtype).collectiveBytes(256)
                .build();
    }

    private static RankInput[] inputs(int ranks, long seed, int step, int maxTokens, int hidden, int topK,
            int experts) {
        RankInput[] in = new RankInput[ranks];
        for (int r = 0; r < ranks; r++) {
            in[r] = switch ((step + r) % 4) {
                case 0 -> RankInput.random(new Random(seed + 31L * step + r), 0, hidden, topK, experts);
                case 1 -> RankInput.random(new Random(seed + 31L * step + r), maxTokens, hidden, topK, experts);
                default -> RankInput.random(seed, step, r, maxTokens, hidden, topK, experts, true);
            };
        }
        return in;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                // ranks, experts, topK, hidden, maxTokens
                Arguments.of(2, 8, 4, 256, 24),
                Arguments.of(2, 2, 2, 100, 5),
                Arguments.of(4, 16, 6, 384, 32),
                Arguments.of(4, 4, 3, 32, 7),
                Arguments.of(8, 64, 8, 128, 40),
                Arguments.of(8, 8, 1, 16, 4));
    }

    @ParameterizedTest(name = "bf16 R={0} E={1} k={2} H={3} T={4}")
    @MethodSource("shapes")
    void bf16StepsMatchReference(int ranks, int experts, int topK, int hidden, int maxTokens) {
        BufferConfig c = config(ranks, experts, topK, hidden, maxTokens, true, Duration.ofSeconds(1),
                HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            for (int s = 0; s < 5; s++) {
                CudaStepChecker.Outcome out = CudaStepChecker.healthyStep(group, allocator,
                        inputs(ranks, 77L * ranks + hidden, s, maxTokens, hidden, topK, experts), DispatchOptions.BF16,
                        s % 2 == 0);
                for (int r = 0; r < ranks; r++) {
                    assertEquals(0, out.dispatchNewly()[r].length, "healthy dispatch masked nobody");
                    assertEquals(0, out.combineNewly()[r].length, "healthy combine masked nobody");
                }
            }
            for (int r = 0; r < ranks; r++) {
                assertArrayEquals(new int[ranks], group.queryMask(r), "no false masks");
            }
        }
    }

    static Stream<Arguments> fp8Options() {
        return Stream.of(Arguments.of(DispatchOptions.FP8), Arguments.of(DispatchOptions.FP8_ROUND_SCALE),
                Arguments.of(DispatchOptions.FP8_UE8M0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fp8Options")
    void fp8StepsMatchQuantiserBitForBit(DispatchOptions options) {
        for (int ranks : new int[] {2, 4, 8}) {
            BufferConfig c = config(ranks, 4 * ranks, 4, 256, 12, true, Duration.ofSeconds(1), HiddenDtype.BF16);
            try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
                for (int s = 0; s < 4; s++) {
                    CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 5L * ranks, s, 12, 256, 4, 4 * ranks),
                            options, s % 2 == 1);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} input")
    @MethodSource("inputDtypes")
    void fp16AndFp32InputsAreConvertedLikeJava(HiddenDtype dtype) {
        // The reference works on bf16 bits; fp32/fp16 inputs carrying exactly those values convert back to them.
        BufferConfig c = config(4, 8, 3, 128, 9, true, Duration.ofSeconds(1), dtype);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            for (DispatchOptions options : new DispatchOptions[] {DispatchOptions.BF16, DispatchOptions.FP8}) {
                RankInput[] in = inputs(4, 99, 2, 9, 128, 3, 8);
                List<TokenBatch> batches = new ArrayList<>();
                for (int r = 0; r < in.length; r++) {
                    RankInput input = in[r];
                    float[] x = new float[input.bits().length];
                    short[] expected = new short[x.length];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = Float.intBitsToFloat((input.bits()[i] & 0xFFFF) << 16);
                        // What the batch holds, widened and rounded to bf16 as the Java protocol does.
                        float held = dtype == HiddenDtype.FP16 ? Float16.toFloat(Float16.toFloat16(x[i])) : x[i];
                        expected[i] = BFloat16.fromFloat(held);
                    }
                    batches.add(TokenBatch.fromFloats(allocator, dtype, 128, x, 3, input.idx(), input.weights()));
                    in[r] = new RankInput(input.n(), input.hidden(), input.topK(), expected, input.idx(),
                            input.weights());
                }
                try {
                    group.poisonResults();
                    List<CudaDispatched> d = group.dispatch(batches, options);
                    boolean[] all = {true, true, true, true};
                    for (int r = 0; r < 4; r++) {
                        CudaStepChecker.checkDispatch(group, d.get(r), in, r, 2, options, all);
                    }
                } finally {
                    batches.forEach(TokenBatch::close);
                }
                group.cleanBuffer();
            }
        }
    }

    static Stream<Arguments> inputDtypes() {
        return Stream.of(Arguments.of(HiddenDtype.FP32), Arguments.of(HiddenDtype.FP16));
    }

    @Test
    void benchShapeMatchesReference() {
        // R = 8, T = 128, H = 7168, k = 8, E = 256: the shape the bench times.
        BufferConfig c = config(8, 256, 8, 7168, 128, true, Duration.ofSeconds(1), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            RankInput[] in = new RankInput[8];
            for (int r = 0; r < 8; r++) {
                in[r] = RankInput.random(new Random(4242 + r), 128, 7168, 8, 256);
            }
            CudaStepChecker.healthyStep(group, allocator, in, DispatchOptions.BF16, true);
            CudaStepChecker.healthyStep(group, allocator, in, DispatchOptions.FP8_UE8M0, false);
        }
    }

    @Test
    void deviceBatchesAreReadInPlaceAndExportedWithSyncEvent() {
        int ranks = 4;
        int hidden = 256;
        BufferConfig c = config(ranks, 16, 4, hidden, 16, true, Duration.ofSeconds(1), HiddenDtype.BF16);
        RankInput[] in = inputs(ranks, 1234, 2, 16, hidden, 4, 16);
        List<DeviceBuffer> memory = new ArrayList<>();
        List<TokenBatch> batches = new ArrayList<>();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            for (RankInput r : in) {
                batches.add(deviceBatch(r, memory));
            }
            group.poisonResults();
            List<CudaDispatched> d = group.dispatch(batches, DispatchOptions.BF16);
            boolean[] all = new boolean[ranks];
            Arrays.fill(all, true);
            List<List<short[]>> seen = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                seen.add(CudaStepChecker.checkDispatch(group, d.get(r), in, r, 4, DispatchOptions.BF16, all));
            }
            // C Device Data export: CUDA device type, this device, the ready event as sync event, zero-copy rows.
            CudaDispatched d0 = d.get(0);
            try (ExportedDeviceBatch export = d0.exportExpert(1, allocator)) {
                DeviceArrayView view = export.view();
                assertEquals(DeviceType.CUDA, view.deviceType());
                assertEquals(device.ordinal(), view.deviceId());
                assertEquals(d0.readyEvent().syncEventSlotAddress(), view.syncEvent());
                assertEquals(d0.recvCount(1), view.array().length());
                long hiddenColumn = MemoryUtil.getLong(view.array().childrenAddress());
                long items = MemoryUtil.getLong(ArrowArrayView.at(hiddenColumn).childrenAddress());
                long data = MemoryUtil.getLong(ArrowArrayView.at(items).buffersAddress() + 8);
                if (d0.recvCount(1) > 0) {
                    assertEquals(d0.rowsAddress(1), data, "exported rows are the receive buffer itself");
                }
            }
            for (int r = 0; r < ranks; r++) {
                for (int l = 0; l < 4; l++) {
                    short[] rows = CudaStepChecker.expertOutputs(r * 4 + l, seen.get(r).get(l));
                    Memcpy.toDevice(d.get(r).expertOutputAddress(l), rows, group.stream(r));
                }
            }
            List<CudaCombined> out = group.combine(batches);
            for (int r = 0; r < ranks; r++) {
                CudaStepChecker.checkCombine(out.get(r), in[r], 4, all, DispatchOptions.BF16);
            }
            try (ExportedDeviceBatch export = out.get(2).export(allocator)) {
                assertEquals(MemoryLocation.cuda(device.ordinal()), export.view().location());
                assertEquals(out.get(2).readyEvent().syncEventSlotAddress(), export.view().syncEvent());
            }
            long[] stats = group.buffer(1).cumulativeRecvStats();
            long total = 0;
            for (int l = 0; l < 4; l++) {
                assertEquals(d.get(1).recvCount(l), stats[l], "cumulative recv stats after one dispatch");
                total += stats[l];
            }
            assertTrue(total >= 0);
            for (long w : group.buffer(1).dispatchWaitNanos()) {
                assertTrue(w >= 0);
            }
        } finally {
            batches.forEach(TokenBatch::close);
            memory.forEach(DeviceBuffer::close);
        }
    }

    private TokenBatch deviceBatch(RankInput r, List<DeviceBuffer> memory) {
        DeviceBuffer x = DeviceBuffer.allocate(Math.max(16, 2L * r.bits().length));
        DeviceBuffer idx = DeviceBuffer.allocate(Math.max(16, 8L * r.idx().length));
        DeviceBuffer w = DeviceBuffer.allocate(Math.max(16, 4L * r.weights().length));
        memory.addAll(List.of(x, idx, w));
        try (ArrowBuf hx = allocator.buffer(Math.max(16, 2L * r.bits().length));
                ArrowBuf hi = allocator.buffer(Math.max(16, 8L * r.idx().length));
                ArrowBuf hw = allocator.buffer(Math.max(16, 4L * r.weights().length))) {
            for (int i = 0; i < r.bits().length; i++) {
                hx.setShort(2L * i, r.bits()[i]);
            }
            for (int i = 0; i < r.idx().length; i++) {
                hi.setLong(8L * i, r.idx()[i]);
                hw.setFloat(4L * i, r.weights()[i]);
            }
            Memcpy.hostToDevice(x.address(), hx.memoryAddress(), 2L * r.bits().length);
            Memcpy.hostToDevice(idx.address(), hi.memoryAddress(), 8L * r.idx().length);
            Memcpy.hostToDevice(w.address(), hw.memoryAddress(), 4L * r.weights().length);
        }
        try (ArrowBuf dx = x.toArrowBuf(allocator);
                ArrowBuf di = idx.toArrowBuf(allocator);
                ArrowBuf dw = w.toArrowBuf(allocator)) {
            return TokenBatch.fromBuffers(allocator, MemoryLocation.cuda(device.ordinal()), HiddenDtype.BF16, r.n(),
                    r.hidden(), r.topK(), dx, di, dw);
        }
    }

    // ------------------------------------------------------------------------------------------------ masking

    private static boolean[] without(int ranks, int... absent) {
        boolean[] out = new boolean[ranks];
        Arrays.fill(out, true);
        for (int a : absent) {
            out[a] = false;
        }
        return out;
    }

    private static boolean[][] each(int ranks, boolean[] row) {
        boolean[][] out = new boolean[ranks][];
        for (int r = 0; r < ranks; r++) {
            out[r] = row.clone();
        }
        return out;
    }

    static Stream<Arguments> victims() {
        return Stream.of(Arguments.of(2, 1), Arguments.of(4, 3), Arguments.of(8, 5));
    }

    @ParameterizedTest(name = "R={0}, rank {1} never launched at dispatch")
    @MethodSource("victims")
    void rankMissingAtDispatchIsMaskedWithinTimeout(int ranks, int victim) {
        int experts = 4 * ranks;
        BufferConfig c = config(ranks, experts, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 1, 0, 16, 256, 4, experts),
                    DispatchOptions.BF16, true);
            boolean[] survivors = without(ranks, victim);
            long t0 = System.nanoTime();
            CudaStepChecker.Outcome out = CudaStepChecker.step(group, allocator,
                    inputs(ranks, 1, 1, 16, 256, 4, experts), DispatchOptions.BF16, survivors, survivors, survivors,
                    each(ranks, survivors), each(ranks, survivors), false);
            long detection = System.nanoTime() - t0;
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertArrayEquals(new int[] {victim}, out.dispatchNewly()[r], "rank " + r + " reports the victim");
                    assertEquals(0, out.combineNewly()[r].length, "already masked: no second timeout in combine");
                    assertEquals(1, group.queryMask(r)[victim]);
                }
            }
            assertTrue(detection < Duration.ofSeconds(2).toNanos(), "detection took " + detection + " ns");
            // Later steps skip the masked rank at once.
            for (int s = 2; s < 4; s++) {
                CudaStepChecker.Outcome next = CudaStepChecker.step(group, allocator,
                        inputs(ranks, 1, s, 16, 256, 4, experts), DispatchOptions.FP8, survivors, survivors,
                        survivors, each(ranks, survivors), each(ranks, survivors), s % 2 == 0);
                for (int r = 0; r < ranks; r++) {
                    if (r != victim) {
                        assertEquals(0, next.dispatchNewly()[r].length);
                    }
                }
            }
            assertTrue(group.readmit(victim, survivors), "readmitted");
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 1, 9, 16, 256, 4, experts),
                    DispatchOptions.BF16, false);
        }
    }

    @ParameterizedTest(name = "R={0}, rank {1} never launched at combine")
    @MethodSource("victims")
    void rankMissingAtCombineLosesItsExpertsWeight(int ranks, int victim) {
        int experts = 4 * ranks;
        BufferConfig c = config(ranks, experts, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            CudaStepChecker.Outcome out = CudaStepChecker.step(group, allocator,
                    inputs(ranks, 2, 1, 16, 256, 4, experts), DispatchOptions.BF16, all, survivors, survivors,
                    each(ranks, all), each(ranks, survivors), true);
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertEquals(0, out.dispatchNewly()[r].length);
                    assertArrayEquals(new int[] {victim}, out.combineNewly()[r]);
                }
            }
            CudaStepChecker.step(group, allocator, inputs(ranks, 2, 2, 16, 256, 4, experts), DispatchOptions.BF16,
                    survivors, survivors, survivors, each(ranks, survivors), each(ranks, survivors), false);
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 2, 3, 16, 256, 4, experts),
                    DispatchOptions.FP8_ROUND_SCALE, true);
        }
    }

    @Test
    void stalledRankIsMaskedThenRunsLateWithoutHarm() {
        int ranks = 4;
        int victim = 2;
        BufferConfig c = config(ranks, 16, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 3, 0, 16, 256, 4, 16), DispatchOptions.BF16,
                    true);
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            group.stall(victim);
            CudaStepChecker.Outcome out = CudaStepChecker.step(group, allocator, inputs(ranks, 3, 1, 16, 256, 4, 16),
                    DispatchOptions.BF16, all, all, survivors, each(ranks, survivors), each(ranks, survivors), true);
            assertNull(out.dispatchNewly()[victim], "a stalled rank has no result yet");
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertArrayEquals(new int[] {victim}, out.dispatchNewly()[r]);
                }
            }
            group.release(victim);
            group.awaitRank(victim);
            assertNotNull(group.lastDispatch(victim));
            assertArrayEquals(new int[ranks], group.queryMask(victim), "the late rank itself masked nobody");
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 3, 2, 16, 256, 4, 16), DispatchOptions.BF16,
                    false);
        }
    }

    @Test
    void lateRankDetectsPeersThatMovedOnAndRedoesTheStepWithoutThem() {
        int ranks = 4;
        int victim = 2;
        BufferConfig c = config(ranks, 16, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            boolean[] onlyVictim = new boolean[ranks];
            onlyVictim[victim] = true;
            group.stall(victim);
            RankInput[] stalledStep = inputs(ranks, 8, 1, 16, 256, 4, 16);
            CudaStepChecker.step(group, allocator, stalledStep, DispatchOptions.BF16, all, all, survivors,
                    each(ranks, survivors), each(ranks, survivors), true);
            // Two more steps without the victim: its staging slot of the stalled step is rewritten by the survivors.
            for (int s = 2; s < 4; s++) {
                CudaStepChecker.step(group, allocator, inputs(ranks, 8, s, 16, 256, 4, 16), DispatchOptions.BF16,
                        survivors, survivors, survivors, each(ranks, survivors), each(ranks, survivors), s == 2);
            }
            group.release(victim);
            group.awaitRank(victim);
            CudaDispatched late = group.lastDispatch(victim);
            int[] expectedMasked = {0, 1, 3};
            assertArrayEquals(expectedMasked, late.newlyMasked(), "the late rank dropped every peer that moved on");
            CudaStepChecker.checkDispatch(group, late, stalledStep, victim, 4, DispatchOptions.BF16, onlyVictim);
            int[] mask = group.queryMask(victim);
            for (int p : expectedMasked) {
                assertEquals(1, mask[p]);
            }
            group.buffer(victim).clearMask();
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 8, 5, 16, 256, 4, 16), DispatchOptions.BF16,
                    true);
        }
    }

    @Test
    void tenThousandGraphReplayedStepsMaskNobodyAndStayExact() {
        int ranks = 8;
        int experts = 64;
        int hidden = 256;
        BufferConfig c = config(ranks, experts, 8, hidden, 32, true, Duration.ofMillis(20), HiddenDtype.BF16);
        RankInput[] in = new RankInput[ranks];
        List<DeviceBuffer> memory = new ArrayList<>();
        List<TokenBatch> batches = new ArrayList<>();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            for (int r = 0; r < ranks; r++) {
                in[r] = RankInput.random(new Random(600 + r), 32, hidden, 8, experts);
                batches.add(deviceBatch(in[r], memory));
            }
            boolean[] present = without(ranks);
            List<CudaDispatched> d = group.dispatch(batches, DispatchOptions.BF16);
            for (int r = 0; r < ranks; r++) {
                List<short[]> seen = CudaStepChecker.checkDispatch(group, d.get(r), in, r, 8, DispatchOptions.BF16,
                        present);
                for (int l = 0; l < 8; l++) {
                    Memcpy.toDevice(d.get(r).expertOutputAddress(l),
                            CudaStepChecker.expertOutputs(r * 8 + l, seen.get(l)), group.stream(r));
                }
            }
            group.combine(batches);
            group.synchronize();
            try (io.tokenroute.device.CudaGraph dispatch = group.captureGraph(
                    () -> group.queueDispatch(batches, DispatchOptions.BF16));
                    io.tokenroute.device.CudaGraph combine = group.captureGraph(() -> group.queueCombine(batches))) {
                for (int i = 0; i < 10_000; i++) {
                    group.replay(dispatch);
                    group.replay(combine);
                    if (i % 1000 == 999) {
                        group.originStream().synchronize();
                    }
                }
                group.synchronize();
            }
            for (int r = 0; r < ranks; r++) {
                assertArrayEquals(new int[ranks], group.queryMask(r), "rank " + r + ": no false masks");
                CudaStepChecker.checkDispatch(group, group.lastDispatch(r), in, r, 8, DispatchOptions.BF16, present);
                CudaStepChecker.checkCombine(group.lastCombine(r), in[r], 8, present, DispatchOptions.BF16);
            }
            // And the API path still works on top of the replayed sequence numbers.
            d = group.dispatch(batches, DispatchOptions.BF16);
            for (int r = 0; r < ranks; r++) {
                assertEquals(0, d.get(r).newlyMaskedCount());
                CudaStepChecker.checkDispatch(group, d.get(r), in, r, 8, DispatchOptions.BF16, present);
            }
        } finally {
            batches.forEach(TokenBatch::close);
            memory.forEach(DeviceBuffer::close);
        }
    }

    @Test
    void hotPathAllocatesNothingPerStep() {
        int ranks = 4;
        BufferConfig c = config(ranks, 16, 4, 256, 16, true, Duration.ofSeconds(1), HiddenDtype.BF16);
        List<DeviceBuffer> memory = new ArrayList<>();
        List<TokenBatch> batches = new ArrayList<>();
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            group.setValidateDeviceInputs(false);
            for (int r = 0; r < ranks; r++) {
                batches.add(deviceBatch(RankInput.random(new Random(70 + r), 16, 256, 4, 16), memory));
            }
            // Warm up until the JIT compiled the path (as the local transport's HotPathAllocationTest), then measure.
            long before = 0;
            int steps = 2000;
            for (int i = -20_000; i < steps; i++) {
                if (i == 0) {
                    before = threads.getCurrentThreadAllocatedBytes();
                }
                group.dispatch(batches, DispatchOptions.BF16);
                group.combine(batches);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            // Less than one byte per step: no per-call allocation (one would show as >= 16 bytes per step).
            assertTrue(allocated < steps, "dispatch + combine allocated " + allocated + " bytes over " + steps
                    + " steps");
        } finally {
            batches.forEach(TokenBatch::close);
            memory.forEach(DeviceBuffer::close);
        }
    }

    @Test
    void engineMaskingSkipsARankWithoutWaiting() {
        int ranks = 4;
        int victim = 1;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofSeconds(30), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] survivors = without(ranks, victim);
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    group.buffer(r).updateMask(victim, true);
                }
            }
            long t0 = System.nanoTime();
            CudaStepChecker.Outcome out = CudaStepChecker.step(group, allocator, inputs(ranks, 4, 1, 8, 128, 2, 8),
                    DispatchOptions.BF16, survivors, survivors, survivors, each(ranks, survivors),
                    each(ranks, survivors), true);
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "no 30 s timeout was waited");
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertEquals(0, out.dispatchNewly()[r].length, "engine masking is not a new mask");
                }
            }
            assertThrows(IllegalArgumentException.class, () -> group.buffer(0).updateMask(0, true), "no self-masking");
            int[][] agreed = group.agreeMask(survivors);
            assertEquals(1, agreed[0][victim]);
            group.buffer(0).clearMask();
            assertArrayEquals(new int[ranks], group.queryMask(0));
        }
    }

    @Test
    void nonElasticTimeoutFailsNamesPeerAndPhaseUntilCleanBuffer() {
        int ranks = 4;
        int victim = 3;
        BufferConfig c = config(ranks, 8, 2, 128, 8, false, Duration.ofMillis(10), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            RankInput[] in = inputs(ranks, 5, 1, 8, 128, 2, 8);
            List<TokenBatch> batches = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                batches.add(r == victim ? null : in[r].toBatch(allocator));
            }
            try {
                PeerTimeoutException e = assertThrows(PeerTimeoutException.class,
                        () -> group.dispatch(batches, DispatchOptions.BF16));
                assertEquals(victim, e.peer());
                assertEquals(Phase.DISPATCH_RECV, e.phase());
                assertThrows(IllegalStateException.class, () -> group.dispatch(batches, DispatchOptions.BF16),
                        "a failed buffer refuses work");
                assertThrows(IllegalStateException.class, () -> group.queryMask(0), "mask API is elastic-only");
            } finally {
                batches.forEach(b -> {
                    if (b != null) {
                        b.close();
                    }
                });
            }
            group.cleanBuffer();
            CudaStepChecker.healthyStep(group, allocator, inputs(ranks, 5, 2, 8, 128, 2, 8), DispatchOptions.BF16,
                    true);
        }
    }

    // ------------------------------------------------------------------------------------------------ collectives

    @Test
    void barrierAndAllGatherToleratesAMissingRank() {
        int ranks = 4;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            group.barrier();
            byte[][] payloads = new byte[ranks][];
            for (int r = 0; r < ranks; r++) {
                payloads[r] = new byte[r * 7 + 1];
                Arrays.fill(payloads[r], (byte) (r + 1));
            }
            byte[][][] views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                for (int p = 0; p < ranks; p++) {
                    assertArrayEquals(payloads[p], views[r][p], "rank " + r + " sees rank " + p + "'s payload");
                }
            }
            payloads[1] = null;
            views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                if (r != 1) {
                    assertNull(views[r][1], "masked rank has no payload");
                    assertArrayEquals(payloads[3], views[r][3]);
                }
            }
            boolean[] survivors = without(ranks, 1);
            group.barrier(survivors);
            assertThrows(IllegalArgumentException.class,
                    () -> group.allGather(new byte[][] {new byte[300], null, null, null}), "payload too large");
        }
    }

    /** A collectiveBytes that is not a multiple of 8 (the demo's 516) once put odd slots' lengths off alignment. */
    @ParameterizedTest(name = "collectiveBytes = {0}")
    @ValueSource(ints = {13, 516})
    void allGatherWithUnalignedCollectiveBytes(int collectiveBytes) {
        int ranks = 8;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofMillis(20), HiddenDtype.BF16).toBuilder()
                .collectiveBytes(collectiveBytes).build();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            byte[][] payloads = new byte[ranks][];
            Random rng = new Random(collectiveBytes);
            for (int r = 0; r < ranks; r++) {
                payloads[r] = new byte[collectiveBytes - r];
                rng.nextBytes(payloads[r]);
            }
            byte[][][] views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                for (int p = 0; p < ranks; p++) {
                    assertArrayEquals(payloads[p], views[r][p], "rank " + r + " sees rank " + p + "'s payload");
                }
            }
            int[][] agreed = group.agreeMask(without(ranks));
            for (int[] mask : agreed) {
                assertArrayEquals(new int[ranks], mask, "nobody masked");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ bad input

    @Test
    void badInputIsRefusedBeforeAnythingIsLaunched() {
        int ranks = 2;
        BufferConfig c = config(ranks, 4, 2, 128, 4, true, Duration.ofMillis(50), HiddenDtype.BF16);
        CudaLocalGroup closedGroup;
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            closedGroup = group;
            RankInput good = RankInput.random(new Random(1), 3, 128, 2, 4);
            expectRefused(group, new RankInput(1, 128, 2, new short[128], new long[] {0, 4}, new float[2]),
                    "expert out of range");
            expectRefused(group, new RankInput(1, 128, 2, new short[128], new long[] {1, 1}, new float[2]),
                    "duplicate expert");
            expectRefused(group, RankInput.random(new Random(2), 5, 128, 2, 4), "n > T");
            expectRefused(group, RankInput.random(new Random(3), 2, 64, 2, 4), "hidden mismatch");
            expectRefused(group, RankInput.random(new Random(4), 2, 128, 3, 4), "k > maxTopK");
            try (TokenBatch fp32 = TokenBatch.fromFloats(allocator, HiddenDtype.FP32, 128, new float[128], 2,
                    new long[] {0, 1}, new float[2]); TokenBatch b = good.toBatch(allocator)) {
                assertThrows(IllegalArgumentException.class,
                        () -> group.dispatch(Arrays.asList(fp32, b), DispatchOptions.BF16), "dtype mismatch");
                assertThrows(IllegalArgumentException.class, () -> group.dispatch(List.of(b), DispatchOptions.BF16),
                        "one entry per rank");
                assertThrows(IllegalArgumentException.class, () -> group.combine(Arrays.asList(b, b)),
                        "combine before dispatch");
            }
            assertThrows(IllegalArgumentException.class, () -> group.queryMask(2), "rank out of range");
            BufferConfig odd = config(2, 4, 2, 100, 4, true, Duration.ofMillis(50), HiddenDtype.BF16);
            try (CudaLocalGroup oddGroup = CudaLocalGroup.open(device, odd, allocator);
                    TokenBatch a = RankInput.random(new Random(5), 2, 100, 2, 4).toBatch(allocator)) {
                assertThrows(IllegalArgumentException.class,
                        () -> oddGroup.dispatch(Arrays.asList(a, a), DispatchOptions.FP8), "fp8 needs H % 128 == 0");
            }
            // The group still works after every refusal, and combine checks its routing.
            RankInput[] in = {good, RankInput.random(new Random(6), 4, 128, 2, 4)};
            CudaStepChecker.healthyStep(group, allocator, in, DispatchOptions.BF16, true);
            try (TokenBatch a = in[0].toBatch(allocator); TokenBatch b = in[1].toBatch(allocator);
                    TokenBatch other = RankInput.random(new Random(7), 3, 128, 2, 4).toBatch(allocator)) {
                group.dispatch(Arrays.asList(a, b), DispatchOptions.BF16);
                assertThrows(IllegalArgumentException.class, () -> group.combine(Arrays.asList(other, b)),
                        "combine routing differs from the dispatch");
                group.combine(Arrays.asList(a, b));
            }
        }
        assertThrows(IllegalStateException.class, () -> closedGroup.barrier(), "calls after close");
    }

    private void expectRefused(CudaLocalGroup group, RankInput bad, String what) {
        RankInput fine = RankInput.random(new Random(9), 2, 128, 2, 4);
        try (TokenBatch b = bad.toBatch(allocator); TokenBatch f = fine.toBatch(allocator)) {
            assertThrows(IllegalArgumentException.class, () -> group.dispatch(Arrays.asList(f, b),
                    DispatchOptions.BF16), what);
        }
    }
}
