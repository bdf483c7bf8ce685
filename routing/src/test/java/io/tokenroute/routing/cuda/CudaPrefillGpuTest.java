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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.testkit.ExpertFunction;
import io.tokenroute.routing.testkit.PrefillChecker;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.ResultAccess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The prefill mode on {@code cuda-local} beyond the shared suite: a DeepSeek-like shape (8 ranks, hidden 1024, top-8,
 * several waves of rows per round) against the reference, and CUDA token batches read in place giving bit for bit the
 * receive batch and combine output of the same batch passed from host memory. Skips without CUDA.
 */
class CudaPrefillGpuTest {

    static List<DispatchOptions> options() {
        return List.of(DispatchOptions.BF16, DispatchOptions.FP8, DispatchOptions.FP8_UE8M0);
    }

    @ParameterizedTest
    @MethodSource("options")
    void aLargeShapeMatchesTheReference(DispatchOptions options) {
        BufferConfig config = BufferConfig.builder()
                .ranks(8)
                .experts(64)
                .maxTopK(8)
                .hidden(1024)
                .maxTokensPerRank(8)
                .prefillMaxTokensPerRank(300)
                .prefillChunkRows(32)
                .prefillChunks(3)
                .timeout(Duration.ofSeconds(20))
                .build();
        CudaLocalGroups.run(config, Duration.ofMinutes(5), (buffer, allocator) -> {
            for (int s = 0; s < 3; s++) {
                RankInput[] inputs = new RankInput[config.ranks()];
                for (int r = 0; r < inputs.length; r++) {
                    Random rng = new Random(4096L * s + r);
                    int n = s == 0 ? 300 : 1 + rng.nextInt(300);
                    inputs[r] = RankInput.random(rng, n, config.hidden(), config.maxTopK(), config.experts());
                }
                PrefillChecker.Outcome out = PrefillChecker.healthy(buffer, allocator, inputs, options);
                assertEquals(0, out.dispatchNewlyMasked().length + out.combineNewlyMasked().length, "nobody masked");
            }
        });
    }

    @ParameterizedTest
    @MethodSource("options")
    void deviceBatchesAreReadInPlaceWithTheHostBatchesResults(DispatchOptions options) {
        BufferConfig config = BufferConfig.builder()
                .ranks(4)
                .experts(32)
                .maxTopK(4)
                .hidden(256)
                .maxTokensPerRank(8)
                .prefillMaxTokensPerRank(70)
                .prefillChunkRows(8)
                .prefillChunks(2)
                .timeout(Duration.ofSeconds(20))
                .build();
        CudaLocalGroups.run(config, Duration.ofMinutes(5), (buffer, allocator) -> {
            for (int s = 0; s < 3; s++) {
                RankInput mine = RankInput.random(
                        new Random(77L * s + buffer.rank()),
                        s == 1 ? 0 : 70 - 9 * buffer.rank(),
                        config.hidden(),
                        config.maxTopK(),
                        config.experts());
                Run host;
                try (TokenBatch batch = mine.toBatch(allocator)) {
                    host = run(buffer, batch, options, config);
                }
                List<DeviceBuffer> memory = new ArrayList<>();
                try (TokenBatch batch = deviceBatch(mine, allocator, memory)) {
                    Run device = run(buffer, batch, options, config);
                    assertArrayEquals(host.received(), device.received(), "receive batch, step " + s);
                    assertArrayEquals(host.hidden(), device.hidden(), "combine output, step " + s);
                    assertArrayEquals(host.lost(), device.lost(), "lost weight, step " + s);
                } finally {
                    memory.forEach(DeviceBuffer::close);
                }
            }
        });
    }

    /** What one prefill step returned, as host copies. */
    private record Run(byte[] received, short[] hidden, float[] lost) {}

    /** One step with the test experts ({@link ExpertFunction} of each entry's row, bf16 rows only). */
    private static Run run(ElasticBuffer buffer, TokenBatch batch, DispatchOptions options, BufferConfig config) {
        PrefillDispatched d = buffer.prefillDispatch(batch, options);
        assertEquals(MemoryLocation.cuda(0).type(), d.location().type(), "device results");
        assertNotNull(d.readyEvent());
        ResultAccess access = ResultAccess.of(d);
        ByteArrayBuilder received = new ByteArrayBuilder();
        for (FieldVector v : d.batch().getFieldVectors()) {
            FieldVector data = v instanceof FixedSizeListVector list ? list.getDataVector() : v;
            // Each column views exactly its rows' bytes (one spare byte when there are none).
            if (d.numReceived() > 0) {
                received.add(access.bytes(data.getDataBuffer().memoryAddress(), (int)
                        data.getDataBuffer().capacity()));
            }
        }
        int hidden = config.hidden();
        for (int l = 0; l < d.numLocalExperts(); l++) {
            short[] rows = new short[d.expertCount(l) * hidden];
            for (int i = 0; i < d.expertCount(l); i++) {
                for (int c = 0; c < hidden; c++) {
                    rows[i * hidden + c] = ExpertFunction.apply(
                            buffer.rank() * d.numLocalExperts() + l, (short) (d.expertRow(l, i) * 31 + c));
                }
            }
            access.write(d.expertOutputAddress(l), rows);
        }
        Combined c = buffer.prefillCombine(d, batch);
        short[] out = new short[c.numTokens() * hidden];
        float[] lost = new float[c.numTokens()];
        c.copyHiddenTo(out);
        c.copyLostWeightTo(lost);
        for (float w : lost) {
            assertEquals(0f, w, "a healthy step loses nothing");
        }
        return new Run(received.toArray(), out, lost);
    }

    /** A CUDA token batch with {@code r}'s rows, ids and weights (its memory goes into {@code memory}). */
    private static TokenBatch deviceBatch(RankInput r, BufferAllocator allocator, List<DeviceBuffer> memory) {
        DeviceBuffer x = DeviceBuffer.allocate(Math.max(16, 2L * r.bits().length));
        DeviceBuffer idx = DeviceBuffer.allocate(Math.max(16, 8L * r.idx().length));
        DeviceBuffer w = DeviceBuffer.allocate(Math.max(16, 4L * r.weights().length));
        memory.addAll(List.of(x, idx, w));
        try (TokenBatch host = r.toBatch(allocator)) {
            Memcpy.hostToDevice(x.address(), host.hiddenAddress(), 2L * r.bits().length);
            Memcpy.hostToDevice(idx.address(), host.topkIdxAddress(), 8L * r.idx().length);
            Memcpy.hostToDevice(w.address(), host.topkWeightsAddress(), 4L * r.weights().length);
        }
        try (ArrowBuf dx = x.toArrowBuf(allocator);
                ArrowBuf di = idx.toArrowBuf(allocator);
                ArrowBuf dw = w.toArrowBuf(allocator)) {
            return TokenBatch.fromBuffers(
                    allocator, x.location(), HiddenDtype.BF16, r.n(), r.hidden(), r.topK(), dx, di, dw);
        }
    }

    /** Concatenates byte arrays. */
    private static final class ByteArrayBuilder {
        private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

        void add(byte[] bytes) {
            out.writeBytes(bytes);
        }

        byte[] toArray() {
            return out.toByteArray();
        }
    }
}
