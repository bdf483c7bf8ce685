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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.security.JobSecret;
import io.tokenroute.routing.security.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Who may join an {@code shm} group (docs/contract.md §8): group files and the directories made for them are
 * owner-only whatever the umask; a file that is world- or group-readable, owned by another user, or a link is refused
 * with its owner and mode named, and left untouched; {@link ShmAccess#sharedWithGroup} admits exactly one named group.
 * Foreign ownership needs root to set up (chown to uid 65534); without root those cases skip with their reason.
 */
class GroupFileAccessTest {
    private static final UserPrincipal NOBODY = user("65534");
    private Path dir;
    private Path file;

    @BeforeEach
    void createDirectory() throws IOException {
        dir = Files.createTempDirectory(ShmGroup.defaultDirectory(), "tokenroute-access-");
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

    static BufferConfig config() {
        return BufferConfig.builder()
                .ranks(2)
                .experts(8)
                .maxTopK(2)
                .hidden(64)
                .maxTokensPerRank(4)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    // ------------------------------------------------------------------------------------------------ creating

    @Test
    void theFileAndEveryDirectoryMadeForItAreOwnerOnly() throws IOException {
        Path nested = dir.resolve("a").resolve("b").resolve("group.shm");
        ShmMemory.openOrCreate(nested, config()).close();
        assertMode("rw-------", nested);
        assertMode("rwx------", dir.resolve("a"));
        assertMode("rwx------", dir.resolve("a").resolve("b"));
        assertEquals(PrivateFiles.currentUser(), Files.getOwner(nested));
        try (Stream<Path> siblings = Files.list(nested.getParent())) {
            assertEquals(List.of(nested), siblings.toList(), "no temporary file left behind");
        }
    }

    /** A process with a permissive (000) or a crippling (277: no owner write) umask still makes 0600 / 0700. */
    @ParameterizedTest
    @ValueSource(strings = {"000", "277"})
    void permissionsDoNotDependOnTheUmask(String umask) throws Exception {
        Path nested = dir.resolve("u" + umask).resolve("group.shm");
        List<String> command = new ArrayList<>(List.of(
                "/bin/sh",
                "-c",
                "umask " + umask + " && exec \"$@\"",
                "sh",
                ProcessHandle.current().info().command().orElseThrow()));
        command.addAll(RankLauncher.requiredJvmOptions());
        command.addAll(List.of(
                "-cp",
                System.getProperty("java.class.path"),
                PrivateFilesProbe.class.getName(),
                "create",
                nested.toString()));
        Process probe = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(probe.getInputStream().readAllBytes());
        assertTrue(probe.waitFor(60, TimeUnit.SECONDS), "probe did not exit");
        assertEquals(0, probe.exitValue(), output);
        assertMode("rw-------", nested);
        assertMode("rwx------", nested.getParent());
    }

    @Test
    void aSharedGroupMakesGroupReadableFilesOfThatGroup() throws IOException {
        GroupPrincipal group =
                Files.readAttributes(dir, PosixFileAttributes.class).group();
        Path nested = dir.resolve("shared").resolve("group.shm");
        ShmMemory.openOrCreate(nested, config(), ShmAccess.sharedWithGroup(group.getName()))
                .close();
        assertMode("rw-rw----", nested);
        assertMode("rwxrwx---", nested.getParent());
        assertEquals(
                group, Files.readAttributes(nested, PosixFileAttributes.class).group());
    }

    @Test
    void theLauncherDirectoryIsOwnerOnly() throws IOException {
        try (RankLauncher launcher = RankLauncher.builder(PrivateFilesProbe.class.getName(), 2)
                .only()
                .start()) {
            assertMode("rwx------", launcher.directory());
        }
    }

    // ------------------------------------------------------------------------------------------------ joining

    @Test
    void aWorldReadableFileIsRefusedNamingOwnerAndModeAndLeftAlone() throws IOException {
        ShmMemory.openOrCreate(file, config()).close();
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        byte[] before = Files.readAllBytes(file);
        ShmJoinException e = assertThrows(ShmJoinException.class, () -> join(file, ShmAccess.ownerOnly()));
        assertMentions(
                e,
                "cannot join group file " + file,
                "owner " + PrivateFiles.currentUser().getName(),
                "mode 0644 (rw-r--r--)",
                "other users may read it");
        assertEquals(file, e.groupFile());
        assertMode("rw-r--r--", file);
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(file)), "a refused join wrote nothing");
    }

    @Test
    void aGroupReadableOrWorldWritableFileIsRefused() throws IOException {
        ShmMemory.openOrCreate(file, config()).close();
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        assertMentions(
                assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config())),
                "mode 0640 (rw-r-----)",
                "its group",
                "may read it");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-----w-"));
        assertMentions(
                assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config())),
                "mode 0602 (rw-----w-)",
                "other users may write it");
    }

    @Test
    void aFileOwnedByAnotherUserIsRefused() throws IOException {
        assumeRoot();
        ShmMemory.openOrCreate(file, config()).close();
        Files.setOwner(file, NOBODY);
        String owner = Files.getOwner(file).getName();
        ShmJoinException e = assertThrows(ShmJoinException.class, () -> join(file, ShmAccess.ownerOnly()));
        assertMentions(
                e,
                file.toString(),
                "owner " + owner,
                "mode 0600 (rw-------)",
                "belongs to another user than the one this process runs as");
        assertEquals(NOBODY, Files.getOwner(file), "left as it was");
    }

    @Test
    void aNamedGroupAdmitsItsFilesAndNoOthers() throws IOException {
        ShmMemory.openOrCreate(file, config()).close();
        GroupPrincipal group =
                Files.readAttributes(file, PosixFileAttributes.class).group();
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw----"));
        ShmMemory.openOrCreate(file, config(), ShmAccess.sharedWithGroup(group.getName()))
                .close();
        assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config()), "owner-only by default");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw-r--"));
        assertMentions(
                assertThrows(
                        ShmJoinException.class,
                        () -> ShmMemory.openOrCreate(file, config(), ShmAccess.sharedWithGroup(group.getName()))),
                "other users may read it");
    }

    @Test
    void aNamedGroupAdmitsAnotherMembersFile() throws IOException {
        assumeRoot();
        ShmMemory.openOrCreate(file, config()).close();
        GroupPrincipal group =
                Files.readAttributes(file, PosixFileAttributes.class).group();
        Files.setOwner(file, NOBODY);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw----"));
        ShmMemory.openOrCreate(file, config(), ShmAccess.sharedWithGroup(group.getName()))
                .close();
        ShmJoinException e = assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config()));
        assertMentions(e, "belongs to another user", "its group " + group.getName() + " may read and write it");
    }

    @Test
    void aSymbolicLinkIsRefusedEvenToAPrivateGroupFile() throws IOException {
        Path real = dir.resolve("real.shm");
        ShmMemory.openOrCreate(real, config()).close();
        Files.createSymbolicLink(file, real);
        assertMentions(
                assertThrows(ShmJoinException.class, () -> ShmMemory.openOrCreate(file, config())),
                "not a regular file (a symbolic link)");
        assertTrue(Files.isSymbolicLink(file), "the link was not replaced");
    }

    @Test
    void anUnknownGroupIsNamed() {
        ShmJoinException e = assertThrows(
                ShmJoinException.class,
                () -> ShmMemory.openOrCreate(file, config(), ShmAccess.sharedWithGroup("no-such-group-tr22")));
        assertMentions(e, "no Unix group 'no-such-group-tr22'");
        assertFalse(Files.exists(file, LinkOption.NOFOLLOW_LINKS), "nothing was created");
        assertThrows(IllegalArgumentException.class, () -> ShmAccess.sharedWithGroup(" "));
    }

    // ------------------------------------------------------------------------------------------------ launcher

    @Test
    void launchedRanksGetTheJobSecretInTheirEnvironmentNotOnTheCommandLine() throws Exception {
        JobSecret secret = JobSecret.of("a-test-secret-of-tokenroute-22");
        try (RankLauncher launcher = RankLauncher.builder(PrivateFilesProbe.class.getName(), 2)
                .jvmOptions("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m")
                .args((rank, f) -> List.of("secret"))
                .jobSecret(secret)
                .start()) {
            for (RankLauncher.RankResult r : launcher.awaitAll(Duration.ofMinutes(2))) {
                assertTrue(r.ok(), r.describe());
                assertEquals("a-test-secret-of-tokenroute-22", r.values().get("secret"), r.describe());
                assertEquals("false", r.values().get("onCommandLine"), r.describe());
            }
        }
    }

    /**
     * A launched rank finds its place the way it would under torchrun, Slurm or mpirun, from the environment alone,
     * and the launcher's word wins over a launcher-style environment inherited from this process.
     */
    @Test
    void launchedRanksFindRankWorldSizeAndRendezvousInTheirEnvironment() throws Exception {
        try (RankLauncher launcher = RankLauncher.builder(PrivateFilesProbe.class.getName(), 3)
                .jvmOptions("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m")
                .args((rank, f) -> List.of("environment"))
                .environment("TOKENROUTE_RENDEZVOUS", "127.0.0.1:40123")
                .environment("RANK", "7")
                .environment("WORLD_SIZE", "9")
                .start()) {
            List<RankLauncher.RankResult> results = launcher.awaitAll(Duration.ofMinutes(2));
            for (int r = 0; r < results.size(); r++) {
                RankLauncher.RankResult result = results.get(r);
                assertTrue(result.ok(), result.describe());
                assertEquals(Integer.toString(r), result.values().get("rank"), result.describe());
                assertEquals("3", result.values().get("worldSize"), result.describe());
                assertEquals(Integer.toString(r), result.values().get("localRank"), result.describe());
                assertEquals("127.0.0.1:40123", result.values().get("rendezvous"), result.describe());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static void join(Path groupFile, ShmAccess access) {
        try (BufferAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(groupFile, config(), allocator, Duration.ofMillis(100), access)) {
            throw new AssertionError("joined " + group.path());
        }
    }

    private static void assumeRoot() throws IOException {
        assumeTrue(
                PrivateFiles.currentUser().equals(user("0")),
                "not root: cannot give a file to another user, so the foreign-owner case is skipped");
    }

    private static UserPrincipal user(String uid) {
        try {
            return Path.of("/").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(uid);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertMode(String expected, Path path) throws IOException {
        Set<PosixFilePermission> actual = Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS);
        assertEquals(expected, PosixFilePermissions.toString(actual), path.toString());
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }
}
