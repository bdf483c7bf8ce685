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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.RankFault;
import io.tokenroute.routing.protocol.RegionLayout;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The group file and its rendezvous, within this JVM: header validation, claims, stale files, cleanup, layout. */
class ShmMemoryTest {
    private Path dir;
    private Path file;

    @BeforeEach
    void createDirectory() throws IOException {
        dir = Files.createTempDirectory(ShmGroup.defaultDirectory(), "tokenroute-memtest-");
        file = dir.resolve("group.shm");
    }

    @AfterEach
    void deleteDirectory() throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static BufferConfig config(int ranks) {
        return BufferConfig.builder()
                .ranks(ranks)
                .experts(4 * ranks)
                .maxTopK(2)
                .hidden(64)
                .maxTokensPerRank(4)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    @Test
    void fingerprintCoversEveryFieldButRankTimeoutAndListener() {
        BufferConfig base = config(2);
        long print = ShmMemory.fingerprint(base);
        assertEquals(print, ShmMemory.fingerprint(base.withRank(1)));
        assertEquals(
                print,
                ShmMemory.fingerprint(
                        base.toBuilder().timeout(Duration.ofMillis(3)).build()));
        assertEquals(print, ShmMemory.fingerprint(PhaseHooks.listening(base, (r, p, s) -> {})));
        BufferConfig[] others = {
            base.toBuilder().ranks(4).experts(8).build(),
            base.toBuilder().experts(16).build(),
            base.toBuilder().maxTokensPerRank(5).build(),
            base.toBuilder().hidden(128).build(),
            base.toBuilder().maxTopK(3).build(),
            base.toBuilder().dtype(HiddenDtype.FP32).build(),
            base.toBuilder().elastic(false).build(),
            base.toBuilder().collectiveBytes(7).build()
        };
        for (BufferConfig other : others) {
            assertNotEquals(print, ShmMemory.fingerprint(other), other.toString());
        }
    }

    @Test
    void attachingWithAnotherConfigurationNamesEveryDifference() {
        try (ShmMemory created = ShmMemory.openOrCreate(file, config(2))) {
            BufferConfig other = config(2).toBuilder()
                    .rank(1)
                    .hidden(128)
                    .elastic(false)
                    .collectiveBytes(9)
                    .build();
            ShmJoinException e = assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, other));
            assertTrue(e.getMessage().contains("rank 1 cannot join group file " + file), e.getMessage());
            assertTrue(e.getMessage().contains("hidden: group has 64, this rank 128"), e.getMessage());
            assertTrue(e.getMessage().contains("elastic: group has true, this rank false"), e.getMessage());
            assertTrue(e.getMessage().contains("collectiveBytes: group has 1048576, this rank 9"), e.getMessage());
            assertFalse(e.getMessage().contains("experts"), e.getMessage());
        }
    }

    @Test
    void aFileThatIsNotAGroupIsRefused() throws IOException {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.write(file, new byte[4096]);
        ShmJoinException e = assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config(2)));
        assertTrue(e.getMessage().contains("is not a TokenRoute shm group file"), e.getMessage());
    }

    @Test
    void theFileStartsZeroedWithPageAlignedRegions() {
        BufferConfig config = config(3);
        try (ShmMemory memory = ShmMemory.openOrCreate(file, config)) {
            assertEquals(3, memory.ranks());
            assertEquals(new RegionLayout(config).regionBytes(), memory.regionBytes());
            for (int r = 0; r < 3; r++) {
                assertEquals(0, memory.region(r).address(0) % 4096, "region " + r + " is page-aligned");
                for (int word = 0; word < 384; word += 8) {
                    assertEquals(0, memory.region(r).getAcquire(word), "control word " + word + " of rank " + r);
                }
                assertEquals(0, memory.attachWord(r));
            }
        }
    }

    @Test
    void aRankIsClaimedOnceAndTheLastToLeaveDeletesTheFile() {
        try (ShmMemory a = ShmMemory.openOrCreate(file, config(2));
                ShmMemory b = ShmMemory.openOrCreate(file, config(2).withRank(1))) {
            a.claim(0);
            ShmJoinException twice = assertThrows(ShmJoinException.class, () -> b.claim(0));
            assertTrue(
                    twice.getMessage()
                            .contains("rank 0 of group file " + file + " is already attached by this" + " process"),
                    twice.getMessage());
            b.claim(1);
            assertEquals(ProcessHandle.current().pid(), a.attachWord(1));
            assertEquals(ShmMemory.fingerprint(config(2)), a.region(1).getAcquire(RegionLayout.CONFIG_FINGERPRINT));
            a.awaitAll(0, Duration.ofSeconds(1));
            assertFalse(a.leave(0), "rank 1 is still live");
            assertTrue(Files.exists(file));
            assertEquals(-ProcessHandle.current().pid(), b.attachWord(0), "a rank that left is marked gone");
            assertTrue(b.leave(1), "the last live rank deletes the file");
            assertFalse(Files.exists(file));
        }
    }

    @Test
    void joinTimeoutListsTheMissingRanks() {
        try (BufferAllocator allocator = new RootAllocator()) {
            ShmJoinException e = assertThrows(
                    ShmJoinException.class,
                    () -> ShmGroup.join(file, config(4).withRank(2), allocator, Duration.ofMillis(200)));
            assertArrayEquals(new int[] {0, 1, 3}, e.missingRanks());
            assertTrue(
                    e.getMessage()
                            .contains("rank 2: ranks 0, 1, 3 of 4 did not join group file " + file + " within 200 ms"),
                    e.getMessage());
            assertFalse(Files.exists(file), "the only rank removed the file when it gave up");
        }
    }

    @Test
    void aFileLeftByADeadGroupIsRefused() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        try (ShmMemory memory = ShmMemory.openOrCreate(file, config(2))) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MappedByteBuffer header = ch.map(FileChannel.MapMode.READ_WRITE, 0, 4096);
                header.order(ByteOrder.nativeOrder()).putLong(128, gone.pid()); // rank 0's attach word
            }
            assertFalse(memory.isLive(0));
            ShmJoinException e = assertThrows(ShmJoinException.class, () -> memory.claim(1));
            assertTrue(
                    e.getMessage()
                            .contains("left over from a group whose ranks are all gone (rank 0 pid " + gone.pid()
                                    + " dead)"),
                    e.getMessage());
        }
    }

    @Test
    void aOneRankGroupRunsStepsAndRemovesItsFile() {
        BufferConfig config = config(1);
        try (BufferAllocator allocator = new RootAllocator()) {
            try (ShmGroup group = ShmGroup.join(file, config, allocator, Duration.ofSeconds(5))) {
                assertEquals(file, group.path());
                assertEquals(ProcessHandle.current().pid(), group.pidOf(0));
                for (int s = 0; s < 3; s++) {
                    RankInput[] in = {RankInput.random(5, s, 0, 4, 64, 2, 4, true)};
                    StepChecker.step(
                            group.buffer(),
                            allocator,
                            in,
                            DispatchOptions.BF16,
                            s % 2 == 0,
                            StepChecker.Presence.all(1));
                }
            }
            assertFalse(Files.exists(file));
        }
    }

    @Test
    void namesResolveUnderDevShmOrTheTemporaryDirectory() {
        Path p = ShmGroup.pathOf("decode-0");
        assertEquals("tokenroute-decode-0.shm", p.getFileName().toString());
        assertEquals(ShmGroup.defaultDirectory(), p.getParent());
        assertThrows(IllegalArgumentException.class, () -> ShmGroup.pathOf("../etc"));
        assertThrows(IllegalArgumentException.class, () -> ShmGroup.pathOf(""));
    }

    @Test
    void faultsParseAndPrintAlike() {
        RankFault f = RankFault.kill(Phase.COMBINE_RECV, 4);
        assertEquals("KILL:COMBINE_RECV:4", f.toString());
        assertEquals(f, RankFault.parse("kill:combine_recv:4"));
        assertEquals(RankFault.stop(Phase.BARRIER, 1), RankFault.parse("STOP:BARRIER:1"));
        assertThrows(IllegalArgumentException.class, () -> RankFault.parse("KILL:NOWHERE:1"));
        assertThrows(IllegalArgumentException.class, () -> RankFault.parse("KILL:BARRIER:0"));
    }
}
