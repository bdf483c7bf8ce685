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
package io.tokenroute.routing.host;

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.protocol.RankProtocol;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;

/** The {@link Combined} of a {@link HostElasticBuffer}: views of the rank's output memory (host, off-heap). */
public final class HostCombined extends Combined {
    private final RankProtocol protocol;
    private final VectorSchemaRoot batch;
    private final ArrowBuf hiddenOut;
    private final ArrowBuf lostOut;
    private final int hidden;

    /**
     * @param batch the output views over {@code hiddenOut} and {@code lostOut}
     * @param hiddenOut {@code n × H} bf16 outputs
     * @param lostOut {@code n} float32 lost weights
     */
    HostCombined(
            RankProtocol protocol,
            VectorSchemaRoot batch,
            ArrowBuf hiddenOut,
            ArrowBuf lostOut,
            int ranks,
            int hidden) {
        super(ranks);
        this.protocol = protocol;
        this.batch = batch;
        this.hiddenOut = hiddenOut;
        this.lostOut = lostOut;
        this.hidden = hidden;
    }

    void publish(int tokens) {
        batch.setRowCount(tokens);
        reportNewlyMasked(protocol.mask().newlyFlags());
    }

    /** The output record batch ({@code hidden}, {@code lost_weight}). */
    @Override
    public VectorSchemaRoot batch() {
        ensureReadable();
        return batch;
    }

    /** Number of tokens. */
    @Override
    public int numTokens() {
        return batch.getRowCount();
    }

    /** {@code lost_weight[t]}. */
    @Override
    public float lostWeight(int t) {
        checkToken(t);
        return Float.intBitsToFloat(MemoryUtil.getInt(lostOut.memoryAddress() + 4L * t));
    }

    /** The bf16 bits of {@code hidden[t][h]}. */
    @Override
    public short hiddenBits(int t, int h) {
        checkToken(t);
        if (h < 0 || h >= hidden) {
            throw new IndexOutOfBoundsException("channel " + h + " outside [0, " + hidden + ")");
        }
        return MemoryUtil.getShort(hiddenOut.memoryAddress() + 2L * ((long) t * hidden + h));
    }

    /** Address of {@code hidden[0][0]} (host memory, {@code n × H} bf16 row-major). */
    @Override
    public long hiddenAddress() {
        ensureReadable();
        return hiddenOut.memoryAddress();
    }

    @Override
    public void copyHiddenTo(short[] dst) {
        ensureReadable();
        int n = numTokens() * hidden;
        for (int i = 0; i < n; i++) {
            dst[i] = MemoryUtil.getShort(hiddenOut.memoryAddress() + 2L * i);
        }
    }

    @Override
    public void copyLostWeightTo(float[] dst) {
        ensureReadable();
        for (int t = 0; t < numTokens(); t++) {
            dst[t] = Float.intBitsToFloat(MemoryUtil.getInt(lostOut.memoryAddress() + 4L * t));
        }
    }

    @Override
    public MemoryLocation location() {
        return MemoryLocation.HOST;
    }

    /** Host results are complete when combine returns. */
    @Override
    public CudaEvent readyEvent() {
        return null;
    }

    /** The batch views the buffer's memory: once it is closed, reading it would touch freed memory. */
    private void ensureReadable() {
        if (protocol.isClosed()) {
            throw new IllegalStateException("this combine result belongs to a closed buffer");
        }
    }

    private void checkToken(int t) {
        ensureReadable();
        if (t < 0 || t >= batch.getRowCount()) {
            throw new IndexOutOfBoundsException("token " + t + " outside [0, " + batch.getRowCount() + ")");
        }
    }
}
