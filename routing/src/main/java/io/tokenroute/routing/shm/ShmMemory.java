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

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.memory.RankRegion;
import io.tokenroute.routing.memory.SymmetricMemory;
import io.tokenroute.routing.protocol.RegionLayout;
import io.tokenroute.routing.security.PrivateFiles;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.concurrent.locks.LockSupport;

/**
 * Symmetric memory for ranks that are processes of one host: one memory-mapped file per group, a header followed by R
 * rank regions, each region mapped as its own {@link MappedByteBuffer} and wrapped as a {@link RankRegion}. Every
 * process of the group maps the same file, so a release-store by the region's owner and an acquire-load by a peer are
 * ordinary CPU stores and loads (with their fences) on the same physical pages: the protocol's ordering holds across
 * processes as it does across threads.
 *
 * <pre>
 * offset  int64 field (native byte order)
 *   0     magic "TKRT-SHM"
 *   8     layout version ({@link #LAYOUT_VERSION})
 *  16     configuration fingerprint ({@link #fingerprint})
 *  24     R
 *  32     regionBytes ({@link RegionLayout#regionBytes()})
 *  40     region stride (regionBytes rounded up to a page)
 *  48     header bytes (offset of region 0; a multiple of the page size)
 *  56..104 experts, maxTokensPerRank, hidden, maxTopK, dtype ordinal, elastic, collectiveBytes (to name mismatches)
 * 128 + 64 r   attach word of rank r: its pid while attached, minus its pid once it left, 0 before anyone claimed it
 * 136 + 64 r   start time of that process (epoch ms), to tell a live holder from a reused pid
 * header bytes + r × stride   rank r's region
 * </pre>
 *
 * <p>The creator builds the file under a temporary name (zero-filled: a new file's bytes are zeros, the protocol's
 * initial state), writes the header, and publishes it with a hard link, so a process that opens the group path always
 * sees a complete header. The file and any directory made for it are private ({@link ShmAccess}): 0600 / 0700, set
 * explicitly whatever the umask; a process refuses to open a file that is not (another owner, a link, group or other
 * permissions), before reading any of it. Each region is page-aligned and at most 2 GiB (one mapping each); the file
 * may be larger. Closing unmaps this process's view only; it never waits on peers and never changes their view.
 */
final class ShmMemory implements SymmetricMemory {
    /** "TKRT-SHM" in ASCII, read as a big-endian long. */
    static final long MAGIC = 0x544B52542D53484DL;
    /** Version of the file layout above (and of the {@link RegionLayout} regions follow). */
    public static final long LAYOUT_VERSION = 4;

    private static final long PAGE = 4096;
    private static final int MAGIC_AT = 0;
    private static final int VERSION_AT = 8;
    private static final int FINGERPRINT_AT = 16;
    private static final int RANKS_AT = 24;
    private static final int REGION_BYTES_AT = 32;
    private static final int STRIDE_AT = 40;
    private static final int HEADER_BYTES_AT = 48;
    private static final int EXPERTS_AT = 56;
    private static final int MAX_TOKENS_AT = 64;
    private static final int HIDDEN_AT = 72;
    private static final int TOP_K_AT = 80;
    private static final int DTYPE_AT = 88;
    private static final int ELASTIC_AT = 96;
    private static final int COLLECTIVE_AT = 104;
    private static final int ATTACH_AT = 128;
    private static final int ATTACH_STRIDE = 64;
    private static final int FIXED_HEADER = 128;
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private final Path path;
    private final int ranks;
    private final long regionBytes;
    private final long fingerprint;
    private MappedByteBuffer header;
    private final MappedByteBuffer[] mappings;
    private final RankRegion[] regions;

    private ShmMemory(
            Path path,
            int ranks,
            long regionBytes,
            long fingerprint,
            MappedByteBuffer header,
            MappedByteBuffer[] mappings) {
        this.path = path;
        this.ranks = ranks;
        this.regionBytes = regionBytes;
        this.fingerprint = fingerprint;
        this.header = header;
        this.mappings = mappings;
        this.regions = new RankRegion[ranks];
        for (int r = 0; r < ranks; r++) {
            regions[r] = new RankRegion(mappings[r], regionBytes);
        }
    }

