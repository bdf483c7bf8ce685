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
package io.tokenroute.routing.protocol;

/**
 * The collectives that share one sequence ({@code syncSeq}): each names itself in the sync word it publishes
 * ({@code syncSeq << 8 | code}) and in the header of any payload, so ranks that called different collectives at the
 * same point fail with {@link io.tokenroute.routing.CollectiveMismatchException} instead of reading each other's
 * payloads.
 */
enum Collective {
    BARRIER(1, "barrier()"),
    ALL_GATHER(2, "allGather()"),
    AGREE(3, "agreeMask()");

    final int code;
    final String call;

    Collective(int code, String call) {
        this.code = code;
        this.call = call;
    }

    /** The sync word of this collective at sequence {@code syncSeq}. */
    long word(long syncSeq) {
        return syncSeq << 8 | code;
    }

    /** The sequence part of a sync word. */
    static long sequenceOf(long word) {
        return word >>> 8;
    }

    /** The collective a sync word names, or null for a reset word (after a rendezvous). */
    static Collective of(long word) {
        int code = (int) (word & 0xff);
        for (Collective c : values()) {
            if (c.code == code) {
                return c;
            }
        }
        return null;
    }
}
