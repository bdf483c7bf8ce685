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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.security.JobSecret;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The unique-id rendezvous over loopback TCP between ranks that hold the job secret: serving, fetching, refusals,
 * timeouts, the bind address and thread cleanup. Hostile clients and servers: {@link RendezvousHostileInputTest}.
 */
class UniqueIdRendezvousTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final JobSecret SECRET = JobSecret.generate();
    private static final InetSocketAddress ANY_LOOPBACK_PORT =
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private final ExecutorService ranks = Executors.newCachedThreadPool();

    @AfterEach
    void stopRanks() throws InterruptedException {
        ranks.shutdownNow();
        assertTrue(ranks.awaitTermination(30, TimeUnit.SECONDS), "rank threads did not finish");
        assertNoServerThreads();
    }

    @Test
    void fourRanksFetchRandomIdsFromAnEphemeralPort() throws Exception {
        Random random = new Random(20240611);
        for (int round = 0; round < 3; round++) {
            byte[] id = new byte[128];
            random.nextBytes(id);
            try (UniqueIdRendezvous.Server server = serve(id, 4)) {
                InetSocketAddress at = server.address();
                assertTrue(at.getPort() > 0, "the bound port is read back: " + at);
                List<Future<byte[]>> fetched = new ArrayList<>();
                for (int rank = 1; rank < 4; rank++) {
                    int r = rank;
                    fetched.add(ranks.submit(() -> UniqueIdRendezvous.fetch(at, r, 4, SECRET, TIMEOUT)));
                }
                server.awaitAllJoined(TIMEOUT);
                assertEquals(List.of(1, 2, 3), server.joinedRanks());
                for (Future<byte[]> bytes : fetched) {
                    assertArrayEquals(id, bytes.get(30, TimeUnit.SECONDS));
                }
            }
        }
    }

    @Test
    void clientsStartedBeforeTheServerRetryUntilItListens() throws Exception {
        InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), freePort());
        byte[] id = randomId(7);
        CountDownLatch started = new CountDownLatch(2);
        List<Future<byte[]>> fetched = new ArrayList<>();
        for (int rank = 1; rank < 3; rank++) {
            int r = rank;
            fetched.add(ranks.submit(() -> {
                started.countDown();
                return UniqueIdRendezvous.fetch(at, r, 3, SECRET, TIMEOUT);
            }));
        }
        assertTrue(started.await(30, TimeUnit.SECONDS));
        try (UniqueIdRendezvous.Server server = UniqueIdRendezvous.serve(at, id, 3, SECRET)) {
            server.awaitAllJoined(TIMEOUT);
            for (Future<byte[]> bytes : fetched) {
                assertArrayEquals(id, bytes.get(30, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void aGroupSizeMismatchIsRefusedWithBothSizes() {
        try (UniqueIdRendezvous.Server server = serve(randomId(1), 4)) {
            RendezvousException e = assertThrows(
                    RendezvousException.class, () -> UniqueIdRendezvous.fetch(server.address(), 1, 3, SECRET, TIMEOUT));
            assertMentions(
                    e, "rank 1 of 3", "group size mismatch", "expects 3", "serves 4", hostPort(server.address()));
            assertEquals(List.of(), server.joinedRanks());
        }
    }

    @Test
    void aRankOutOfRangeIsRefused() {
        try (UniqueIdRendezvous.Server server = serve(randomId(2), 4)) {
            for (int rank : new int[] {4, 0, -1}) {
                RendezvousException e = assertThrows(
                        RendezvousException.class,
                        () -> UniqueIdRendezvous.fetch(server.address(), rank, 4, SECRET, TIMEOUT));
                assertMentions(e, "rank " + rank + " of 4", "out of range", "1..3");
            }
        }
    }

    @Test
    void aDuplicateRankIsRefused() {
        byte[] id = randomId(3);
        try (UniqueIdRendezvous.Server server = serve(id, 3)) {
            assertArrayEquals(id, UniqueIdRendezvous.fetch(server.address(), 2, 3, SECRET, TIMEOUT));
            RendezvousException e = assertThrows(
                    RendezvousException.class, () -> UniqueIdRendezvous.fetch(server.address(), 2, 3, SECRET, TIMEOUT));
            assertMentions(e, "duplicate rank", "rank 2 already fetched");
            assertEquals(List.of(2), server.joinedRanks());
        }
    }

    @Test
    void withoutAServerFetchGivesUpWithinTheTimeoutNamingTheAddress() throws IOException {
        int port = freePort();
        InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        Duration timeout = Duration.ofMillis(600);
        long start = System.nanoTime();
        RendezvousException e =
                assertThrows(RendezvousException.class, () -> UniqueIdRendezvous.fetch(at, 1, 2, SECRET, timeout));
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertMentions(e, "rank 1 of 2", "no server at " + hostPort(at) + " within 600 ms");
        assertTrue(elapsedMs >= 600 && elapsedMs < 5_000, "gave up after " + elapsedMs + " ms");
    }

    @Test
    void awaitAllJoinedListsTheMissingRanks() {
        try (UniqueIdRendezvous.Server server = serve(randomId(4), 4)) {
            UniqueIdRendezvous.fetch(server.address(), 1, 4, SECRET, TIMEOUT);
            assertThrows(
                    RendezvousException.class, () -> UniqueIdRendezvous.fetch(server.address(), 9, 4, SECRET, TIMEOUT));
            RendezvousException e =
                    assertThrows(RendezvousException.class, () -> server.awaitAllJoined(Duration.ofMillis(200)));
            assertMentions(e, "ranks [2, 3] did not fetch the unique id within 200 ms", "rank 9 is out of range");
        }
    }

    @Test
    void addressesParseFromHostPortText() {
        InetSocketAddress plain = UniqueIdRendezvous.parseAddress(" gpu-node-0:29511 ");
        assertEquals("gpu-node-0", plain.getHostString());
        assertEquals(29511, plain.getPort());
        assertTrue(plain.isUnresolved(), "resolved only when used");
        InetSocketAddress v6 = UniqueIdRendezvous.parseAddress("[::1]:0");
        assertEquals("::1", v6.getHostString());
        assertEquals(0, v6.getPort());
        for (String bad : new String[] {"", "host", "host:", ":80", "host:65536", "host:-1", "::1:80", "[::1]80"}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> UniqueIdRendezvous.parseAddress(bad), bad);
            assertTrue(e.getMessage().contains("host:port") || e.getMessage().contains("port"), e.getMessage());
        }
    }

    @Test
    void theConfiguredAddressComesFromTheSystemProperty() {
        String before = System.getProperty(UniqueIdRendezvous.ADDRESS_PROPERTY);
        try {
            System.setProperty(UniqueIdRendezvous.ADDRESS_PROPERTY, "10.1.2.3:4567");
            InetSocketAddress at = UniqueIdRendezvous.configuredAddress().orElseThrow();
            assertEquals("10.1.2.3", at.getHostString());
            assertEquals(4567, at.getPort());
        } finally {
            if (before == null) {
                System.clearProperty(UniqueIdRendezvous.ADDRESS_PROPERTY);
            } else {
                System.setProperty(UniqueIdRendezvous.ADDRESS_PROPERTY, before);
            }
        }
    }

    @Test
    void aWildcardAddressIsNeverBound() {
        for (String wildcard : new String[] {"0.0.0.0", "::"}) {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> UniqueIdRendezvous.serve(new InetSocketAddress(wildcard, 0), randomId(5), 2, SECRET));
            assertMentions(e, "every interface", "127.0.0.1");
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> UniqueIdRendezvous.serve(UniqueIdRendezvous.parseAddress("0.0.0.0:0"), randomId(5), 2, SECRET));
    }

    @Test
    void theServerListensOnTheLoopbackInterfaceItWasGiven() {
        try (UniqueIdRendezvous.Server server = serve(randomId(6), 2)) {
            assertTrue(
                    server.address().getAddress().isLoopbackAddress(),
                    server.address().toString());
        }
    }

    private static UniqueIdRendezvous.Server serve(byte[] id, int ranks) {
        return UniqueIdRendezvous.serve(ANY_LOOPBACK_PORT, id, ranks, SECRET);
    }

    private static byte[] randomId(long seed) {
        byte[] id = new byte[128];
        new Random(seed).nextBytes(id);
        return id;
    }

    /** A port nothing listens on right now (the OS handed it out and it was released again). */
    private static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    private static String hostPort(InetSocketAddress address) {
        return address.getHostString() + ":" + address.getPort();
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }

    private static void assertNoServerThreads() {
        List<String> left = Thread.getAllStackTraces().keySet().stream()
                .map(Thread::getName)
                .filter(name -> name.startsWith("tokenroute-rendezvous-"))
                .toList();
        assertEquals(List.of(), left, "server threads still alive after close()");
    }
}