    // ------------------------------------------------------------------------------------------------ fingerprint

    /**
     * A 64-bit fingerprint of every {@link BufferConfig} field that shapes the shared memory or the protocol: R,
     * experts, maxTokensPerRank, hidden, maxTopK, dtype, elastic, collectiveBytes and the prefill queue sizes (not the
     * rank, the timeout, which
     * is a runtime setting, nor the phase listener), plus {@link #LAYOUT_VERSION}. Ranks of one group must agree on it.
     */
    public static long fingerprint(BufferConfig c) {
        String canonical = "layout=" + LAYOUT_VERSION + ";ranks=" + c.ranks() + ";experts=" + c.experts()
                + ";maxTokensPerRank=" + c.maxTokensPerRank() + ";hidden=" + c.hidden() + ";maxTopK=" + c.maxTopK()
                + ";dtype=" + c.dtype().name() + ";elastic=" + c.elastic() + ";collectiveBytes="
                + c.collectiveBytes()
                + (c.prefillMaxTokensPerRank() == 0
                        ? ""
                        : ";prefill=" + c.prefillMaxTokensPerRank() + "x" + c.prefillChunkRows() + "x"
                                + c.prefillChunks());
        long h = 0xcbf29ce484222325L;
        for (byte b : canonical.getBytes(StandardCharsets.US_ASCII)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h == 0 ? 1 : h;
    }

    // ------------------------------------------------------------------------------------------------ open / create

    static long headerBytes(int ranks) {
        return align(FIXED_HEADER + (long) ATTACH_STRIDE * ranks, PAGE);
    }

    static long align(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /** {@link #openOrCreate(Path, BufferConfig, ShmAccess)} with {@link ShmAccess#ownerOnly()}. */
    static ShmMemory openOrCreate(Path path, BufferConfig config) {
        return openOrCreate(path, config, ShmAccess.ownerOnly());
    }

    /**
     * Opens the group file at {@code path}, creating it if it does not exist, and checks that it is private as
     * {@code access} says and was made for {@code config}.
     *
     * @throws ShmJoinException the file is not private (naming its owner and mode), was made for another configuration
     *     or is not a group file, or the region is larger than 2 GiB, or there is no room for it
     */
    static ShmMemory openOrCreate(Path path, BufferConfig config, ShmAccess access) {
        Objects.requireNonNull(access, "access");
        long regionBytes = new RegionLayout(config).regionBytes();
        if (regionBytes > Integer.MAX_VALUE) {
            throw new ShmJoinException(
                    path,
                    "a rank region is limited to 2 GiB (one mapping each), this " + "configuration needs " + regionBytes
                            + " bytes: lower maxTokensPerRank, hidden or experts");
        }
        GroupPrincipal sharedWith;
        try {
            sharedWith = access.groupPrincipal();
        } catch (IOException e) {
            throw new ShmJoinException(
                    path,
                    "rank " + config.rank() + " cannot join group file " + path + " with " + access + ": "
                            + e.getMessage(),
                    e);
        }
        for (int attempt = 0; ; attempt++) {
            try {
                return open(path, config, regionBytes, sharedWith);
            } catch (AccessDeniedException e) {
                throw new ShmJoinException(
                        path,
                        "rank " + config.rank() + " cannot join group file " + path + ": "
                                + (e.getReason() != null ? e.getReason() : "permission denied")
                                + ". A group file must belong to the user the ranks run as and be private"
                                + " to it (mode 0600; ShmAccess.sharedWithGroup admits one named Unix group): delete "
                                + "it if"
                                + " it is not yours, or use another group name or directory",
                        e);
            } catch (NoSuchFileException missing) {
                if (create(path, config, regionBytes, sharedWith)) {
                    continue; // ours is published: open it like everyone else
                }
                if (attempt > 100) {
                    throw new ShmJoinException(path, "group file " + path + " keeps disappearing while joining");
                }
            } catch (IOException e) {
                throw new ShmJoinException(path, "cannot open group file " + path + ": " + e, e);
            }
        }
    }

    /** Builds the file under a temporary name and links it to {@code path}; false if another process won. */
    private static boolean create(Path path, BufferConfig config, long regionBytes, GroupPrincipal sharedWith) {
        int ranks = config.ranks();
        long headerBytes = headerBytes(ranks);
        long stride = align(regionBytes, PAGE);
        long total = headerBytes + stride * ranks;
        Path dir = path.toAbsolutePath().getParent();
        try {
            PrivateFiles.createDirectories(dir, sharedWith);
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < total) {
                throw new ShmJoinException(
                        path,
                        "group file " + path + " needs " + total + " bytes (" + ranks + " regions of " + regionBytes
                                + "), but only " + free + " bytes are free in " + dir);
            }
        } catch (IOException e) {
            throw new ShmJoinException(path, "cannot create group file in " + dir + ": " + e, e);
        }
        Path tmp = dir.resolve(path.getFileName() + ".tmp-" + Processes.selfPid() + "-" + System.nanoTime());
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp,
                    Set.of(
                            StandardOpenOption.CREATE_NEW,
                            StandardOpenOption.READ,
                            StandardOpenOption.WRITE,
                            LinkOption.NOFOLLOW_LINKS),
                    PrivateFiles.permissionsAttribute(false, sharedWith))) {
                // before any byte is written: the umask may have removed bits, a shared group must be set
                PrivateFiles.restrict(tmp, false, sharedWith);
                ch.write(ByteBuffer.wrap(new byte[1]), total - 1); // sized: every byte reads as zero
                MappedByteBuffer h = ch.map(FileChannel.MapMode.READ_WRITE, 0, headerBytes);
                try {
                    put(h, VERSION_AT, LAYOUT_VERSION);
                    put(h, FINGERPRINT_AT, fingerprint(config));
                    put(h, RANKS_AT, ranks);
                    put(h, REGION_BYTES_AT, regionBytes);
                    put(h, STRIDE_AT, stride);
                    put(h, HEADER_BYTES_AT, headerBytes);
                    put(h, EXPERTS_AT, config.experts());
                    put(h, MAX_TOKENS_AT, config.maxTokensPerRank());
                    put(h, HIDDEN_AT, config.hidden());
                    put(h, TOP_K_AT, config.maxTopK());
                    put(h, DTYPE_AT, config.dtype().ordinal());
                    put(h, ELASTIC_AT, config.elastic() ? 1 : 0);
                    put(h, COLLECTIVE_AT, config.collectiveBytes());
                    LONGS.setRelease(h, MAGIC_AT, MAGIC);
                } finally {
                    unmap(h);
                }
            }
            try {
                Files.createLink(path, tmp);
                return true;
            } catch (FileAlreadyExistsException lost) {
                return false;
            } catch (UnsupportedOperationException | IOException noLinks) {
                // a file system without hard links: a plain move that refuses to replace (not atomic, still safe
                // against a complete file being replaced)
                try {
                    Files.move(tmp, path);
                    return true;
                } catch (FileAlreadyExistsException lost) {
                    return false;
                }
            }
        } catch (IOException e) {
            throw new ShmJoinException(path, "cannot create group file " + path + ": " + e, e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // a leftover temporary name is harmless; the launcher removes its directory
            }
        }
    }

    private static ShmMemory open(Path path, BufferConfig config, long regionBytes, GroupPrincipal sharedWith)
            throws IOException {
        // Checked before opening (a foreign file is never read) and again after, by identity, so the file mapped is the
        // file checked; the open itself follows no link.
        PosixFileAttributes checked = PrivateFiles.requirePrivate(path, "group file", sharedWith, false);
        try (FileChannel ch =
                FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            PosixFileAttributes opened = PrivateFiles.requirePrivate(path, "group file", sharedWith, false);
            if (checked.fileKey() != null && !checked.fileKey().equals(opened.fileKey())) {
                throw new AccessDeniedException(
                        path.toString(),
                        null,
                        "group file was replaced while it was opened (" + checked.fileKey() + " became "
                                + opened.fileKey() + ")");
            }
            long size = ch.size();
            if (size < FIXED_HEADER) {
                throw new ShmJoinException(path, path + " is not a TokenRoute shm group file (" + size + " bytes)");
            }
            MappedByteBuffer fixed = ch.map(FileChannel.MapMode.READ_WRITE, 0, FIXED_HEADER);
            long headerBytes;
            try {
                validate(path, fixed, config, regionBytes, size);
                headerBytes = get(fixed, HEADER_BYTES_AT);
            } finally {
                unmap(fixed);
            }
            int ranks = config.ranks();
            long stride = align(regionBytes, PAGE);
            MappedByteBuffer header = ch.map(FileChannel.MapMode.READ_WRITE, 0, headerBytes);
            MappedByteBuffer[] maps = new MappedByteBuffer[ranks];
            try {
                for (int r = 0; r < ranks; r++) {
                    maps[r] = ch.map(FileChannel.MapMode.READ_WRITE, headerBytes + stride * r, regionBytes);
                }
            } catch (IOException | RuntimeException e) {
                unmap(header);
                for (MappedByteBuffer m : maps) {
                    unmap(m);
                }
                throw e;
            }
            return new ShmMemory(path, ranks, regionBytes, fingerprint(config), header, maps);
        }
    }

    /** Checks the fixed header against this rank's configuration; names every field that differs. */
    private static void validate(Path path, ByteBuffer h, BufferConfig c, long regionBytes, long size) {
        long magic = (long) LONGS.getAcquire(h, MAGIC_AT);
        if (magic != MAGIC) {
            throw new ShmJoinException(
                    path, path + " is not a TokenRoute shm group file (magic 0x" + Long.toHexString(magic) + ")");
        }
        long version = get(h, VERSION_AT);
        if (version != LAYOUT_VERSION) {
            throw new ShmJoinException(
                    path,
                    "group file " + path + " has layout version " + version + ", this library writes version "
                            + LAYOUT_VERSION + ": every rank must run the same version");
        }
        List<String> diffs = new ArrayList<>();
        compare(diffs, "ranks", get(h, RANKS_AT), c.ranks());
        compare(diffs, "experts", get(h, EXPERTS_AT), c.experts());
        compare(diffs, "maxTokensPerRank", get(h, MAX_TOKENS_AT), c.maxTokensPerRank());
        compare(diffs, "hidden", get(h, HIDDEN_AT), c.hidden());
        compare(diffs, "maxTopK", get(h, TOP_K_AT), c.maxTopK());
        long dtype = get(h, DTYPE_AT);
        if (dtype != c.dtype().ordinal()) {
            diffs.add("dtype: group has "
                    + (dtype >= 0 && dtype < HiddenDtype.values().length
                            ? HiddenDtype.values()[(int) dtype].name()
                            : "#" + dtype)
                    + ", this rank " + c.dtype());
        }
        long elastic = get(h, ELASTIC_AT);
        if ((elastic != 0) != c.elastic()) {
            diffs.add("elastic: group has " + (elastic != 0) + ", this rank " + c.elastic());
        }
        compare(diffs, "collectiveBytes", get(h, COLLECTIVE_AT), c.collectiveBytes());
        if (diffs.isEmpty()) {
            compare(diffs, "regionBytes", get(h, REGION_BYTES_AT), regionBytes);
        }
        if (diffs.isEmpty() && get(h, FINGERPRINT_AT) != fingerprint(c)) {
            diffs.add("configuration fingerprint: group has 0x" + Long.toHexString(get(h, FINGERPRINT_AT))
                    + ", this rank 0x" + Long.toHexString(fingerprint(c)));
        }
        if (!diffs.isEmpty()) {
            throw new ShmJoinException(
                    path,
                    "rank " + c.rank() + " cannot join group file " + path
                            + ": its configuration differs from the group's in " + String.join("; ", diffs)
                            + " (every rank must use equal configurations apart from rank, timeout and listener)");
        }
        long expected = headerBytes(c.ranks()) + align(regionBytes, PAGE) * c.ranks();
        if (get(h, HEADER_BYTES_AT) != headerBytes(c.ranks())
                || get(h, STRIDE_AT) != align(regionBytes, PAGE)
                || size < expected) {
            throw new ShmJoinException(
                    path,
                    "group file " + path + " is damaged: " + size + " bytes, header "
                            + get(h, HEADER_BYTES_AT) + ", stride " + get(h, STRIDE_AT) + " (expected " + expected
                            + ", "
                            + headerBytes(c.ranks()) + ", " + align(regionBytes, PAGE) + ")");
        }
    }

    private static void compare(List<String> diffs, String field, long group, long mine) {
        if (group != mine) {
            diffs.add(field + ": group has " + group + ", this rank " + mine);
        }
    }

    // ------------------------------------------------------------------------------------------------ rendezvous

    private static int attachAt(int rank) {
        return ATTACH_AT + ATTACH_STRIDE * rank;
    }

    /**
     * Claims rank {@code rank} for this process: its attach word goes from 0 (or from a holder that is dead or left,
     * provided another rank is still live) to this pid, then the rank's region records the configuration fingerprint.
     *
     * @throws ShmJoinException the rank is held by a live process, or the file is left over from a dead group
     */
    void claim(int rank) {
        long me = Processes.selfPid();
        long start = Processes.startMillis(me);
        if (anyAttached() && !anyLive(-1)) {
            throw stale();
        }
        while (true) {
            long current = (long) LONGS.getVolatile(header, attachAt(rank));
            if (current == 0) {
                if (LONGS.compareAndSet(header, attachAt(rank), 0L, me)) {
                    break;
                }
                continue;
            }
            long holder = Math.abs(current);
            if (current > 0 && holder == me) {
                throw new ShmJoinException(
                        path,
                        "rank " + rank + " of group file " + path + " is already attached by this process (pid " + me
                                + ")");
            }
            if (current > 0 && isLive(rank)) {
                throw new ShmJoinException(
                        path,
                        "rank " + rank + " of group file " + path + " is already attached by live process " + holder
                                + "; each rank joins once");
            }
            if (!anyLive(rank)) {
                throw stale();
            }
            // a replacement for a dead rank while the group lives on (it must readmit itself before its first step)
            if (LONGS.compareAndSet(header, attachAt(rank), current, me)) {
                break;
            }
        }
        LONGS.setVolatile(header, attachAt(rank) + 8, start);
        regions[rank].setRelease(RegionLayout.CONFIG_FINGERPRINT, fingerprint);
    }

    /**
     * Waits until every rank's attach word is set and its region carries this group's fingerprint.
     *
     * @throws ShmJoinException after {@code timeout}, listing the ranks still missing
     */
    void awaitAll(int self, Duration timeout) {
        long start = System.nanoTime();
        for (int pass = 0; ; pass++) {
            List<Integer> missing = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                long word = (long) LONGS.getVolatile(header, attachAt(r));
                long print = regions[r].getAcquire(RegionLayout.CONFIG_FINGERPRINT);
                if (word == 0 || print == 0) {
                    missing.add(r);
                } else if (print != fingerprint) {
                    throw new ShmJoinException(
                            path,
                            "rank " + r + " of group file " + path
                                    + " attached with configuration fingerprint 0x" + Long.toHexString(print)
                                    + ", this rank has 0x" + Long.toHexString(fingerprint));
                }
            }
            if (missing.isEmpty()) {
                return;
            }
            if (System.nanoTime() - start > timeout.toNanos()) {
                int[] absent = missing.stream().mapToInt(Integer::intValue).toArray();
                throw new ShmJoinException(
                        path,
                        "rank " + self + ": rank" + (absent.length > 1 ? "s " : " ")
                                + missing.toString().replaceAll("[\\[\\]]", "") + " of " + ranks
                                + " did not join group file "
                                + path + " within " + timeout.toMillis() + " ms (attached: " + describeAttached() + ")",
                        absent,
                        null);
            }
            LockSupport.parkNanos(Math.min(10_000_000L, 100_000L << Math.min(7, pass / 16)));
        }
    }

    /**
     * Marks {@code rank} (held by this process) as gone, then deletes the group file if no other rank is live:
     * attached, its process alive, not gone. Every rank marks itself before it looks at the others, so of two ranks
     * leaving at once at least one sees the other gone, and the last one out deletes the file even when ranks died.
     *
     * @return whether this call deleted the file
     */
    boolean leave(int rank) {
        long me = Processes.selfPid();
        LONGS.compareAndSet(header, attachAt(rank), me, -me); // full fence: the mark is visible before the scan
        if (anyLive(rank)) {
            return false;
        }
        try {
            return Files.deleteIfExists(path);
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether rank {@code r}'s holder is attached and alive (a stopped process counts as alive). */
    public boolean isLive(int r) {
        long word = (long) LONGS.getVolatile(header, attachAt(r));
        return word > 0 && Processes.isAlive(word, (long) LONGS.getVolatile(header, attachAt(r) + 8));
    }

    private ShmJoinException stale() {
        return new ShmJoinException(
                path,
                "group file " + path + " is left over from a group whose ranks are all" + " gone (" + describeAttached()
                        + "); delete it or use another group name");
    }

    private boolean anyAttached() {
        for (int r = 0; r < ranks; r++) {
            if (attachWord(r) != 0) {
                return true;
            }
        }
        return false;
    }

    private boolean anyLive(int except) {
        for (int r = 0; r < ranks; r++) {
            if (r != except && isLive(r)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The pid recorded for rank {@code r}: positive while attached, negative once it left (closed), 0 if no process
     * claimed it. A positive pid may belong to a process that died without leaving; see {@link #isLive}.
     */
    public long attachWord(int r) {
        return (long) LONGS.getVolatile(header, attachAt(r));
    }

    private String describeAttached() {
        StringJoiner out = new StringJoiner(", ");
        for (int r = 0; r < ranks; r++) {
            long word = attachWord(r);
            if (word != 0) {
                out.add("rank " + r + " pid " + Math.abs(word) + (word < 0 ? " left" : isLive(r) ? " live" : " dead"));
            }
        }
        return out.length() == 0 ? "none" : out.toString();
    }

    // ------------------------------------------------------------------------------------------------ SymmetricMemory

    @Override
    public int ranks() {
        return ranks;
    }

    @Override
    public RankRegion region(int rank) {
        return regions[rank];
    }

    @Override
    public long regionBytes() {
        return regionBytes;
    }

    /** The group file. */
    public Path path() {
        return path;
    }

    /**
     * Unmaps this process's view of the file (after every buffer over it was closed). Other processes keep theirs; the
     * file itself is deleted by {@link #leave}.
     */
    @Override
    public void close() {
        if (header == null) {
            return;
        }
        unmap(header);
        header = null;
        for (int r = 0; r < mappings.length; r++) {
            unmap(mappings[r]);
            mappings[r] = null;
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static long get(ByteBuffer b, int at) {
        return (long) LONGS.get(b, at);
    }

    private static void put(ByteBuffer b, int at, long v) {
        LONGS.set(b, at, v);
    }

    private static final Method INVOKE_CLEANER;
    private static final Object UNSAFE;

    static {
        Method m = null;
        Object u = null;
        try {
            Class<?> unsafe = Class.forName("sun.misc.Unsafe");
            Field f = unsafe.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            u = f.get(null);
            m = unsafe.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            m = null; // mappings are then released by the garbage collector
        }
        INVOKE_CLEANER = m;
        UNSAFE = u;
    }

    /**
     * Releases a mapping now instead of at garbage collection (a group of large regions would otherwise hold memory
     * long after it was closed). The caller guarantees nothing reads the mapping afterwards.
     */
    private static void unmap(MappedByteBuffer b) {
        if (b == null || INVOKE_CLEANER == null) {
            return;
        }
        try {
            INVOKE_CLEANER.invoke(UNSAFE, b);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // left to the garbage collector
        }
    }
}
