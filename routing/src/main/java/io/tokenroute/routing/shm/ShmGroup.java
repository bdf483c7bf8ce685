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
package io.tokenroute.routing.shm;

import io.tokenroute.arrow.internal.Closeables;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.host.HostElasticBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The {@code shm} transport: one rank per process, all processes of a group on one host, sharing a memory-mapped file
 * ({@link ShmMemory}). Each process joins with its own rank and drives its {@link ElasticBuffer} from one thread.
 *
 * <pre>{@code
 * BufferConfig config = BufferConfig.builder().ranks(4).rank(myRank).experts(64).hidden(7168).build();
 * try (BufferAllocator allocator = new RootAllocator();
 *      ShmGroup group = ShmGroup.join("decode-0", config, allocator, Duration.ofSeconds(60))) {
 *     ElasticBuffer buffer = group.buffer();
 *     Dispatched d = buffer.dispatch(batch);
 *     ...
 * }
 * }</pre>
 *
 * <p><b>Joining</b> opens the group file, creating it on first arrival, checks that it was made for an equal
 * configuration (a different one fails with a message naming every differing field), claims the rank's attach word
 * for this process (a second live claimant is refused), and waits until all R ranks attached; a timeout lists the
 * missing ranks. Everything is in {@link ShmJoinException}.
 *
 * <p><b>Who may join</b> (docs/contract.md §8): the group file holds every token routed through the group, so it is
 * private to the user the ranks run as. The first rank creates it 0600 (and any directory it needs 0700) whatever the
 * umask; a rank refuses, before reading a byte of it, a file owned by another user, open to its group or others, or
 * that is a symbolic link, naming the file, its owner and mode. {@link ShmAccess#sharedWithGroup} admits one named
 * Unix group instead, for ranks running as several users. Names under {@link #defaultDirectory()} are visible to every
 * local user, who could take a name first (the join then fails, it never joins their file): on a shared host give
 * the group a path in a directory of your own, as {@link io.tokenroute.routing.launch.RankLauncher} does.
 *
 * <p><b>Closing</b> closes the buffer, marks the rank gone and unmaps the file; it never waits on a peer. The last live
 * rank to close (live: attached, process alive, not gone) deletes the file, also when other ranks died; a launcher
 * should still delete what a group that died entirely leaves behind (the {@code RankLauncher} does).
 */
public final class ShmGroup implements ElasticGroup {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,200}");

    private final BufferConfig config;
    private final ShmMemory memory;
    private final BufferAllocator allocator;
    private final ElasticBuffer buffer;
    private boolean closed;

    private ShmGroup(BufferConfig config, ShmMemory memory, BufferAllocator allocator, ElasticBuffer buffer) {
        this.config = config;
        this.memory = memory;
        this.allocator = allocator;
        this.buffer = buffer;
    }

    /**
     * Joins the group named {@code name}: the file {@link #pathOf pathOf(name)}, private to this user.
     *
     * @see #join(Path, BufferConfig, BufferAllocator, Duration, ShmAccess)
     */
    public static ShmGroup join(String name, BufferConfig config, BufferAllocator allocator, Duration joinTimeout) {
        return join(pathOf(name), config, allocator, joinTimeout, ShmAccess.ownerOnly());
    }

    /**
     * Joins the group named {@code name}: the file {@link #pathOf pathOf(name)}, shared as {@code access} says.
     *
     * @see #join(Path, BufferConfig, BufferAllocator, Duration, ShmAccess)
     */
    public static ShmGroup join(
            String name, BufferConfig config, BufferAllocator allocator, Duration joinTimeout, ShmAccess access) {
        return join(pathOf(name), config, allocator, joinTimeout, access);
    }

    /**
     * Joins the group whose file is {@code groupFile}, private to this user ({@link ShmAccess#ownerOnly()}).
     *
     * @see #join(Path, BufferConfig, BufferAllocator, Duration, ShmAccess)
     */
    public static ShmGroup join(Path groupFile, BufferConfig config, BufferAllocator allocator, Duration joinTimeout) {
        return join(groupFile, config, allocator, joinTimeout, ShmAccess.ownerOnly());
    }

    /**
     * Joins the group whose shared file is {@code groupFile} as rank {@code config.rank()}, and returns once every rank
     * of the group attached.
     *
     * @param groupFile the group's file; the first rank to arrive creates it (and its missing directories), private
     *     as {@code access} says
     * @param config this rank's configuration; equal to every other rank's apart from rank, timeout and listener
     * @param allocator pays for the buffer's private memory (a child allocator, closed by {@link #close()}); the shared
     *     file is not accounted to it
     * @param joinTimeout how long to wait for the other ranks to attach
     * @param access who besides this user may open the file; every rank of the group passes the same
     * @throws ShmJoinException on a file that is not private (another owner, group or other permissions, a link: the
     *     message names file, owner and mode), a configuration mismatch, a rank held by a live process, a file left
     *     over from a dead group, or a timeout ({@link ShmJoinException#missingRanks()} says who is missing)
     */
    public static ShmGroup join(
            Path groupFile, BufferConfig config, BufferAllocator allocator, Duration joinTimeout, ShmAccess access) {
        Objects.requireNonNull(groupFile, "groupFile");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(allocator, "allocator");
        Objects.requireNonNull(access, "access");
        if (joinTimeout.isNegative()) {
            throw new IllegalArgumentException("joinTimeout must not be negative, got " + joinTimeout);
        }
        int rank = config.rank();
        ShmMemory memory = ShmMemory.openOrCreate(groupFile, config, access);
        boolean claimed = false;
        BufferAllocator child = null;
        try {
            memory.claim(rank);
            claimed = true;
            memory.awaitAll(rank, joinTimeout);
            child = allocator.newChildAllocator("shm-rank-" + rank, 0, Long.MAX_VALUE);
            ElasticBuffer buffer = new HostElasticBuffer(config, memory, child);
            return new ShmGroup(config, memory, child, buffer);
        } catch (RuntimeException | Error e) {
            if (child != null) {
                child.close();
            }
            if (claimed) {
                memory.leave(rank);
            }
            memory.close();
            throw e;
        }
    }

    /**
     * The file of the group named {@code name}: {@code tokenroute-<name>.shm} in {@code /dev/shm} where that is a
     * writable directory (memory-backed), else in {@code java.io.tmpdir}. Every process of one host resolves a name
     * to the same path.
     *
     * @param name letters, digits, '.', '_' and '-'
     */
    public static Path pathOf(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("group name must be 1-200 of [A-Za-z0-9._-], got '" + name + "'");
        }
        return defaultDirectory().resolve("tokenroute-" + name + ".shm");
    }

    /** {@code /dev/shm} where it is a writable directory, else {@code java.io.tmpdir}. */
    public static Path defaultDirectory() {
        Path shm = Path.of("/dev/shm");
        if (Files.isDirectory(shm) && Files.isWritable(shm)) {
            return shm;
        }
        return Path.of(System.getProperty("java.io.tmpdir"));
    }

    @Override
    public String transport() {
        return TransportSpec.SHM;
    }

    /** This process's buffer, owned by the group: do not close it yourself. */
    @Override
    public ElasticBuffer buffer() {
        return buffer;
    }

    /** This process's rank's buffer ({@code rank} must be {@link #rank()}). */
    @Override
    public ElasticBuffer buffer(int rank) {
        if (rank != rank()) {
            throw new IllegalArgumentException("this process hosts rank " + rank() + " of the shm group, not " + rank);
        }
        return buffer;
    }

    /** The one rank this process hosts. */
    @Override
    public int[] localRanks() {
        return new int[] {rank()};
    }

    /** This process's rank. */
    public int rank() {
        return config.rank();
    }

    /** R. */
    @Override
    public int ranks() {
        return config.ranks();
    }

    /** This rank's configuration. */
    public BufferConfig config() {
        return config;
    }

    /** The group file. */
    public Path path() {
        return memory.path();
    }

    /** The pid attached as {@code rank} (negative once it left, 0 if none): e.g. to signal a stalled peer. */
    public long pidOf(int rank) {
        if (rank < 0 || rank >= ranks()) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + ranks() + ")");
        }
        return memory.attachWord(rank);
    }

    /**
     * Closes the buffer and leaves the group without waiting on any peer: marks this rank gone, deletes the file if no
     * other rank is live, and unmaps it. If this rank's thread is still inside a call (a stopped rank), the buffer's
     * close waits only until that call is parked or in a listener; the call then fails if it ever resumes, before it
     * touches the unmapped memory.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Closeables.closeAll(buffer, allocator, () -> memory.leave(rank()), memory);
    }
}
