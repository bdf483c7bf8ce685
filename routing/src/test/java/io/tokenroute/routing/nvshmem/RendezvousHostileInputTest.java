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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.security.JobSecret;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Who may join (docs/contract.md §8): connections that do not hold the job secret, or do not follow the protocol, are
 * dropped without an answer, while the real ranks (1..3 of 4) still join, each time within {@link #JOIN_BOUND}; and a
 * rank accepts the id only from a server that proved the secret, intact. Everything runs over loopback TCP in this
 * JVM; the bogus peers are raw sockets.
 */
class RendezvousHostileInputTest {
    private static final int RANKS = 4;
    /** A generous bound for the real ranks' join: a healthy join takes milliseconds. */
    private static final Duration JOIN_BOUND = Duration.ofSeconds(20);
    /** How long a test waits on any socket of its own: a hang fails instead of blocking the build. */
    private static final int TEST_READ_MS = 20_000;

    private static final InetSocketAddress ANY_LOOPBACK_PORT =
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    /** The first server message: magic, status, nonce and proof. */
    private static final int CHALLENGE_BYTES = 8 + RendezvousHandshake.NONCE_BYTES + RendezvousHandshake.PROOF_BYTES;

    private final JobSecret secret = JobSecret.generate();
    private final byte[] id = randomId(11);
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<Socket> bogus = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (Socket s : bogus) {
            s.close();
        }
        threads.shutdownNow();
        assertTrue(threads.awaitTermination(30, TimeUnit.SECONDS), "test threads did not finish");
        List<String> left = Thread.getAllStackTraces().keySet().stream()
                .map(Thread::getName)
                .filter(name -> name.startsWith("tokenroute-rendezvous-"))
                .toList();
        assertEquals(List.of(), left, "server threads still alive after close()");
    }

    // ------------------------------------------------------------------------------------------------ bad clients

    @Test
    void aRankWithTheWrongSecretIsToldAtOnceAndTheJobStillJoins() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            long start = System.nanoTime();
            RendezvousException e = assertThrows(
                    RendezvousException.class,
                    () -> UniqueIdRendezvous.fetch(server.address(), 1, RANKS, JobSecret.generate(), JOIN_BOUND));
            assertTrue(System.nanoTime() - start < JOIN_BOUND.toNanos() / 2, "no retrying with a wrong secret");
            assertMentions(e, "rank 1 of 4", "did not prove", "different secrets");
            assertEquals(List.of(), server.joinedRanks());
            realJoin(server);
        }
    }

    @Test
    void aClientProofMadeWithAnotherSecretIsDroppedWithoutTheId() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            try (Socket s = connect(server)) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                byte[] clientNonce = RendezvousHandshake.nonce();
                hello(out, UniqueIdRendezvous.VERSION, 1, RANKS, clientNonce);
                DataInputStream in = new DataInputStream(s.getInputStream());
                assertEquals(UniqueIdRendezvous.MAGIC, in.readInt());
                assertEquals(UniqueIdRendezvous.CHALLENGE, in.readInt());
                byte[] serverNonce = in.readNBytes(RendezvousHandshake.NONCE_BYTES);
                in.readNBytes(RendezvousHandshake.PROOF_BYTES);
                RendezvousHandshake forged =
                        new RendezvousHandshake(JobSecret.generate(), 1, RANKS, clientNonce, serverNonce);
                out.write(forged.clientProof());
                out.flush();
                assertClosedWithNothingMore(s);
            }
            assertEquals(1, server.droppedConnections(), "counted once, before its socket closed");
            realJoin(server);
        }
    }

    @Test
    void aSilentClientDoesNotDelayTheJoinAndIsDroppedAtItsDeadline() throws Exception {
        try (UniqueIdRendezvous.Server server =
                UniqueIdRendezvous.serve(ANY_LOOPBACK_PORT, id, RANKS, secret, Duration.ofMillis(500), 64)) {
            Socket silent = connect(server);
            bogus.add(silent);
            realJoin(server);
            assertClosedWithNothingMore(silent);
        }
        try (UniqueIdRendezvous.Server server =
                UniqueIdRendezvous.serve(ANY_LOOPBACK_PORT, id, 2, secret, Duration.ofMillis(300), 64)) {
            try (Socket silent = connect(server)) {
                assertClosedWithNothingMore(silent);
            }
            RendezvousException e =
                    assertThrows(RendezvousException.class, () -> server.awaitAllJoined(Duration.ofMillis(100)));
            assertMentions(
                    e,
                    "rank [1] did not fetch",
                    "1 connection dropped before authenticating",
                    "silent past the deadline");
        }
    }

    @Test
    void aClientTricklingBytesIsDroppedAtTheConnectionDeadlineNotPerRead() throws Exception {
        ScheduledExecutorService pacer = Executors.newSingleThreadScheduledExecutor();
        try (UniqueIdRendezvous.Server server =
                        UniqueIdRendezvous.serve(ANY_LOOPBACK_PORT, id, RANKS, secret, Duration.ofMillis(500), 64);
                Socket trickle = connect(server)) {
            // one byte of a well-formed hello every 100 ms: each read is quick, the whole hello would take 4.8 s
            ByteArrayOutputStream helloBytes = new ByteArrayOutputStream();
            hello(new DataOutputStream(helloBytes), UniqueIdRendezvous.VERSION, 1, RANKS, RendezvousHandshake.nonce());
            byte[] hello = helloBytes.toByteArray();
            AtomicInteger sent = new AtomicInteger();
            OutputStream out = trickle.getOutputStream();
            pacer.scheduleAtFixedRate(
                    () -> {
                        int i = sent.get();
                        if (i < hello.length) {
                            try {
                                out.write(hello[i]);
                                out.flush();
                                sent.incrementAndGet();
                            } catch (IOException closed) {
                                throw new IllegalStateException(closed); // ends the schedule
                            }
                        }
                    },
                    0,
                    100,
                    TimeUnit.MILLISECONDS);
            assertClosedWithNothingMore(trickle);
            assertTrue(
                    sent.get() < hello.length,
                    "dropped after " + sent.get() + " of " + hello.length
                            + " bytes: the deadline covers the connection, not each read");
            realJoin(server);
        } finally {
            pacer.shutdownNow();
        }
    }

    @Test
    void garbageIsDroppedWithoutAnAnswer() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            byte[] garbage = new byte[4096];
            new Random(3).nextBytes(garbage);
            garbage[0] = 0; // never the magic
            try (Socket s = connect(server)) {
                writeIgnoringReset(s, garbage);
                assertClosedWithNothingMore(s);
            }
            realJoin(server);
        }
    }

    @Test
    void anOversizedFrameIsNotReadBeyondItsFixedSize() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            try (Socket s = connect(server)) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                hello(out, UniqueIdRendezvous.VERSION, 1, RANKS, RendezvousHandshake.nonce());
                byte[] challenge = new DataInputStream(s.getInputStream()).readNBytes(CHALLENGE_BYTES);
                assertEquals(CHALLENGE_BYTES, challenge.length);
                // a 32-byte proof is due: send 4 MiB instead (claimed length first, as a framed protocol would)
                byte[] huge = new byte[4 << 20];
                Arrays.fill(huge, (byte) 0x7f);
                writeIgnoringReset(s, huge);
                assertClosedWithNothingMore(s);
            }
            try (Socket s = connect(server)) {
                // a hello claiming an absurd rank and group size, then nothing more: refused without a reply
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                hello(
                        out,
                        UniqueIdRendezvous.VERSION,
                        Integer.MAX_VALUE,
                        Integer.MAX_VALUE,
                        RendezvousHandshake.nonce());
                new DataInputStream(s.getInputStream()).readNBytes(CHALLENGE_BYTES);
                writeIgnoringReset(s, new byte[RendezvousHandshake.PROOF_BYTES]);
                assertClosedWithNothingMore(s);
            }
            realJoin(server);
        }
    }

    @Test
    void anotherProtocolVersionIsToldWhichVersionsDiffer() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            try (Socket s = connect(server)) {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(UniqueIdRendezvous.MAGIC);
                out.writeInt(2);
                out.writeInt(1);
                out.writeInt(RANKS);
                out.flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                assertEquals(UniqueIdRendezvous.MAGIC, in.readInt());
                assertEquals(UniqueIdRendezvous.REFUSED, in.readInt());
                String message = in.readUTF();
                assertTrue(message.contains("version 2, the server " + UniqueIdRendezvous.VERSION), message);
            }
            realJoin(server);
        }
    }

    @Test
    void aHundredConcurrentBogusConnectionsLeaveTheJoinWorking() throws Exception {
        try (UniqueIdRendezvous.Server server = serve()) {
            int count = 100;
            CountDownLatch connected = new CountDownLatch(count);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<?>> clients = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int kind = i % 3;
                long seed = i;
                clients.add(threads.submit(() -> {
                    Socket s = connect(server);
                    synchronized (bogus) {
                        bogus.add(s);
                    }
                    connected.countDown();
                    go.await();
                    if (kind == 1) {
                        byte[] garbage = new byte[512];
                        new Random(seed).nextBytes(garbage);
                        garbage[0] = 0;
                        writeIgnoringReset(s, garbage);
                    } else if (kind == 2) {
                        try {
                            hello(
                                    new DataOutputStream(s.getOutputStream()),
                                    UniqueIdRendezvous.VERSION,
                                    1,
                                    RANKS,
                                    RendezvousHandshake.nonce());
                        } catch (java.net.SocketException e) {
                            // The server pushed this pending connection out for a newer one (it holds a bounded
                            // number).
                        }
                    } // kind 0 stays silent
                    return null;
                }));
            }
            assertTrue(connected.await(60, TimeUnit.SECONDS), "bogus clients connected");
            go.countDown();
            for (Future<?> client : clients) {
                client.get(60, TimeUnit.SECONDS);
            }
            realJoin(server);
            assertEquals(List.of(1, 2, 3), server.joinedRanks());
        }
    }

    // ------------------------------------------------------------------------------------------------ bad servers

    @Test
    void aServerWithoutTheSecretGetsNoProofAndGivesNoId() throws Exception {
        try (ServerSocket impostor = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Future<Integer> afterChallenge = threads.submit(() -> {
                try (Socket s = impostor.accept()) {
                    s.setSoTimeout(TEST_READ_MS);
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    in.readNBytes(16 + RendezvousHandshake.NONCE_BYTES);
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeInt(UniqueIdRendezvous.MAGIC);
                    out.writeInt(UniqueIdRendezvous.CHALLENGE);
                    out.write(RendezvousHandshake.nonce());
                    out.write(RendezvousHandshake.nonce()); // not a proof of anything
                    out.flush();
                    return in.readAllBytes().length;
                }
            });
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), impostor.getLocalPort());
            RendezvousException e = assertThrows(
                    RendezvousException.class, () -> UniqueIdRendezvous.fetch(at, 1, RANKS, secret, JOIN_BOUND));
            assertMentions(e, "did not prove", "nothing was asked of it");
            assertEquals(0, afterChallenge.get(30, TimeUnit.SECONDS), "the rank sent no proof to an impostor");
        }
    }

    @Test
    void aServerAnsweringWithOversizedLengthsIsRefusedWithoutReadingThem() throws Exception {
        for (boolean afterAuthentication : new boolean[] {false, true}) {
            try (ServerSocket fake = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
                threads.submit(() -> {
                    try (Socket s = fake.accept()) {
                        s.setSoTimeout(TEST_READ_MS);
                        DataInputStream in = new DataInputStream(s.getInputStream());
                        DataOutputStream out = new DataOutputStream(s.getOutputStream());
                        in.readNBytes(8);
                        int rank = in.readInt();
                        int ranks = in.readInt();
                        byte[] clientNonce = in.readNBytes(RendezvousHandshake.NONCE_BYTES);
                        out.writeInt(UniqueIdRendezvous.MAGIC);
                        if (!afterAuthentication) {
                            out.writeInt(UniqueIdRendezvous.REFUSED);
                            out.writeShort(0xffff); // a 64 KiB message
                        } else {
                            byte[] serverNonce = RendezvousHandshake.nonce();
                            RendezvousHandshake h =
                                    new RendezvousHandshake(secret, rank, ranks, clientNonce, serverNonce);
                            out.writeInt(UniqueIdRendezvous.CHALLENGE);
                            out.write(serverNonce);
                            out.write(h.serverProof());
                            out.flush();
                            in.readNBytes(RendezvousHandshake.PROOF_BYTES);
                            out.writeInt(UniqueIdRendezvous.MAGIC);
                            out.writeInt(UniqueIdRendezvous.OK);
                            out.writeInt(Integer.MAX_VALUE); // a 2 GiB id
                        }
                        out.flush();
                        return in.readAllBytes().length;
                    }
                });
                InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), fake.getLocalPort());
                RendezvousException e = assertThrows(
                        RendezvousException.class, () -> UniqueIdRendezvous.fetch(at, 1, RANKS, secret, JOIN_BOUND));
                assertMentions(
                        e,
                        afterAuthentication ? "malformed answer" : "malformed refusal",
                        afterAuthentication ? "length 2147483647" : "65535 bytes");
            }
        }
    }

    @Test
    void theIdTravelsEncryptedAndAChangedIdIsRejected() throws Exception {
        try (UniqueIdRendezvous.Server server = serve();
                Relay clean = new Relay(server.address(), -1);
                Relay tampering = new Relay(
                        server.address(),
                        8 + RendezvousHandshake.NONCE_BYTES + RendezvousHandshake.PROOF_BYTES + 12 + 20)) {
            assertArrayEquals(id, UniqueIdRendezvous.fetch(clean.address(), 1, RANKS, secret, JOIN_BOUND));
            byte[] seen = clean.serverToClient();
            for (int at = 0; at + 16 <= id.length; at += 16) {
                byte[] window = Arrays.copyOfRange(id, at, at + 16);
                assertFalse(contains(seen, window), "id bytes " + at + ".." + (at + 16) + " crossed the wire in clear");
            }
            RendezvousException e = assertThrows(
                    RendezvousException.class,
                    () -> UniqueIdRendezvous.fetch(tampering.address(), 2, RANKS, secret, JOIN_BOUND));
            assertMentions(e, "rank 2 of 4", "integrity check");
            assertEquals(List.of(1), server.joinedRanks(), "a rank whose id was changed did not count as joined");
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private UniqueIdRendezvous.Server serve() {
        return UniqueIdRendezvous.serve(ANY_LOOPBACK_PORT, id, RANKS, secret);
    }

    /** Ranks 1..R-1 fetch the id with the right secret; every one gets it and the server sees all within the bound. */
    private void realJoin(UniqueIdRendezvous.Server server) throws Exception {
        List<Future<byte[]>> fetched = new ArrayList<>();
        for (int rank = 1; rank < RANKS; rank++) {
            int r = rank;
            fetched.add(threads.submit(() -> UniqueIdRendezvous.fetch(server.address(), r, RANKS, secret, JOIN_BOUND)));
        }
        server.awaitAllJoined(JOIN_BOUND);
        for (Future<byte[]> bytes : fetched) {
            assertArrayEquals(id, bytes.get(JOIN_BOUND.toSeconds(), TimeUnit.SECONDS));
        }
    }

    private static Socket connect(UniqueIdRendezvous.Server server) throws IOException {
        Socket s = new Socket();
        s.connect(server.address(), TEST_READ_MS);
        s.setSoTimeout(TEST_READ_MS);
        return s;
    }

    private static void hello(DataOutputStream out, int version, int rank, int ranks, byte[] nonce) throws IOException {
        out.writeInt(UniqueIdRendezvous.MAGIC);
        out.writeInt(version);
        out.writeInt(rank);
        out.writeInt(ranks);
        out.write(nonce);
        out.flush();
    }

    /** Writes, ignoring the reset a server that already hung up causes. */
    private static void writeIgnoringReset(Socket s, byte[] bytes) {
        try {
            OutputStream out = s.getOutputStream();
            out.write(bytes);
            out.flush();
        } catch (IOException closedByServer) {
            // the server stopped reading and closed: what these tests expect
        }
    }

    /** The server closes the connection (EOF or reset) without sending a byte more. */
    private static void assertClosedWithNothingMore(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        int next;
        try {
            next = in.read();
        } catch (java.net.SocketTimeoutException e) {
            throw new AssertionError("the server did not close the connection within " + TEST_READ_MS + " ms", e);
        } catch (IOException reset) {
            return;
        }
        assertEquals(-1, next, "the server sent more after a failed authentication");
    }

    private static boolean contains(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return true;
            }
        }
        return false;
    }

    private static byte[] randomId(long seed) {
        byte[] bytes = new byte[128];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }

    /**
     * A man in the middle for one connection: forwards both ways, records what the server sent, and flips the byte at
     * {@code flipAt} of the server's stream (none if negative).
     */
    private final class Relay implements AutoCloseable {
        private final ServerSocket listener;
        private final ByteArrayOutputStream fromServer = new ByteArrayOutputStream();
        private final Future<?> done;

        Relay(InetSocketAddress server, int flipAt) throws IOException {
            listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            done = threads.submit(() -> {
                try (Socket client = listener.accept();
                        Socket upstream = new Socket()) {
                    upstream.connect(server, TEST_READ_MS);
                    Future<?> up =
                            threads.submit(() -> pump(client.getInputStream(), upstream.getOutputStream(), -1, null));
                    pump(upstream.getInputStream(), client.getOutputStream(), flipAt, fromServer);
                    up.cancel(true);
                }
                return null;
            });
        }

        InetSocketAddress address() {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort());
        }

        byte[] serverToClient() throws Exception {
            done.get(30, TimeUnit.SECONDS);
            synchronized (fromServer) {
                return fromServer.toByteArray();
            }
        }

        private Void pump(InputStream in, OutputStream out, int flipAt, ByteArrayOutputStream record) {
            byte[] buffer = new byte[8192];
            long offset = 0;
            try {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    if (flipAt >= offset && flipAt < offset + n) {
                        buffer[(int) (flipAt - offset)] ^= 0x01;
                    }
                    offset += n;
                    if (record != null) {
                        synchronized (record) {
                            record.write(buffer, 0, n);
                        }
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
                out.close();
            } catch (IOException closed) {
                // one side hung up
            }
            return null;
        }

        @Override
        public void close() throws IOException {
            listener.close();
        }
    }
}
