package io.tokenroute.routing.memory;

/**
 * Memory every rank of a group can read: one {@link RankRegion} per rank, laid out identically (same size, same
 * offsets), mapped into each rank's address space. The {@code local} transport backs it with off-heap memory of one JVM;
 * the {@code shm} transport with a memory-mapped file per group.
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
