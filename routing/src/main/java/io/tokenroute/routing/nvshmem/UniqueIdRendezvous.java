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
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Hands rank 0's NVSHMEM unique id to ranks 1..R-1 over TCP, so ranks need no shared file system or launcher and may
 * run on other hosts. Pure Java; independent of NVSHMEM.
 *
 * <p>Rank 0 calls {@link #serve}, every other rank {@link #fetch}; the order does not matter, because a client retries
 * (with backoff) until its deadline. Rank 0 then {@link Server#awaitAllJoined waits} until every rank has its copy
 * and closes the server; the NVSHMEM bootstrap itself runs over NVSHMEM's own socket (see
 * {@code io.tokenroute.device.nvshmem.Nvshmem}), so the server is not needed during {@code nvshmem} init.
 *
 * <p><b>Who may join</b> (docs/contract.md §8). Rank 0 and the joiners share a {@link JobSecret} and prove it to each
 * other without sending it ({@link RendezvousHandshake}): the server first, so a client checks that it talks to its
 * own job's rank 0 before it asks for anything, then the client; only then does the server consider the request, and
 * it sends the id encrypted and authenticated for that connection. A connection that does not authenticate (wrong
 * secret, garbage, silence, a frame of the wrong size) is dropped without an answer and without touching the others:
 * each connection has its own handler thread and one deadline for all its reads ({@value #HANDSHAKE_TIMEOUT_MS} ms),
 * every read has a size fixed by the protocol or bounded, and at most {@code max(64, 2R)} unauthenticated connections
 * are held at once (a new one evicts the oldest, so a flood cannot lock a rank out: a real rank authenticates in
 * a few round trips). The server listens on one interface, the rendezvous host's, never on all of them.
 *
 * <p>Protocol version {@value #VERSION}, big-endian ints over one connection per fetch:
 * <pre>
 * client: MAGIC, VERSION, rank, R, client nonce (32 bytes)
 * server: MAGIC, CHALLENGE, server nonce (32), server proof (32)     or MAGIC, REFUSED, message (other version)
 * client: client proof (32)                                           (after checking the server proof)
 * server: MAGIC, OK, length, sealed id                                or MAGIC, REFUSED, message
 * client: ack proof (32); the rank counts as joined only now
 * server: MAGIC
 * </pre>
 * Once authenticated, the server refuses (with a message) a rank outside {@code [1, R)}, a group size other than its
 * own and a rank that already fetched (two processes started with the same rank).
 *
 * <p>Where the server is: {@link #configuredAddress()} reads {@code -D}{@value #ADDRESS_PROPERTY} or
 * {@code $}{@value #ADDRESS_ENV} as {@code host:port} ({@link #parseAddress}).
 */
public final class UniqueIdRendezvous {

    /** System property holding the rendezvous {@code host:port}. */
    public static final String ADDRESS_PROPERTY = "tokenroute.rendezvous";
    /** Environment variable holding the rendezvous {@code host:port}, used when the property is unset. */
    public static final String ADDRESS_ENV = "TOKENROUTE_RENDEZVOUS";
    /** The server's deadline for all reads of one connection, in milliseconds. */
    public static final int HANDSHAKE_TIMEOUT_MS = 10_000;

    /** "TRID": TokenRoute id. */
    static final int MAGIC = 0x54524944;

    static final int VERSION = 3;
    static final int OK = 0;
    static final int REFUSED = 1;
    static final int CHALLENGE = 2;
    static final int MAX_ID_BYTES = 1 << 16;
    static final int MAX_MESSAGE_BYTES = 4096;
    private static final int MIN_PENDING = 64;

    private UniqueIdRendezvous() {}

    /**
     * Starts serving {@code id} to ranks 1..{@code ranks}-1 that prove {@code secret} (rank 0's side), on background
     * threads.
     *
     * @param bind the local address to listen on: the one interface the ranks connect to (loopback for a single-host
     *     job, the rendezvous host's address otherwise); port 0 picks a free port ({@link Server#address()} tells
     *     which); an unresolved address is resolved here
     * @param id the unique id; copied
     * @param ranks the group size R, {@code >= 1} (with 1 nobody fetches)
     * @param secret the job's secret, which every rank holds
     * @return the running server; the caller closes it (after {@link Server#awaitAllJoined})
     * @throws IllegalArgumentException on an empty or oversized id, {@code ranks < 1}, or a wildcard address (it would
     *     listen on every interface)
     * @throws RendezvousException if the address cannot be bound (e.g. in use)
     */
    public static Server serve(InetSocketAddress bind, byte[] id, int ranks, JobSecret secret) {
        return serve(
                bind, id, ranks, secret, Duration.ofMillis(HANDSHAKE_TIMEOUT_MS), Math.max(MIN_PENDING, 2 * ranks));
    }

    /**
     * {@link #serve(InetSocketAddress, byte[], int, JobSecret)} with another per-connection deadline and limit of
     * unauthenticated connections held at once.
     */
    static Server serve(
            InetSocketAddress bind, byte[] id, int ranks, JobSecret secret, Duration handshakeTimeout, int maxPending) {
        Objects.requireNonNull(bind, "bind");
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(secret, "secret");
        if (id.length == 0 || id.length > MAX_ID_BYTES) {
            throw new IllegalArgumentException("unique id of " + id.length + " bytes; expected 1.." + MAX_ID_BYTES);
        }
        if (ranks < 1) {
            throw new IllegalArgumentException("group size " + ranks + " < 1");
        }
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero() || maxPending < 1) {
            throw new IllegalArgumentException(
                    "handshake timeout " + handshakeTimeout + " and pending limit " + maxPending + " must be positive");
        }
        InetSocketAddress local =
                bind.isUnresolved() ? new InetSocketAddress(bind.getHostString(), bind.getPort()) : bind;
        if (isWildcard(local)) {
            throw new IllegalArgumentException("rank 0 of " + ranks + ": the rendezvous address " + text(bind)
                    + " would listen on every interface; bind the one the ranks connect to (127.0.0.1 on one host,"
                    + " rank 0's host name or address across hosts)");
        }
        ServerSocket socket = null;
        try {
            socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(local, Math.max(128, ranks));
            return new Server(socket, id.clone(), ranks, secret, handshakeTimeout, maxPending);
        } catch (IOException e) {
            closeQuietly(socket);
            throw new RendezvousException(
                    "rank 0 of " + ranks + ": cannot serve the unique id at " + text(bind) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Fetches the unique id from rank 0's server (rank {@code rank}'s side). Connects, retrying with backoff while
     * nothing listens yet (rank 0 may start later) or a connection breaks, until {@code timeout} has passed. The id
     * is accepted only from a server that proved {@code secret}.
     *
     * @param server rank 0's address; an unresolved host name is resolved on every attempt
     * @param rank this process's rank; the server accepts {@code 1 <= rank < ranks}
     * @param ranks the group size R this process expects; must equal the server's
     * @param secret the job's secret, which rank 0 holds too
     * @param timeout how long to keep trying, {@code > 0}
     * @return the id bytes
     * @throws RendezvousException naming the address, the rank and the problem: no server within the timeout, a server
     *     that did not prove the secret (the ranks were given different secrets, or another process answers at the
     *     address), an id changed in transit, a refusal (rank out of range, group-size mismatch, duplicate rank,
     *     protocol version) or a foreign protocol; also when interrupted (the interrupt flag stays set)
     */
    public static byte[] fetch(InetSocketAddress server, int rank, int ranks, JobSecret secret, Duration timeout) {
        return RendezvousClient.fetch(server, rank, ranks, secret, timeout);
    }

    /**
     * Parses {@code host:port} ({@code [v6-address]:port} for IPv6 literals) without resolving the host.
     *
     * @param hostPort e.g. {@code "gpu-node-0:29511"} or {@code "127.0.0.1:0"}
     * @return an unresolved address; {@link #serve} and {@link #fetch} resolve it
     * @throws IllegalArgumentException naming the text when it is not {@code host:port} with a port in 0..65535
     */
    public static InetSocketAddress parseAddress(String hostPort) {
        if (hostPort == null || hostPort.isBlank()) {
            throw new IllegalArgumentException("rendezvous address is empty; expected host:port");
        }
        String text = hostPort.trim();
        String host;
        String port;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0 || close + 1 >= text.length() || text.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("bad rendezvous address '" + hostPort + "'; expected [v6]:port");
            }
            host = text.substring(1, close);
            port = text.substring(close + 2);
        } else {
            int colon = text.lastIndexOf(':');
            if (colon <= 0 || text.indexOf(':') != colon) {
                throw new IllegalArgumentException("bad rendezvous address '" + hostPort + "'; expected host:port"
                        + " (IPv6 literals in brackets)");
            }
            host = text.substring(0, colon);
            port = text.substring(colon + 1);
        }
        int number;
        try {
            number = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            number = -1;
        }
        if (host.isEmpty() || number < 0 || number > 65535) {
            throw new IllegalArgumentException(
                    "bad rendezvous address '" + hostPort + "'; expected host:port with a" + " port in 0..65535");
        }
        return InetSocketAddress.createUnresolved(host, number);
    }

    /**
     * The rendezvous address configured for this process: {@code -D}{@value #ADDRESS_PROPERTY}, else
     * {@code $}{@value #ADDRESS_ENV}, parsed by {@link #parseAddress}; empty when neither is set.
     *
     * @throws IllegalArgumentException if the setting is not {@code host:port}
     */
    public static Optional<InetSocketAddress> configuredAddress() {
        String value = System.getProperty(ADDRESS_PROPERTY);
        if (value == null || value.isBlank()) {
            value = System.getenv(ADDRESS_ENV);
        }
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(parseAddress(value));
    }

    /**
     * Whether {@code address} is a wildcard ({@code 0.0.0.0}, {@code ::}): listening there means every interface.
     * An unresolved address is judged by its text, without a name lookup.
     */
    static boolean isWildcard(InetSocketAddress address) {
        InetAddress resolved = address.getAddress();
        if (resolved != null) {
            return resolved.isAnyLocalAddress();
        }
        String host = address.getHostString();
        return host.matches("0+(\\.0+){3}") || (host.indexOf(':') >= 0 && host.matches("[0:]+"));
    }

    static String text(InetSocketAddress address) {
        String host = address.getHostString();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + address.getPort();
    }

    static String text(Duration duration) {
        long millis = duration.toMillis();
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    static void closeQuietly(AutoCloseable closeable) {
        if (closeable != null) {
            try {
                closeable.close();
            } catch (Exception ignored) {
                // closing on an error path: the original error is the one to report
            }
        }
    }

    /**
     * Rank 0's running server: one accept thread plus one short-lived handler thread per connection, all daemon
     * threads named {@code tokenroute-rendezvous-<port>-*}, all stopped and joined by {@link #close()}. Thread-safe.
     */
    public static final class Server implements AutoCloseable {

        private static final int KEPT_REFUSALS = 8;

        private final ServerSocket socket;
        private final byte[] id;
        private final int ranks;
        private final JobSecret secret;
        private final long handshakeNanos;
        private final int maxPending;
        private final InetSocketAddress address;
        private final ExecutorService handlers;
        private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
        /** Every thread this server started, joined by {@link #close()} so none outlives it. */
        private final Queue<Thread> threads = new ConcurrentLinkedQueue<>();
        /** Guarded by this. */
        private final boolean[] joined;
        /** Guarded by this: ranks being served on a connection right now. */
        private final boolean[] claimed;
        /** Guarded by this: connections not authenticated yet, oldest first. */
        private final Set<Socket> pending = new LinkedHashSet<>();
        /** Guarded by this: pending connections closed to make room for newer ones. */
        private final Set<Socket> evicted = new LinkedHashSet<>();
        /** Guarded by this: the latest refusals, for {@link #awaitAllJoined}'s message. */
        private final Deque<String> refusals = new ArrayDeque<>();
        /** Guarded by this. */
        private int dropped;
        /** Guarded by this: why the latest connection was dropped, or null. */
        private String lastDrop;

        private boolean closed;

        private Server(
                ServerSocket socket,
                byte[] id,
                int ranks,
                JobSecret secret,
                Duration handshakeTimeout,
                int maxPending) {
            this.socket = socket;
            this.id = id;
            this.ranks = ranks;
            this.secret = secret;
            this.handshakeNanos = handshakeTimeout.toNanos();
            this.maxPending = maxPending;
            this.address = new InetSocketAddress(socket.getInetAddress(), socket.getLocalPort());
            this.joined = new boolean[ranks];
            this.claimed = new boolean[ranks];
            String name = "tokenroute-rendezvous-" + socket.getLocalPort();
            AtomicInteger count = new AtomicInteger();
            ThreadFactory factory = task -> {
                Thread thread = new Thread(task, name + "-" + count.incrementAndGet());
                thread.setDaemon(true);
                threads.add(thread);
                return thread;
            };
            this.handlers = Executors.newCachedThreadPool(factory);
            Thread acceptor = new Thread(this::acceptLoop, name + "-accept");
            acceptor.setDaemon(true);
            threads.add(acceptor);
            acceptor.start();
        }

        /** The bound address, with the actual port when port 0 was asked for. */
        public InetSocketAddress address() {
            return address;
        }

        /** The group size R this server serves. */
        public int ranks() {
            return ranks;
        }

        /** The ranks that fetched and acknowledged the id so far, ascending. */
        public synchronized List<Integer> joinedRanks() {
            List<Integer> list = new ArrayList<>();
            for (int r = 1; r < ranks; r++) {
                if (joined[r]) {
                    list.add(r);
                }
            }
            return list;
        }

        /**
         * How many connections were dropped before they authenticated: wrong secret, not the protocol, silent or
         * too slow, closed early, or evicted by newer ones. Each such connection counts once, when its handler ends.
         */
        public synchronized int droppedConnections() {
            return dropped;
        }

        /**
         * Waits until every rank 1..R-1 fetched the id once.
         *
         * @param timeout how long to wait
         * @throws RendezvousException listing the missing ranks (and the latest refusals and dropped connections) when
         *     the timeout passes, the server is closed, or the thread is interrupted (the interrupt flag stays set)
         */
        public void awaitAllJoined(Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (this) {
                while (true) {
                    List<Integer> missing = missingRanks();
                    if (missing.isEmpty()) {
                        return;
                    }
                    long remaining = deadline - System.nanoTime();
                    if (closed || remaining <= 0) {
                        throw new RendezvousException(describeMissing(
                                missing, closed ? "before the server was closed" : "within " + text(timeout)));
                    }
                    try {
                        TimeUnit.NANOSECONDS.timedWait(this, remaining);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new RendezvousException(describeMissing(missing, "before rank 0 was interrupted"), e);
                    }
                }
            }
        }

        /** Stops listening, drops open connections and joins every thread of this server; later calls do nothing. */
        @Override
        public void close() {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
                notifyAll();
            }
            closeQuietly(socket);
            for (Socket connection : connections) {
                closeQuietly(connection);
            }
            handlers.shutdownNow();
            // Every thread is blocked at most in socket I/O on a socket closed above, so the joins are short.
            boolean interrupted = false;
            for (Thread thread : threads) {
                while (thread.isAlive()) {
                    try {
                        thread.join();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public String toString() {
            return "UniqueIdRendezvous.Server[" + text(address) + ", joined " + joinedRanks() + " of 1.." + (ranks - 1)
                    + "]";
        }

        private void acceptLoop() {
            while (true) {
                Socket connection;
                try {
                    connection = socket.accept();
                } catch (IOException e) {
                    return; // closed (SocketException) or broken: either way this server is done
                }
                connections.add(connection);
                synchronized (this) {
                    if (closed) {
                        connections.remove(connection);
                        closeQuietly(connection);
                        return;
                    }
                    if (pending.size() >= maxPending) {
                        // A real rank authenticates within a few round trips; a connection that is still pending
                        // after maxPending newer ones arrived is the one to give up on.
                        Socket oldest = pending.iterator().next();
                        pending.remove(oldest);
                        evicted.add(oldest);
                        closeQuietly(oldest);
                    }
                    pending.add(connection);
                    handlers.execute(() -> handle(connection));
                }
            }
        }

        /** One connection, from the client's hello to its acknowledgement; never throws. */
        private void handle(Socket connection) {
            int served = -1;
            boolean authenticated = false;
            try {
                connection.setTcpNoDelay(true);
                RendezvousWire wire = new RendezvousWire(connection, System.nanoTime() + handshakeNanos);
                if (wire.readInt() != MAGIC) {
                    drop(connection, "not the rendezvous protocol (bad magic)");
                    return;
                }
                int version = wire.readInt();
                if (version != VERSION) {
                    // harmless to tell before authentication, and what an operator mixing versions needs to see
                    refuse(wire, "a client speaks rendezvous protocol version " + version + ", the server " + VERSION);
                    drop(connection, "protocol version " + version);
                    return;
                }
                int rank = wire.readInt();
                int clientRanks = wire.readInt();
                byte[] clientNonce = wire.readBytes(RendezvousHandshake.NONCE_BYTES);
                RendezvousHandshake handshake =
                        new RendezvousHandshake(secret, rank, clientRanks, clientNonce, RendezvousHandshake.nonce());
                wire.writeInt(MAGIC);
                wire.writeInt(CHALLENGE);
                wire.write(handshake.serverNonce());
                wire.write(handshake.serverProof());
                wire.flush();
                byte[] proof = wire.readBytes(RendezvousHandshake.PROOF_BYTES);
                if (!RendezvousHandshake.matches(handshake.clientProof(), proof)) {
                    drop(connection, "wrong job secret (claimed rank " + rank + ")");
                    return;
                }
                authenticated = authenticated(connection);
                if (!authenticated) {
                    drop(connection, "evicted while authenticating");
                    return; // the client retries
                }
                String problem = claim(rank, clientRanks);
                if (problem != null) {
                    refuse(wire, problem);
                    return;
                }
                served = rank;
                byte[] sealed = handshake.seal(id);
                wire.writeInt(MAGIC);
                wire.writeInt(OK);
                wire.writeInt(sealed.length);
                wire.write(sealed);
                wire.flush();
                if (!RendezvousHandshake.matches(
                        handshake.ackProof(), wire.readBytes(RendezvousHandshake.PROOF_BYTES))) {
                    return; // garbled acknowledgement: the rank may retry
                }
                markJoined(rank);
                served = -1;
                wire.writeInt(MAGIC);
                wire.flush();
            } catch (IOException | GeneralSecurityException | RuntimeException e) {
                // closed by close(), evicted, reset, timed out or truncated; an authenticated client retries until its
                // own deadline
                if (!authenticated) {
                    drop(
                            connection,
                            e instanceof SocketTimeoutException
                                    ? "silent past the deadline"
                                    : String.valueOf(e.getMessage()));
                }
            } finally {
                // bookkeeping first, closing last: a client that sees the connection end finds the rank released and
                // the drop counted
                connections.remove(connection);
                synchronized (this) {
                    pending.remove(connection);
                    evicted.remove(connection);
                }
                if (served >= 0) {
                    release(served);
                }
                closeQuietly(connection);
            }
        }

        /** Moves {@code connection} out of the pending set; false if it was evicted or the server closed meanwhile. */
        private synchronized boolean authenticated(Socket connection) {
            return !closed && pending.remove(connection);
        }

        /** Counts a connection dropped before it authenticated (once; not while closing). */
        private synchronized void drop(Socket connection, String why) {
            if (closed || !pending.contains(connection) && !evicted.contains(connection)) {
                return;
            }
            String reason = evicted.contains(connection)
                    ? "evicted: more than " + maxPending + " connections had not authenticated"
                    : why;
            pending.remove(connection);
            evicted.remove(connection);
            dropped++;
            lastDrop = "from " + connection.getRemoteSocketAddress() + ": " + reason;
        }

        /** Reserves {@code rank} for this connection, or says why the request is refused. */
        private synchronized String claim(int rank, int clientRanks) {
            String problem = null;
            if (clientRanks != ranks) {
                problem = "group size mismatch: rank " + rank + " expects " + clientRanks + " ranks, rank 0 serves "
                        + ranks;
            } else if (rank < 1 || rank >= ranks) {
                problem = "rank " + rank + " is out of range: clients are ranks 1.." + (ranks - 1) + " of " + ranks
                        + " (rank 0 serves)";
            } else if (joined[rank]) {
                problem = "duplicate rank: rank " + rank + " already fetched the unique id (two processes started"
                        + " as rank " + rank + "?)";
            } else if (claimed[rank]) {
                problem = "duplicate rank: rank " + rank + " is fetching the unique id on another connection";
            }
            if (problem != null) {
                if (refusals.size() == KEPT_REFUSALS) {
                    refusals.removeFirst();
                }
                refusals.addLast(problem);
                return problem;
            }
            claimed[rank] = true;
            return null;
        }

        private synchronized void markJoined(int rank) {
            claimed[rank] = false;
            joined[rank] = true;
            notifyAll();
        }

        private synchronized void release(int rank) {
            claimed[rank] = false;
        }

        private static void refuse(RendezvousWire wire, String problem) throws IOException {
            wire.writeInt(MAGIC);
            wire.writeInt(REFUSED);
            wire.writeMessage(problem);
            wire.flush();
        }

        private List<Integer> missingRanks() {
            List<Integer> missing = new ArrayList<>();
            for (int r = 1; r < ranks; r++) {
                if (!joined[r]) {
                    missing.add(r);
                }
            }
            return missing;
        }

        private String describeMissing(List<Integer> missing, String when) {
            return "rank 0 of " + ranks + ": rendezvous at " + text(address) + ": rank"
                    + (missing.size() > 1 ? "s " : " ")
                    + missing + " did not fetch the unique id " + when
                    + (refusals.isEmpty() ? "" : "; refused requests: " + String.join("; ", refusals))
                    + (dropped == 0
                            ? ""
                            : "; " + dropped + " connection" + (dropped > 1 ? "s" : "") + " dropped"
                                    + " before authenticating (latest " + lastDrop + ")");
        }
    }
}
