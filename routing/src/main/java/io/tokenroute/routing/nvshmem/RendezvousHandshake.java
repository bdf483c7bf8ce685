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
package io.tokenroute.routing.nvshmem;

import io.tokenroute.routing.security.JobSecret;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The cryptography of one rendezvous connection: mutual proof of the job secret, and the unique id sealed for the
 * rank that proved it. Standard JDK primitives only (HmacSHA256, AES-256-GCM, {@link SecureRandom}).
 *
 * <p>Both sides pick a fresh 32-byte nonce. The transcript is a label, the rank and group size the client claimed,
 * and both nonces; each proof is HmacSHA256(secret, transcript) under its own label ({@code server}, {@code client},
 * {@code ack}), so no proof can be replayed on another connection or reflected to the other side. The id is encrypted
 * and authenticated with AES-GCM under a key derived the same way ({@code id-key}), so an eavesdropper does not learn
 * it and a man in the middle cannot swap it. Proofs are compared in constant time ({@link MessageDigest#isEqual}).
 */
final class RendezvousHandshake {
    static final int NONCE_BYTES = 32;
    static final int PROOF_BYTES = 32;
    private static final int IV_BYTES = 12;
    private static final int TAG_BYTES = 16;
    /** What sealing adds to the id: the IV in front, the GCM tag behind. */
    static final int SEAL_OVERHEAD = IV_BYTES + TAG_BYTES;

    private static final String CONTEXT = "TokenRoute unique-id rendezvous v" + UniqueIdRendezvous.VERSION + " ";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final JobSecret secret;
    private final int rank;
    private final int ranks;
    private final byte[] clientNonce;
    private final byte[] serverNonce;

    /**
     * @param rank the rank the client claimed
     * @param ranks the group size the client claimed
     */
    RendezvousHandshake(JobSecret secret, int rank, int ranks, byte[] clientNonce, byte[] serverNonce) {
        this.secret = secret;
        this.rank = rank;
        this.ranks = ranks;
        this.clientNonce = clientNonce.clone();
        this.serverNonce = serverNonce.clone();
    }

    /** A fresh random nonce. */
    static byte[] nonce() {
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        return nonce;
    }

    byte[] serverNonce() {
        return serverNonce.clone();
    }

    /** The server's proof that it holds the secret. */
    byte[] serverProof() {
        return hmac("server");
    }

    /** The client's proof that it holds the secret. */
    byte[] clientProof() {
        return hmac("client");
    }

    /** The client's proof that it received the id (so nobody else can mark its rank joined). */
    byte[] ackProof() {
        return hmac("ack");
    }

    /** Whether {@code received} is the expected proof, compared in constant time. */
    static boolean matches(byte[] expected, byte[] received) {
        return MessageDigest.isEqual(expected, received);
    }

    /** The id encrypted and authenticated for this connection: IV, then ciphertext and tag. */
    byte[] seal(byte[] id) throws GeneralSecurityException {
        byte[] iv = new byte[IV_BYTES];
        RANDOM.nextBytes(iv);
        Cipher cipher = idCipher(Cipher.ENCRYPT_MODE, iv);
        byte[] sealed = Arrays.copyOf(iv, IV_BYTES + cipher.getOutputSize(id.length));
        cipher.doFinal(id, 0, id.length, sealed, IV_BYTES);
        return sealed;
    }

    /**
     * The id {@link #seal} sealed.
     *
     * @throws GeneralSecurityException ({@link javax.crypto.AEADBadTagException}) if it was changed in transit or
     *     sealed for another connection
     */
    byte[] open(byte[] sealed) throws GeneralSecurityException {
        if (sealed.length <= SEAL_OVERHEAD) {
            throw new GeneralSecurityException("a sealed id of " + sealed.length + " bytes is too short");
        }
        Cipher cipher = idCipher(Cipher.DECRYPT_MODE, Arrays.copyOf(sealed, IV_BYTES));
        return cipher.doFinal(sealed, IV_BYTES, sealed.length - IV_BYTES);
    }

    private Cipher idCipher(int mode, byte[] iv) throws GeneralSecurityException {
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(mode, new SecretKeySpec(hmac("id-key"), "AES"), new GCMParameterSpec(TAG_BYTES * 8, iv));
        cipher.updateAAD(transcript("id"));
        return cipher;
    }

    private byte[] hmac(String label) {
        return secret.hmacSha256(transcript(label));
    }

    private byte[] transcript(String label) {
        byte[] context = (CONTEXT + label).getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(Integer.BYTES + context.length + 2 * Integer.BYTES + 2 * NONCE_BYTES)
                .putInt(context.length)
                .put(context)
                .putInt(rank)
                .putInt(ranks)
                .put(clientNonce)
                .put(serverNonce)
                .array();
    }
}
