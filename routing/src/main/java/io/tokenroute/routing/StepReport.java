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

import java.util.stream.IntStream;

/**
 * What a dispatch or combine call reports besides its data: the peers it masked (a wait on them timed out, or this
 * rank adopted a peer's mask entry for them). Transports fill it through the protected methods.
 */
public abstract class StepReport {
    private final boolean[] newlyMasked;
    private int newlyMaskedCount;

    protected StepReport(int ranks) {
        this.newlyMasked = new boolean[ranks];
    }

    /** Records this call's newly masked peers: {@code flags[r]} for rank r (copied; the caller keeps the array). */
    protected final void reportNewlyMasked(boolean[] flags) {
        int count = 0;
        for (int r = 0; r < newlyMasked.length; r++) {
            newlyMasked[r] = flags[r];
            count += flags[r] ? 1 : 0;
        }
        newlyMaskedCount = count;
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
        return IntStream.range(0, newlyMasked.length)
                .filter(r -> newlyMasked[r])
                .toArray();
    }
}
