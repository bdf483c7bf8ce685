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
package io.tokenroute.routing;

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.PhaseListener;
import java.time.Duration;
import java.util.Objects;

/**
 * Everything an {@link ElasticBuffer} is built from. Immutable; {@link #builder()} to make one, {@link #withRank} to
 * derive each rank's copy. All ranks of a group must use equal configurations apart from {@code rank}.
 */
public final class BufferConfig {
    /** Upper bound on k, as DeepEP's low-latency kernels. */
    public static final int MAX_TOP_K = 16;

    private final int ranks;
    private final int rank;
    private final int experts;
    private final int maxTokensPerRank;
    private final int hidden;
    private final int maxTopK;
    private final HiddenDtype dtype;
    private final boolean elastic;
    private final Duration timeout;
    private final int collectiveBytes;
    private final int prefillMaxTokensPerRank;
    private final int prefillChunkRows;
    private final int prefillChunks;
    private final PhaseListener phaseListener;

    static {
        PhaseHooks.install(new PhaseHooks.ConfigAccess() {
            @Override
            public PhaseListener listenerOf(BufferConfig config) {
                return config.phaseListener;
            }

            @Override
            public BufferConfig withListener(BufferConfig config, PhaseListener listener) {
                return config.toBuilder().phaseListener(listener).build();
            }
        });
    }

