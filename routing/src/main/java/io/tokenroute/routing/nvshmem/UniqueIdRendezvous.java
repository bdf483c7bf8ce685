package io.tokenroute.routing.nvshmem;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
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
 * <p>Protocol (big-endian ints over one connection per fetch): the client sends magic, version, rank, group size; the
 * server answers magic and either OK, the id's length and bytes, or REFUSED and a message; after reading the id the
 * client acknowledges with the magic, only then the rank counts as joined, and the server confirms with the magic. The server refuses a rank outside
 * {@code [1, R)}, a group size other than its own, a rank that already fetched (two processes started with the same
 * rank) and another protocol version. Every socket operation has a timeout.
 *
 * <p>Where the server is: {@link #configuredAddress()} reads {@code -D}{@value #ADDRESS_PROPERTY} or
 * {@code $}{@value #ADDRESS_ENV} as {@code host:port} ({@link #parseAddress}).
 */
public final class UniqueIdRendezvous {

    /** System property holding the rendezvous {@code host:port}. */
    public static final String ADDRESS_PROPERTY = "tokenroute.rendezvous";
    /** Environment variable holding the rendezvous {@code host:port}, used when the property is unset. */
    public static final String ADDRESS_ENV = "TOKENROUTE_RENDEZVOUS";

    /** "TRID": TokenRoute id. */
    private static final int MAGIC = 0x54524944;
    private static final int VERSION = 2;
    private static final int OK = 0;
    private static final int REFUSED = 1;
    private static final int MAX_ID_BYTES = 1 << 16;
    /** The server's per-connection read/write timeout: a stuck client must not hold a handler thread for long. */
    private static final int SERVER_IO_TIMEOUT_MS = 10_000;
    private static final int CONNECT_ATTEMPT_MS = 2_000;
    private static final long FIRST_BACKOFF_MS = 20;
    private static final long MAX_BACKOFF_MS = 500;

    private UniqueIdRendezvous() {
    }

    /**
     * Starts serving {@code id} to ranks 1..{@code ranks}-1 on a background thread (rank 0's side).
     *
     * @param bind the local address to listen on; port 0 picks a free port ({@link Server#address()} tells which);
     *     an unresolved address is resolved here
     * @param id the unique id; copied
     * @param ranks the group size R, {@code >= 1} (with 1 nobody fetches)
     * @return the running server; the caller closes it (after {@link Server#awaitAllJoined})
     * @throws IllegalArgumentException on an empty or oversized id or {@code ranks < 1}
     * @throws RendezvousException if the address cannot be bound (e.g. in use)
     */
    public static Server serve(InetSocketAddress bind, byte[] id, int ranks) {
        Objects.requireNonNull(bind, "bind");
        Objects.requireNonNull(id, "id");
        if (id.length == 0 || id.length > MAX_ID_BYTES) {
            throw new IllegalArgumentException("unique id of " + id.length + " bytes; expected 1.." + MAX_ID_BYTES);
        }
        if (ranks < 1) {
            throw new IllegalArgumentException("group size " + ranks + " < 1");
        }
        InetSocketAddress local = bind.isUnresolved() ? new InetSocketAddress(bind.getHostString(), bind.getPort())
                : bind;
        ServerSocket socket = null;
        try {
            socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(local, Math.max(50, ranks));
            return new Server(socket, id.clone(), ranks);
        } catch (IOException e) {
            closeQuietly(socket);
            throw new RendezvousException("rank 0 of " + ranks + ": cannot serve the unique id at " + text(bind) + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Fetches the unique id from rank 0's server (rank {@code rank}'s side). Connects, retrying with backoff while
     * nothing listens yet (rank 0 may start later), until {@code timeout} has passed.
     *
     * @param server rank 0's address; an unresolved host name is resolved on every attempt
     * @param rank this process's rank; the server accepts {@code 1 <= rank < ranks}
     * @param ranks the group size R this process expects; must equal the server's
     * @param timeout how long to keep trying, {@code > 0}
     * @return the id bytes
     * @throws RendezvousException naming the address, the rank and the problem: no server within the timeout, a
     *     refusal (rank out of range, group-size mismatch, duplicate rank, protocol version) or a foreign protocol;
     *     also when interrupted (the interrupt flag stays set)
     */
    public static byte[] fetch(InetSocketAddress server, int rank, int ranks, Duration timeout) {
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout " + timeout + " must be positive");
        }
        String who = "rank " + rank + " of " + ranks;
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        boolean connected = false;
        long backoff = FIRST_BACKOFF_MS;
        while (true) {
            long remainingMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (remainingMs <= 0) {
                break;
            }
            try (Socket socket = new Socket()) {
                InetSocketAddress target = server.isUnresolved()
                        ? new InetSocketAddress(server.getHostString(), server.getPort()) : server;
                socket.connect(target, (int) Math.min(remainingMs, CONNECT_ATTEMPT_MS));
                connected = true;
                socket.setSoTimeout((int) Math.max(1, Math.min(remainingMs, Integer.MAX_VALUE)));
                socket.setTcpNoDelay(true);
                return exchange(socket, who + ": rendezvous server " + text(server), rank, ranks);
            } catch (IOException e) {
                last = e;  // nothing listening yet, or the connection dropped: try again until the deadline
            }
            long pause = Math.min(backoff, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            backoff = Math.min(2 * backoff, MAX_BACKOFF_MS);
            if (pause > 0) {
                try {
                    Thread.sleep(pause);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new RendezvousException(who + ": interrupted while waiting for the rendezvous server at "
                            + text(server), e);
                }
            }
        }
        String lastText = last == null ? "" : " (last error: " + last.getMessage() + ")";
        if (connected) {
            throw new RendezvousException(who + ": the unique id was not received from " + text(server) + " within "
                    + text(timeout) + lastText, last);
        }
        throw new RendezvousException(who + ": no server at " + text(server) + " within " + text(timeout) + lastText,
                last);
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
            throw new IllegalArgumentException("bad rendezvous address '" + hostPort + "'; expected host:port with a"
                    + " port in 0..65535");
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

    private static byte[] exchange(Socket socket, String who, int rank, int ranks) throws IOException {
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeInt(rank);
        out.writeInt(ranks);
        out.flush();
        if (in.readInt() != MAGIC) {
            throw new RendezvousException(who + " does not speak the TokenRoute rendezvous protocol");
        }
        int status = in.readInt();
        if (status == REFUSED) {
            throw new RendezvousException(who + ": refused: " + in.readUTF());
        }
        int length = status == OK ? in.readInt() : -1;
        if (length <= 0 || length > MAX_ID_BYTES) {
            throw new RendezvousException(who + ": malformed answer (status " + status + ", length " + length + ")");
        }
        byte[] id = new byte[length];
        in.readFully(id);
        out.writeInt(MAGIC);
        out.flush();
        // The server's confirmation: once fetch returns, the server counts this rank as joined (a second process
        // claiming the rank is then refused as a duplicate, not as a concurrent fetch). A lost confirmation does not
        // undo the fetch: the id is here and the acknowledgement was sent.
        try {
            in.readInt();
        } catch (IOException lost) {
            // the server closed after recording the join, or the connection broke after our acknowledgement
        }
        return id;
    }

    private static String text(InetSocketAddress address) {
        String host = address.getHostString();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + address.getPort();
    }

    private static String text(Duration duration) {
        long millis = duration.toMillis();
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    private static void closeQuietly(AutoCloseable closeable) {
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
        private final InetSocketAddress address;
        private final ExecutorService handlers;
        private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
        /** Every thread this server started, joined by {@link #close()} so none outlives it. */
        private final Queue<Thread> threads = new ConcurrentLinkedQueue<>();
        /** Guarded by this. */
        private final boolean[] joined;
        /** Guarded by this: ranks being served on a connection right now. */
        private final boolean[] claimed;
        /** Guarded by this: the latest refusals, for {@link #awaitAllJoined}'s message. */
        private final Deque<String> refusals = new ArrayDeque<>();
        private boolean closed;

        private Server(ServerSocket socket, byte[] id, int ranks) {
            this.socket = socket;
            this.id = id;
            this.ranks = ranks;
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
         * Waits until every rank 1..R-1 fetched the id once.
         *
         * @param timeout how long to wait
         * @throws RendezvousException listing the missing ranks (and the latest refusals) when the timeout passes, the
         *     server is closed, or the thread is interrupted (the interrupt flag stays set)
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
                        throw new RendezvousException(describeMissing(missing, closed ? "before the server was closed"
                                : "within " + text(timeout)));
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
                    return;  // closed (SocketException) or broken: either way this server is done
                }
                connections.add(connection);
                synchronized (this) {
                    if (closed) {
                        connections.remove(connection);
                        closeQuietly(connection);
                        return;
                    }
                    handlers.execute(() -> handle(connection));
                }
            }
        }

        private void handle(Socket connection) {
            int served = -1;
            try (connection) {
                connection.setSoTimeout(SERVER_IO_TIMEOUT_MS);
                connection.setTcpNoDelay(true);
                DataInputStream in = new DataInputStream(new BufferedInputStream(connection.getInputStream()));
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(connection.getOutputStream()));
                if (in.readInt() != MAGIC) {
                    refuse(out, "not a TokenRoute rendezvous client (bad magic)");
                    return;
                }
                int version = in.readInt();
                int rank = in.readInt();
                int clientRanks = in.readInt();
                String problem = claim(version, rank, clientRanks);
                if (problem != null) {
                    refuse(out, problem);
                    return;
                }
                served = rank;
                out.writeInt(MAGIC);
                out.writeInt(OK);
                out.writeInt(id.length);
                out.write(id);
                out.flush();
                if (in.readInt() != MAGIC) {
                    return;  // garbled acknowledgement: the rank may retry
                }
                markJoined(rank);
                served = -1;
                out.writeInt(MAGIC);
                out.flush();
            } catch (IOException e) {
                // closed by close(), reset, timed out or truncated: the client retries until its own deadline
            } finally {
                connections.remove(connection);
                if (served >= 0) {
                    release(served);
                }
            }
        }

        /** Reserves {@code rank} for this connection, or says why the request is refused. */
        private synchronized String claim(int version, int rank, int clientRanks) {
            String problem = null;
            if (version != VERSION) {
                problem = "rank " + rank + " speaks rendezvous protocol version " + version + ", the server "
                        + VERSION;
            } else if (clientRanks != ranks) {
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

        private static void refuse(DataOutputStream out, String problem) throws IOException {
            out.writeInt(MAGIC);
            out.writeInt(REFUSED);
            out.writeUTF(problem);
            out.flush();
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
            return "rank 0 of " + ranks + ": rendezvous at " + text(address) + ": rank" + (missing.size() > 1 ? "s " : " ")
                    + missing + " did not fetch the unique id " + when
                    + (refusals.isEmpty() ? "" : "; refused requests: " + String.join("; ", refusals));
        }
    }
}
