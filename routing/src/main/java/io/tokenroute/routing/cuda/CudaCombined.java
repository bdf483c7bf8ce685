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

import io.tokenroute.arrow.cdata.DeviceExport;
import io.tokenroute.arrow.cdata.ExportedDeviceBatch;
import io.tokenroute.arrow.cdata.NullCounts;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.Combined;
import java.nio.ByteOrder;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * A rank's combine result on the GPU transports: one row per dispatched token in <b>CUDA device memory</b>,
 * {@code hidden} bf16 = Σ over unmasked experts of weight × output (fp32 in top-k order, one rounding) and
 * {@code lost_weight} float32 = the weights of the experts skipped because their rank was masked. Device consumers take
 * {@link #batch()} or {@link #export} after {@link #readyEvent()}. The value accessors ({@link #lostWeight},
 * {@link #hiddenBits}, {@code copy*To}) copy the output to host memory with CUDA copies (never a CPU read of device
 * memory), once per combine: later calls read that host copy.
 *
 * <p>Owned by the rank's buffer and reused: valid until the rank's next combine of the same mode (low-latency or
 * prefill, each has its own). Do not close it or its batch.
 */
public final class CudaCombined extends Combined implements AutoCloseable {
    private final CudaRankEngine rank;
    private final CudaRankLayout layout;
    private final long outOffset;
    private final long lostOffset;
    private final int capacity;
    private final IntFunction<VectorSchemaRoot> view;
    private final Supplier<CudaEvent> ready;
    private final boolean[] newly;
    private int tokens;
    /** Host copy of hidden then lost_weight, allocated on the first value read; valid while {@link #copied}. */
    private ArrowBuf hostCopy;

    private boolean copied;

    /** The low-latency combine's result: the rank's output area of {@code maxTokensPerRank} rows. */
    CudaCombined(CudaRankEngine rank) {
        this(
                rank,
                rank.layout.offOut,
                rank.layout.offLost,
                rank.layout.maxTokens,
                n -> rank.views.combined(n),
                () -> rank.lastCombineEvent);
    }

    /**
     * A combine result over {@code capacity} rows at the given offsets of the rank's allocation.
     *
     * @param view the output batch over those rows, resized to a row count
     * @param ready the event after the combine's last kernel
     */
    CudaCombined(
            CudaRankEngine rank,
            long outOffset,
            long lostOffset,
            int capacity,
            IntFunction<VectorSchemaRoot> view,
            Supplier<CudaEvent> ready) {
        super(rank.layout.ranks);
        this.rank = rank;
        this.layout = rank.layout;
        this.outOffset = outOffset;
        this.lostOffset = lostOffset;
        this.capacity = capacity;
        this.view = view;
        this.ready = ready;
        this.newly = new boolean[layout.ranks];
    }

    void publish(int n) {
        tokens = n;
        copied = false;
        rank.report.copyNewly(CudaRankLayout.CALL_COMBINE, newly);
        reportNewlyMasked(newly);
    }

    /** This result's rank. */
    public int rank() {
        return rank.id;
    }

    @Override
    public int numTokens() {
        return tokens;
    }

    /** The output batch over device memory ({@code hidden}, {@code lost_weight}); addresses and row count only. */
    @Override
    public VectorSchemaRoot batch() {
        ensureReadable();
        return view.apply(tokens);
    }

    /** Device address of {@code hidden[0][0]} ({@code n × H} bf16, row-major). */
    @Override
    public long hiddenAddress() {
        ensureReadable();
        return rank.base + outOffset;
    }

    /** Device address of {@code lost_weight[0]} ({@code n} float32). */
    public long lostWeightAddress() {
        ensureReadable();
        return rank.base + lostOffset;
    }

    /** {@code lost_weight[t]}, from the host copy of this combine's output. */
    @Override
    public float lostWeight(int t) {
        checkToken(t);
        return Float.intBitsToFloat(MemoryUtil.getInt(copied().memoryAddress() + hiddenBytes() + 4L * t));
    }

    /** The bf16 bits of {@code hidden[t][h]}, from the host copy of this combine's output. */
    @Override
    public short hiddenBits(int t, int h) {
        checkToken(t);
        if (h < 0 || h >= layout.hidden) {
            throw new IndexOutOfBoundsException("channel " + h + " outside [0, " + layout.hidden + ")");
        }
        return MemoryUtil.getShort(copied().memoryAddress() + 2L * ((long) t * layout.hidden + h));
    }

    /** Copies {@code hidden} ({@code n × H} bf16 bits, row-major) into the start of {@code dst}. */
    @Override
    public void copyHiddenTo(short[] dst) {
        ensureReadable();
        int count = tokens * layout.hidden;
        checkLength(dst.length, count);
        copied().nioBuffer(0, 2 * count)
                .order(ByteOrder.LITTLE_ENDIAN)
                .asShortBuffer()
                .get(dst, 0, count);
    }

    /** Copies {@code lost_weight} ({@code n} floats) into the start of {@code dst}. */
    @Override
    public void copyLostWeightTo(float[] dst) {
        ensureReadable();
        checkLength(dst.length, tokens);
        copied().nioBuffer(hiddenBytes(), 4 * tokens)
                .order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer()
                .get(dst, 0, tokens);
    }

    /** CUDA memory of the group's device. */
    @Override
    public MemoryLocation location() {
        return rank.device.location();
    }

    /** The stream the rank's kernels ran on (device consumers queued here need no event). */
    public CudaStream stream() {
        return rank.resultStream;
    }

    /** The event recorded after the reduce: a consumer's stream waits on it; the export's sync event. */
    @Override
    public CudaEvent readyEvent() {
        return ready.get();
    }

    /**
     * Exports the output through the Arrow C Device Data Interface (CUDA, sync event {@link #readyEvent()}), zero-copy.
     *
     * @return the export; the caller closes it
     */
    public ExportedDeviceBatch export(BufferAllocator allocator) {
        return DeviceExport.export(
                allocator,
                batch(),
                location(),
                NullCounts.KNOWN_ZERO,
                ready.get().syncEventSlotAddress());
    }

    /** The host copy of this combine's output, made on the first call after the combine. */
    private ArrowBuf copied() {
        if (!copied) {
            if (hostCopy == null) {
                hostCopy = rank.views.allocator().buffer(2L * layout.hidden * capacity + 4L * capacity);
            }
            rank.device.makeCurrent();
            long hidden = hiddenBytes();
            Memcpy.deviceToHost(hostCopy.memoryAddress(), rank.base + outOffset, hidden, rank.resultStream);
            Memcpy.deviceToHost(
                    hostCopy.memoryAddress() + hidden, rank.base + lostOffset, 4L * tokens, rank.resultStream);
            rank.resultStream.synchronize();
            copied = true;
        }
        return hostCopy;
    }

    private long hiddenBytes() {
        return 2L * tokens * layout.hidden;
    }

    private void checkToken(int t) {
        ensureReadable();
        if (t < 0 || t >= tokens) {
            throw new IndexOutOfBoundsException("token " + t + " outside [0, " + tokens + ")");
        }
    }

    private static void checkLength(int length, int needed) {
        if (length < needed) {
            throw new IllegalArgumentException("need at least " + needed + " values, got " + length);
        }
    }

    /** The batch views the rank's memory: once its buffer is closed, reading it would touch freed memory. */
    private void ensureReadable() {
        if (rank.closed) {
            throw new IllegalStateException("this combine result belongs to a closed buffer");
        }
    }

    /** Frees the host copy (the rank's close). */
    @Override
    public void close() {
        if (hostCopy != null) {
            hostCopy.close();
            hostCopy = null;
        }
    }
}