    private BufferConfig(Builder b) {
        this.ranks = b.ranks;
        this.rank = b.rank;
        this.experts = b.experts;
        this.maxTokensPerRank = b.maxTokensPerRank;
        this.hidden = b.hidden;
        this.maxTopK = b.maxTopK;
        this.dtype = Objects.requireNonNull(b.dtype, "dtype");
        this.elastic = b.elastic;
        this.timeout = Objects.requireNonNull(b.timeout, "timeout");
        this.collectiveBytes = b.collectiveBytes;
        this.prefillMaxTokensPerRank = b.prefillMaxTokensPerRank;
        this.prefillChunkRows = b.prefillChunkRows;
        this.prefillChunks = b.prefillChunks;
        this.phaseListener = Objects.requireNonNull(b.phaseListener, "phaseListener");
        check(ranks >= 1, "ranks must be >= 1, got " + ranks);
        check(rank >= 0 && rank < ranks, "rank " + rank + " outside [0, " + ranks + ")");
        check(
                experts >= ranks && experts % ranks == 0,
                "experts must be a positive multiple of ranks: experts = " + experts + ", ranks = " + ranks);
        check(maxTokensPerRank >= 1, "maxTokensPerRank must be >= 1, got " + maxTokensPerRank);
        check(hidden >= 1, "hidden must be >= 1, got " + hidden);
        check(maxTopK >= 1 && maxTopK <= MAX_TOP_K, "maxTopK must be in [1, " + MAX_TOP_K + "], got " + maxTopK);
        check(dtype != HiddenDtype.FP8_E4M3, "fp8 is a dispatch option, not an input dtype");
        check(!timeout.isNegative() && !timeout.isZero(), "timeout must be positive, got " + timeout);
        check(collectiveBytes >= 0, "collectiveBytes must be >= 0, got " + collectiveBytes);
        check(
                prefillMaxTokensPerRank >= 0,
                "prefillMaxTokensPerRank must be >= 0 (0 = no prefill mode), got " + prefillMaxTokensPerRank);
        check(prefillChunkRows >= 1, "prefillChunkRows must be >= 1, got " + prefillChunkRows);
        check(prefillChunks >= 1, "prefillChunks must be >= 1, got " + prefillChunks);
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** A builder with defaults: 1 rank, bf16, elastic, 2 s timeout, 1 MiB collective buffer. */
    public static Builder builder() {
        return new Builder();
    }

    /** This configuration for another rank of the same group. */
    public BufferConfig withRank(int newRank) {
        return toBuilder().rank(newRank).build();
    }

    /** A builder initialised with this configuration. */
    public Builder toBuilder() {
        return new Builder()
                .ranks(ranks)
                .rank(rank)
                .experts(experts)
                .maxTokensPerRank(maxTokensPerRank)
                .hidden(hidden)
                .maxTopK(maxTopK)
                .dtype(dtype)
                .elastic(elastic)
                .timeout(timeout)
                .collectiveBytes(collectiveBytes)
                .prefillMaxTokensPerRank(prefillMaxTokensPerRank)
                .prefillChunkRows(prefillChunkRows)
                .prefillChunks(prefillChunks)
                .phaseListener(phaseListener);
    }

    /** R, ranks in the group. */
    public int ranks() {
        return ranks;
    }

    /** This buffer's rank. */
    public int rank() {
        return rank;
    }

    /** E, experts in total. */
    public int experts() {
        return experts;
    }

    /** L = E / R, experts per rank; expert {@code e} lives on rank {@code e / L}. */
    public int localExperts() {
        return experts / ranks;
    }

    /** T, the most tokens one rank dispatches per call. */
    public int maxTokensPerRank() {
        return maxTokensPerRank;
    }

    /** H, values per hidden row. */
    public int hidden() {
        return hidden;
    }

    /** The largest k accepted. */
    public int maxTopK() {
        return maxTopK;
    }

    /** The dtype of dispatch input rows (converted to bf16 on the wire). */
    public HiddenDtype dtype() {
        return dtype;
    }

    /** Whether timeouts mask peers (true) or fail the operation (false). */
    public boolean elastic() {
        return elastic;
    }

    /** The initial wait timeout per peer and phase; {@link ElasticBuffer#setTimeout} changes it at run time. */
    public Duration timeout() {
        return timeout;
    }

    /** The most bytes one rank contributes to {@link ElasticBuffer#allGather}. */
    public int collectiveBytes() {
        return collectiveBytes;
    }

    /** The phase hook (tests, tracing). */
    /**
     * Tp, the most tokens one rank passes to a prefill (high-throughput) dispatch; 0 (the default) builds no prefill
     * queues (docs/contract.md §3b).
     */
    public int prefillMaxTokensPerRank() {
        return prefillMaxTokensPerRank;
    }

    /** Rows per chunk of a prefill queue. */
    public int prefillChunkRows() {
        return prefillChunkRows;
    }

    /**
     * Chunks per prefill queue: each (source, destination) pair streams through {@code prefillChunks ×
     * prefillChunkRows} rows, whatever the batch size, which bounds the prefill memory.
     */
    public int prefillChunks() {
        return prefillChunks;
    }

    /**
     * Bytes of one rank's shared region on the host transports ({@code local}, {@code shm}): control words, the
     * low-latency staging and combine areas, and (with {@link #prefillMaxTokensPerRank()} > 0) the prefill queues,
     * whose size depends on {@link #prefillChunks()} × {@link #prefillChunkRows()} and not on the prefill batch size.
     * Rank-private receive memory comes on top and is sized by what arrives.
     */
    public long regionBytes() {
        return new io.tokenroute.routing.protocol.RegionLayout(this).regionBytes();
    }

    /** Hears every phase of every call; {@link PhaseHooks} is the way to it from other packages. */
    PhaseListener phaseListener() {
        return phaseListener;
    }

    @Override
    public String toString() {
        return "BufferConfig[ranks=" + ranks + ", rank=" + rank + ", experts=" + experts + ", maxTokensPerRank="
                + maxTokensPerRank + ", hidden=" + hidden + ", maxTopK=" + maxTopK + ", dtype=" + dtype
                + ", elastic=" + elastic + ", timeout=" + timeout + ", collectiveBytes=" + collectiveBytes
                + (prefillMaxTokensPerRank == 0
                        ? ""
                        : ", prefillMaxTokensPerRank=" + prefillMaxTokensPerRank + ", prefillChunkRows="
                                + prefillChunkRows + ", prefillChunks=" + prefillChunks)
                + "]";
    }

    /** Builds a {@link BufferConfig}; every setter returns the builder. */
    public static final class Builder {
        private int ranks = 1;
        private int rank;
        private int experts = 1;
        private int maxTokensPerRank = 128;
        private int hidden = 7168;
        private int maxTopK = 8;
        private HiddenDtype dtype = HiddenDtype.BF16;
        private boolean elastic = true;
        private Duration timeout = Duration.ofSeconds(2);
        private int collectiveBytes = 1 << 20;
        private int prefillMaxTokensPerRank;
        private int prefillChunkRows = 64;
        private int prefillChunks = 4;
        private PhaseListener phaseListener = PhaseListener.NONE;

        private Builder() {}

        public Builder ranks(int v) {
            ranks = v;
            return this;
        }

        public Builder rank(int v) {
            rank = v;
            return this;
        }

        public Builder experts(int v) {
            experts = v;
            return this;
        }

        public Builder maxTokensPerRank(int v) {
            maxTokensPerRank = v;
            return this;
        }

        public Builder hidden(int v) {
            hidden = v;
            return this;
        }

        public Builder maxTopK(int v) {
            maxTopK = v;
            return this;
        }

        public Builder dtype(HiddenDtype v) {
            dtype = v;
            return this;
        }

        public Builder elastic(boolean v) {
            elastic = v;
            return this;
        }

        public Builder timeout(Duration v) {
            timeout = v;
            return this;
        }

        public Builder collectiveBytes(int v) {
            collectiveBytes = v;
            return this;
        }

        /** Tp for the prefill mode (0: none). */
        public Builder prefillMaxTokensPerRank(int v) {
            prefillMaxTokensPerRank = v;
            return this;
        }

        /** Rows per prefill queue chunk (default 64). */
        public Builder prefillChunkRows(int v) {
            prefillChunkRows = v;
            return this;
        }

        /** Chunks per prefill queue (default 4). */
        public Builder prefillChunks(int v) {
            prefillChunks = v;
            return this;
        }

        /** Fault injection and test ordering only ({@link PhaseHooks}): not part of the public configuration. */
        Builder phaseListener(PhaseListener v) {
            phaseListener = v;
            return this;
        }

        public BufferConfig build() {
            return new BufferConfig(this);
        }
    }
}
