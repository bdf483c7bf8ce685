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

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The per-job secret the ranks of one job share, so that the unique-id rendezvous of the {@code nvshmem} transport
 * admits only them (docs/contract.md §8). It is never sent: both sides prove they hold it with an HMAC over fresh
 * nonces.
 *
 * <p>Where it comes from, as launchers provide it: {@code $}{@value #ENV} (the secret's text), or
 * {@code $}{@value #FILE_ENV} naming a file that holds it and is private to the user the rank runs as (a regular file
 * it owns with mode 0600 or 0400; a link is followed and its target checked); or {@link #of} /
 * {@link #fromFile} in code, passed with {@code NvshmemOptions.withSecret}. {@link #generate()} makes a fresh one
 * (32 random bytes as 64 hex digits), e.g. {@code openssl rand -hex 32} on the command line does the same.
 * The {@code RankLauncher} gives every process it starts one through the environment, which
 * only the same user (and root) can read; never put a secret on a command line, which every local user can read.
 *
 * <p>The secret's text is taken with surrounding whitespace removed (a file's trailing newline) and must have at least
 * {@value #MIN_BYTES} bytes in UTF-8. {@link #toString()} never shows it. Immutable and thread-safe.
 */
public final class JobSecret {
    /** Environment variable holding the secret's text. */
    public static final String ENV = "TOKENROUTE_JOB_SECRET";
    /** Environment variable naming an owner-only file that holds the secret's text. */
    public static final String FILE_ENV = "TOKENROUTE_JOB_SECRET_FILE";
    /** The shortest secret accepted, in bytes: shorter ones could be guessed offline from one recorded handshake. */
    public static final int MIN_BYTES = 16;
    /** The longest secret (and secret file) accepted, in bytes. */
    public static final int MAX_BYTES = 4096;

    private static final int GENERATED_BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String text;
    private final byte[] key;
    private final String source;

    private JobSecret(String text, String source) {
        this.text = text;
        this.key = text.getBytes(StandardCharsets.UTF_8);
        this.source = source;
    }

    /**
     * A secret given as text, e.g. read from a launcher's configuration.
     *
     * @throws IllegalArgumentException if it has fewer than {@value #MIN_BYTES} or more than {@value #MAX_BYTES}
     *     bytes once trimmed (the message never shows the text)
     */
    public static JobSecret of(String text) {
        return parse(Objects.requireNonNull(text, "text"), "a secret given in code");
    }

    /** A fresh random secret: 32 bytes from {@link SecureRandom}, as 64 hex digits. */
    public static JobSecret generate() {
        byte[] bytes = new byte[GENERATED_BYTES];
        RANDOM.nextBytes(bytes);
        return new JobSecret(HexFormat.of().formatHex(bytes), "a generated secret");
    }

    /**
     * The secret held in {@code file}, which must be private to this process's user (see
     * {@link PrivateFiles#requirePrivate}): a file others could read is no secret, and one another user owns could
     * have been written by them.
     *
     * @throws IllegalArgumentException naming the file (and its owner and mode) when it is not private, too large or
     *     holds too short a secret
     * @throws UncheckedIOException if it cannot be read
     */
    public static JobSecret fromFile(Path file) {
        Objects.requireNonNull(file, "file");
        String where = "job secret file " + file;
        try {
            PosixFileAttributes attrs = PrivateFiles.requirePrivate(file, "job secret file", true);
            if (attrs.size() > MAX_BYTES) {
                throw new IllegalArgumentException(
                        where + " has " + attrs.size() + " bytes; a secret has at most " + MAX_BYTES);
            }
            return parse(Files.readString(file, StandardCharsets.UTF_8), where);
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException(
                    file + ": " + (e.getReason() != null ? e.getReason() : "permission denied")
                            + ". A job secret file must belong to the user the ranks run as, with"
                            + " mode 0600 or 0400",
                    e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + where + ": " + e, e);
        }
    }

    /**
     * The secret this process's environment provides: {@code $}{@value #ENV}, or the file {@code $}{@value #FILE_ENV}
     * names; empty when neither is set.
     *
     * @throws IllegalArgumentException when both are set (which one is meant is unclear), or the value is unusable
     */
    public static Optional<JobSecret> fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** {@link #fromEnvironment()} over the given variables. */
    static Optional<JobSecret> fromEnvironment(Map<String, String> environment) {
        String value = environment.get(ENV);
        String file = environment.get(FILE_ENV);
        boolean hasValue = value != null && !value.isBlank();
        boolean hasFile = file != null && !file.isBlank();
        if (hasValue && hasFile) {
            throw new IllegalArgumentException("both " + ENV + " and " + FILE_ENV + " are set: set only one");
        }
        if (hasValue) {
            return Optional.of(parse(value, "$" + ENV));
        }
        return hasFile ? Optional.of(fromFile(Path.of(file.trim()))) : Optional.empty();
    }

    private static JobSecret parse(String text, String source) {
        String trimmed = text.strip();
        int bytes = trimmed.getBytes(StandardCharsets.UTF_8).length;
        if (bytes < MIN_BYTES || bytes > MAX_BYTES) {
            throw new IllegalArgumentException(source + " has " + bytes + " bytes; a job secret needs " + MIN_BYTES
                    + ".." + MAX_BYTES + " (e.g. 32 random bytes as hex: openssl rand -hex 32)");
        }
        return new JobSecret(trimmed, source);
    }

    /**
     * Puts this secret into a child process's environment ({@link ProcessBuilder#environment()}): sets
     * {@value #ENV} and removes {@value #FILE_ENV}, so the child reads exactly this secret.
     */
    public void exportTo(Map<String, String> environment) {
        environment.remove(FILE_ENV);
        environment.put(ENV, text);
    }

    /** Where the secret came from, for messages (never the secret itself). */
    public String source() {
        return source;
    }

    /**
     * HMAC-SHA256 of {@code message} keyed with this secret (the text's UTF-8 bytes): what a handshake derives its
     * proofs and keys from, so the key material itself never leaves this object.
     */
    public byte[] hmacSha256(byte[] message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(message);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }

    /** Whether {@code other} holds the same secret (compared in constant time). */
    public boolean sameSecret(JobSecret other) {
        return MessageDigest.isEqual(key, other.key);
    }

    /** The source and length, never the secret. */
    @Override
    public String toString() {
        return "JobSecret[" + source + ", " + key.length + " bytes]";
    }
}
