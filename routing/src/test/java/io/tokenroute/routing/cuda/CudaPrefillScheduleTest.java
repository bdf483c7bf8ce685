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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The chunk-round schedule of the GPU prefill mode, run by a model of R ranks whose steps interleave at random: each
 * rank's stream runs, per round, the credit wait, the pack, the tail wait and the copy exactly as {@code prefill.cuh}
 * states their conditions. Every run must finish (no rank waits for a chunk nobody writes, no cycle through the
 * credits), every chunk must be read before its slot is rewritten and after it was written, and every row must arrive.
 * The same model with the counts swapped is the combine's.
 */
class CudaPrefillScheduleTest {

    @Test
    void roundsAndChunkCountsMatchPlainArithmetic() {
        Random random = new Random(19);
        for (int trial = 0; trial < 200; trial++) {
            int chunkRows = 1 + random.nextInt(8);
            int[] a = random.ints(1 + random.nextInt(6), 0, 50).toArray();
            int[] b = random.ints(1 + random.nextInt(6), 0, 50).toArray();
            int most = 0;
            for (int rows : a) {
                most = Math.max(most, (rows + chunkRows - 1) / chunkRows);
            }
            for (int rows : b) {
                most = Math.max(most, (rows + chunkRows - 1) / chunkRows);
            }
            assertEquals(most, CudaPrefillSchedule.rounds(a, b, chunkRows));
            int rows = random.nextInt(100);
            assertEquals((int) Math.ceil(rows / (double) chunkRows), CudaPrefillSchedule.chunksOf(rows, chunkRows));
        }
        assertEquals(0, CudaPrefillSchedule.rounds(new int[] {0, 0}, new int[] {0}, 4), "nothing to move: no round");
        assertFalse(CudaPrefillSchedule.waitsForCredit(1, 2));
        assertTrue(CudaPrefillSchedule.waitsForCredit(2, 2));
    }

    @Test
    void everyInterleavingOfTheRanksStreamsFinishesWithEveryRowInPlace() {
        Random random = new Random(2026);
        for (int trial = 0; trial < 300; trial++) {
            int ranks = 1 + random.nextInt(6);
            int chunkRows = 1 + random.nextInt(5);
            int chunks = 1 + random.nextInt(4);
            int[][] sends = new int[ranks][ranks];
            for (int[] row : sends) {
                for (int d = 0; d < ranks; d++) {
                    row[d] = random.nextInt(4) == 0 ? 0 : random.nextInt(6 * chunkRows * chunks);
                }
            }
            run(sends, chunkRows, chunks, random);
        }
    }

    /** One step of one rank's stream in the model. */
    private enum Op {
        CREDIT,
        PACK,
        TAIL,
        COPY
    }

    /**
     * Runs the rounds of every rank in a random interleaving. {@code sends[s][d]}: rows rank s sends rank d (the
     * combine is the same with the matrix transposed: a destination sends partial rows back).
     */
    private static void run(int[][] sends, int chunkRows, int chunks, Random random) {
        int ranks = sends.length;
        int[][] receives = new int[ranks][ranks];
        for (int s = 0; s < ranks; s++) {
            for (int d = 0; d < ranks; d++) {
                receives[d][s] = sends[s][d];
            }
        }
        int[] rounds = new int[ranks];
        int[] pc = new int[ranks];
        for (int r = 0; r < ranks; r++) {
            rounds[r] = CudaPrefillSchedule.rounds(sends[r], receives[r], chunkRows);
        }
        // written[s][d]: chunks s wrote for d; taken[d][s]: chunks d consumed from s; slot[s][d][i]: chunk in slot i.
        int[][] written = new int[ranks][ranks];
        int[][] taken = new int[ranks][ranks];
        int[][][] slot = new int[ranks][ranks][chunks];
        int[][] rowsArrived = new int[ranks][ranks];
        while (true) {
            List<Integer> ready = new ArrayList<>();
            boolean done = true;
            for (int r = 0; r < ranks; r++) {
                if (pc[r] < 4 * rounds[r]) {
                    done = false;
                    if (canRun(r, pc[r], sends, receives, written, taken, chunkRows, chunks)) {
                        ready.add(r);
                    }
                }
            }
            if (done) {
                break;
            }
            if (ready.isEmpty()) {
                fail("the ranks' rounds deadlock: program counters " + java.util.Arrays.toString(pc));
            }
            int r = ready.get(random.nextInt(ready.size()));
            int c = pc[r] / 4;
            Op op = Op.values()[pc[r] % 4];
            if (op == Op.PACK) {
                for (int d = 0; d < ranks; d++) {
                    if (c < CudaPrefillSchedule.chunksOf(sends[r][d], chunkRows)) {
                        assertTrue(c - taken[d][r] < chunks, "rank " + r + " rewrites a slot " + d + " still reads");
                        slot[r][d][c % chunks] = c;
                        written[r][d] = c + 1;
                    }
                }
            } else if (op == Op.COPY) {
                for (int s = 0; s < ranks; s++) {
                    if (c < CudaPrefillSchedule.chunksOf(receives[r][s], chunkRows)) {
                        assertTrue(written[s][r] > c, "rank " + r + " reads chunk " + c + " before " + s + " wrote it");
                        assertEquals(c, slot[s][r][c % chunks], "rank " + r + " reads a rewritten slot of " + s);
                        rowsArrived[r][s] += Math.min(chunkRows, receives[r][s] - c * chunkRows);
                        taken[r][s] = c + 1;
                    }
                }
            }
            pc[r]++;
        }
        for (int d = 0; d < ranks; d++) {
            for (int s = 0; s < ranks; s++) {
                assertEquals(sends[s][d], rowsArrived[d][s], "rows from " + s + " at " + d);
            }
        }
    }

    /** Whether rank r's next step may run: the wait kernels' conditions (tr_pf_wait); pack and copy always may. */
    private static boolean canRun(
            int r, int pc, int[][] sends, int[][] receives, int[][] written, int[][] taken, int chunkRows, int chunks) {
        int c = pc / 4;
        Op op = Op.values()[pc % 4];
        int ranks = sends.length;
        if (op == Op.CREDIT) {
            if (!CudaPrefillSchedule.waitsForCredit(c, chunks)) {
                return true;
            }
            for (int d = 0; d < ranks; d++) {
                boolean need = d != r && c < CudaPrefillSchedule.chunksOf(sends[r][d], chunkRows);
                if (need && taken[d][r] < c - chunks + 1) {
                    return false;
                }
            }
            return true;
        }
        if (op == Op.TAIL) {
            for (int s = 0; s < ranks; s++) {
                boolean need = s != r && c < CudaPrefillSchedule.chunksOf(receives[r][s], chunkRows);
                if (need && written[s][r] < c + 1) {
                    return false;
                }
            }
        }
        return true;
    }
}
