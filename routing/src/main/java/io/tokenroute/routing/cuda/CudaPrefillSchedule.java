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

/**
 * The chunk rounds of a prefill step on the GPU, from the counts the notify (dispatch) or the handle (combine) brought
 * back: round {@code c} moves chunk {@code c} of every queue that has one, so a step takes as many rounds as its
 * longest queue has chunks, and a round waits for credits only once the queue has wrapped ({@code c >= chunks}).
 * Every rank derives its rounds from counts its peers derive theirs from (a sender's count towards a receiver is the
 * receiver's count from that sender), so a chunk a peer waits for is always in a round this rank runs.
 */
final class CudaPrefillSchedule {
    private CudaPrefillSchedule() {}

    /** Chunks of {@code rows} rows. */
    static int chunksOf(int rows, int chunkRows) {
        return (rows + chunkRows - 1) / chunkRows;
    }

    /** The most chunks of any of the row counts. */
    static int rounds(int[] a, int[] b, int chunkRows) {
        int rounds = 0;
        for (int rows : a) {
            rounds = Math.max(rounds, chunksOf(rows, chunkRows));
        }
        for (int rows : b) {
            rounds = Math.max(rounds, chunksOf(rows, chunkRows));
        }
        return rounds;
    }

    /** Whether round {@code round} rewrites a slot and so waits for the credit of chunk {@code round - chunks}. */
    static boolean waitsForCredit(int round, int chunks) {
        return round >= chunks;
    }
}
