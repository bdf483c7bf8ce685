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
package io.tokenroute.routing.memory;

/**
 * Memory every rank of a group can read: one {@link RankRegion} per rank, laid out identically (same size, same
 * offsets), mapped into each rank's address space. The {@code local} transport backs it with off-heap memory of one
 * JVM; the {@code shm} transport with a memory-mapped file per group.
 *
 * <p>Closing releases this process's mapping; it never waits on other ranks.
 */
public interface SymmetricMemory extends AutoCloseable {

    /** Number of ranks, R. */
    int ranks();

    /** The region owned by {@code rank}, {@code 0 <= rank < R}. */
    RankRegion region(int rank);

    /** Bytes of each rank's region. */
    long regionBytes();

    @Override
    void close();
}
