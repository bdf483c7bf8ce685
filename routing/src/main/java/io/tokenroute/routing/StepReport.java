package io.tokenroute.routing;

import io.tokenroute.routing.protocol.MaskState;

/** What a dispatch or combine call reports besides its data: the peers it masked because they timed out. */
abstract class StepReport {
    private final boolean[] newlyMasked;
    private int newlyMaskedCount;

    StepReport(int ranks) {
        this.newlyMasked = new boolean[ranks];
    }

    void captureNewlyMasked(MaskState mask) {
        newlyMaskedCount = mask.copyNewly(newlyMasked);
    }

    /** Number of peers this call masked (0 on a healthy step). */
    public int newlyMaskedCount() {
        return newlyMaskedCount;
    }

    /** Whether this call masked {@code rank}. */
    public boolean isNewlyMasked(int rank) {
        return newlyMasked[rank];
    }

    /** The ranks this call masked, ascending (allocates; for reporting, not the hot path). */
    public int[] newlyMasked() {
        return MaskState.ranksOf(newlyMasked, newlyMaskedCount);
    }
}
