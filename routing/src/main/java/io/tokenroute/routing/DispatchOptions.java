package io.tokenroute.routing;

/**
 * Per-call dispatch options (spec §2). Every rank must pass the same options in the same step.
 *
 * @param fp8 cast rows to float8 e4m3 with one float32 dequantisation scale per 128 channels (H % 128 == 0)
 * @param roundScale round each scale up to a power of two (only with {@code fp8})
 * @param ue8m0 emit scales as 8-bit exponents ({@code tokenroute.ue8m0}); requires {@code roundScale}
 * @param stats add the received token counts to the cumulative per-expert receive stats
 */
public record DispatchOptions(boolean fp8, boolean roundScale, boolean ue8m0, boolean stats) {
    /** bf16 rows, stats on. */
    public static final DispatchOptions BF16 = new DispatchOptions(false, false, false, true);
    /** fp8 rows with float32 scales, stats on. */
    public static final DispatchOptions FP8 = new DispatchOptions(true, false, false, true);
    /** fp8 rows with power-of-two float32 scales, stats on. */
    public static final DispatchOptions FP8_ROUND_SCALE = new DispatchOptions(true, true, false, true);
    /** fp8 rows with UE8M0 scales, stats on. */
    public static final DispatchOptions FP8_UE8M0 = new DispatchOptions(true, true, true, true);

    public DispatchOptions {
        if (roundScale && !fp8) {
            throw new IllegalArgumentException("roundScale needs fp8");
        }
        if (ue8m0 && !roundScale) {
            throw new IllegalArgumentException("ue8m0 scales need roundScale (power-of-two scales)");
        }
    }

    /** The wire format code peers compare, so a step where ranks disagree fails clearly. */
    public int formatCode() {
        return (fp8 ? 1 : 0) | (roundScale ? 2 : 0) | (ue8m0 ? 4 : 0);
    }
}
