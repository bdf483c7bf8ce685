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
package io.tokenroute.routing.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Where a job secret comes from (code, {@value JobSecret#ENV}, an owner-only {@value JobSecret#FILE_ENV}), what is
 * refused (short secrets, files others can read or another user owns, both variables at once), that it is never
 * printed, and that what a launcher exports is what the rank reads back.
 */
class JobSecretTest {
    private static final String TEXT = "5f1c0e2a9b7d4c3e8a6f0b1d2c3e4f5a";
    private Path dir;

    @BeforeEach
    void createDirectory() throws IOException {
        dir = Files.createTempDirectory("tokenroute-secret-");
    }

    @AfterEach
    void deleteDirectory() throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Test
    void generatedSecretsAreFreshHexAndNeverPrinted() {
        JobSecret a = JobSecret.generate();
        JobSecret b = JobSecret.generate();
        assertFalse(a.sameSecret(b));
        Map<String, String> env = new HashMap<>();
        a.exportTo(env);
        assertTrue(env.get(JobSecret.ENV).matches("[0-9a-f]{64}"), "32 random bytes as hex");
        assertFalse(a.toString().contains(env.get(JobSecret.ENV)), a.toString());
        assertTrue(a.toString().contains("64 bytes"), a.toString());
    }

    @Test
    void aShortSecretIsRefusedWithoutShowingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobSecret.of(" hunter2 \n"));
        assertTrue(e.getMessage().contains("7 bytes") && e.getMessage().contains("16"), e.getMessage());
        assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
        assertTrue(
                JobSecret.of("  " + TEXT + "\n").sameSecret(JobSecret.of(TEXT)),
                "surrounding whitespace is not" + " part of the secret");
    }

    @Test
    void theEnvironmentVariableOrAPrivateFileProvideIt() throws IOException {
        assertEquals(Optional.empty(), JobSecret.fromEnvironment(Map.of()));
        assertTrue(JobSecret.fromEnvironment(Map.of(JobSecret.ENV, TEXT))
                .orElseThrow()
                .sameSecret(JobSecret.of(TEXT)));
        Path file = privateFile("secret", TEXT + "\n");
        JobSecret fromFile = JobSecret.fromEnvironment(Map.of(JobSecret.FILE_ENV, file.toString()))
                .orElseThrow();
        assertTrue(fromFile.sameSecret(JobSecret.of(TEXT)), "the file's trailing newline is not part of it");
        assertTrue(fromFile.source().contains(file.toString()), fromFile.source());
        IllegalArgumentException both = assertThrows(
                IllegalArgumentException.class,
                () -> JobSecret.fromEnvironment(Map.of(JobSecret.ENV, TEXT, JobSecret.FILE_ENV, file.toString())));
        assertTrue(both.getMessage().contains("set only one"), both.getMessage());
    }

    @Test
    void aSecretFileOthersCanReadIsRefusedNamingItsMode() throws IOException {
        Path file = privateFile("secret", TEXT);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(file));
        assertMentions(e, file.toString(), "mode 0644 (rw-r--r--)", "other users may read it", "0600 or 0400");
        assertFalse(e.getMessage().contains(TEXT), "the secret is not shown");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("r--r-----"));
        assertMentions(assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(file)), "its group");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("r--------"));
        assertTrue(JobSecret.fromFile(file).sameSecret(JobSecret.of(TEXT)), "read-only for the owner is fine");
    }

    @Test
    void aSecretFileOfAnotherUserIsRefused() throws IOException {
        UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
        assumeTrue(
                PrivateFiles.currentUser().equals(users.lookupPrincipalByName("0")),
                "not root: cannot give a file to another user, so this case is skipped");
        Path file = privateFile("secret", TEXT);
        Files.setOwner(file, users.lookupPrincipalByName("65534"));
        assertMentions(
                assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(file)),
                "belongs to another user");
    }

    @Test
    void aLinkToAPrivateFileIsFollowedAndItsTargetChecked() throws IOException {
        Path target = privateFile("target", TEXT);
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        assertTrue(JobSecret.fromFile(link).sameSecret(JobSecret.of(TEXT)));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw----r--"));
        assertMentions(
                assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(link)),
                "other users may read it");
    }

    @Test
    void anOversizedOrEmptySecretFileIsRefused() throws IOException {
        Path big = privateFile("big", "x".repeat(JobSecret.MAX_BYTES + 1));
        assertMentions(assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(big)), "at most 4096");
        Path empty = privateFile("empty", "\n");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> JobSecret.fromFile(empty)), "0 bytes");
    }

    @Test
    void whatALauncherExportsIsWhatTheRankReads() throws IOException {
        Path file = privateFile("secret", TEXT);
        Map<String, String> child = new HashMap<>(Map.of(JobSecret.FILE_ENV, file.toString(), "OTHER", "kept"));
        JobSecret secret = JobSecret.generate();
        secret.exportTo(child);
        assertFalse(child.containsKey(JobSecret.FILE_ENV), "an inherited file variable would make it ambiguous");
        assertEquals("kept", child.get("OTHER"));
        assertTrue(JobSecret.fromEnvironment(child).orElseThrow().sameSecret(secret));
    }

    private Path privateFile(String name, String content) throws IOException {
        Path file = Files.createFile(
                dir.resolve(name), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, content);
        return file;
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }
}
