package io.tokenroute.examples.demo;

import io.tokenroute.arrow.batch.TokenBatch;
import java.time.Duration;

/**
 * One rank's routing buffer as the demo's engine loop ({@link RankLoop}) drives it, whatever the transport: the
 * received rows, the expert outputs and the combine output are in host memory, so the loop runs its experts and its
 * reference check the same way on every transport. {@link ElasticRouting} adapts an
 * {@link io.tokenroute.routing.ElasticBuffer} (host transports, zero copies); {@link NvshmemRouting} an
 * {@link io.tokenroute.routing.nvshmem.NvshmemBuffer} (device memory, copied through {@link DeviceStaging}).
 *
 * <p>Per round: {@link #dispatch}, then the loop writes each slot's expert outputs for the rows at
 * {@link #rowsAddress} into {@link #outputAddress}, then {@link #combine}; the combine output stays readable until the
 * next combine. The collectives ({@link #agreeMask}, {@link #allGather}, {@link #readmit}) are those of the elastic API
 * (spec §2). One thread per instance.
 */
interface DemoRouting {
    /** The result of a call that masked nobody. */
    int[] NONE = new int[0];

    /** Sets the per-peer wait timeout (after the warm-up). */
    void setTimeout(Duration timeout);

    /**
     * Tells waiting peers this rank is alive during host-side work; a no-op where peers' waits do not depend on it.
     */
    void heartbeat();

    /**
     * Dispatches this rank's tokens.
     *
     * @param batch host memory, bf16 {@code hidden [n][H]}, physical {@code topk_idx}, {@code topk_weights}
     * @return the peers this call masked, ascending ({@link #NONE} if none)
     */
    int[] dispatch(TokenBatch batch);

    /** Rows received for local slot {@code slot} by the last dispatch. */
    int recvCount(int slot);

    /** Host address of those rows, bf16 {@code [recvCount][H]}, valid until the next dispatch. */
    long rowsAddress(int slot);

    /** Host address where the slot's expert outputs go, bf16 {@code [recvCount][H]}, read by the next combine. */
    long outputAddress(int slot);

    /**
     * Combines the last dispatch with the expert outputs written at {@link #outputAddress}.
     *
     * @param batch the batch that was dispatched (its weights weigh the outputs)
     * @return the peers this call masked, ascending ({@link #NONE} if none)
     */
    int[] combine(TokenBatch batch);

    /** Host address of the combine output, bf16 {@code [n][H]}, valid until the next combine. */
    long combinedAddress();

    /** The combine output's {@code lost_weight[token]}. */
    float lostWeight(int token);

    /** This rank's mask, 1 = masked. */
    int[] queryMask();

    /** Collective: adopts the union of the active ranks' masks and returns it. */
    int[] agreeMask();

    /** Collective: every active rank's payload, null for ranks this rank masks. */
    byte[][] allGather(byte[] payload);

    /** Collective readmission of {@code rank} (by the survivors and by the rank itself); whether it succeeded. */
    boolean readmit(int rank, Duration timeout);

    /**
     * Collective of the active ranks: readmits the lowest masked rank that asked to come back (a live rank its peers
     * masked by mistake, waiting in {@code readmit(itself, ...)}); returns it, or -1 if none did (always -1 where the
     * transport cannot tell). Every active rank returns the same rank, whether or not it came back.
     */
    int readmitRequesting(Duration timeout);
}
