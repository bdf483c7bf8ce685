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

import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.CHALLENGE;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.MAGIC;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.MAX_ID_BYTES;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.MAX_MESSAGE_BYTES;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.OK;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.REFUSED;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.VERSION;
import static io.tokenroute.routing.nvshmem.UniqueIdRendezvous.text;

import io.tokenroute.routing.security.JobSecret;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/** The joining rank's side of {@link UniqueIdRendezvous}: {@link UniqueIdRendezvous#fetch} and its protocol. */
final class RendezvousClient {
    /** How long a client waits for one connection's answers before it tries again. */
    private static final int ATTEMPT_MS = 10_000;

    private static final int CONNECT_ATTEMPT_MS = 2_000;
    private static final long FIRST_BACKOFF_MS = 20;
    private static final long MAX_BACKOFF_MS = 500;

    private RendezvousClient() {}

    /** See {@link UniqueIdRendezvous#fetch}. */
    static byte[] fetch(InetSocketAddress server, int rank, int ranks, JobSecret secret, Duration timeout) {
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(secret, "secret");
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
                        ? new InetSocketAddress(server.getHostString(), server.getPort())
                        : server;
                socket.connect(target, (int) Math.min(remainingMs, CONNECT_ATTEMPT_MS));
                connected = true;
                socket.setTcpNoDelay(true);
                long attemptDeadline =
                        Math.min(deadline, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ATTEMPT_MS));
                RendezvousWire wire = new RendezvousWire(socket, attemptDeadline);
                return exchange(wire, who + ": rendezvous server " + text(server), rank, ranks, secret);
            } catch (IOException e) {
                last = e; // nothing listening yet, or the connection dropped: try again until the deadline
            }
            long pause = Math.min(backoff, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            backoff = Math.min(2 * backoff, MAX_BACKOFF_MS);
            if (pause > 0) {
                try {
                    Thread.sleep(pause);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new RendezvousException(
                            who + ": interrupted while waiting for the rendezvous server at " + text(server), e);
                }
            }
        }
        String lastText = last == null ? "" : " (last error: " + last.getMessage() + ")";
        if (connected) {
            throw new RendezvousException(
                    who + ": the unique id was not received from " + text(server) + " within " + text(timeout)
                            + lastText,
                    last);
        }
        throw new RendezvousException(
                who + ": no server at " + text(server) + " within " + text(timeout) + lastText, last);
    }

    /** The client's side of one connection; an I/O error means "try again", a RendezvousException does not. */
    private static byte[] exchange(RendezvousWire wire, String who, int rank, int ranks, JobSecret secret)
            throws IOException {
        byte[] clientNonce = RendezvousHandshake.nonce();
        wire.writeInt(MAGIC);
        wire.writeInt(VERSION);
        wire.writeInt(rank);
        wire.writeInt(ranks);
        wire.write(clientNonce);
        wire.flush();
        int status = readStatus(wire, who);
        if (status != CHALLENGE) {
            throw new RendezvousException(
                    who + ": malformed answer (status " + status + " where the challenge was" + " expected)");
        }
        byte[] serverNonce = wire.readBytes(RendezvousHandshake.NONCE_BYTES);
        byte[] serverProof = wire.readBytes(RendezvousHandshake.PROOF_BYTES);
        RendezvousHandshake handshake = new RendezvousHandshake(secret, rank, ranks, clientNonce, serverNonce);
        if (!RendezvousHandshake.matches(handshake.serverProof(), serverProof)) {
            throw new RendezvousException(who + " did not prove that it holds this job's secret (" + secret.source()
                    + " here): the ranks were given different secrets, or another process answers at this address;"
                    + " nothing was asked of it");
        }
        wire.write(handshake.clientProof());
        wire.flush();
        status = readStatus(wire, who);
        int length = status == OK ? wire.readInt() : -1;
        if (length <= RendezvousHandshake.SEAL_OVERHEAD || length > MAX_ID_BYTES + RendezvousHandshake.SEAL_OVERHEAD) {
            throw new RendezvousException(who + ": malformed answer (status " + status + ", length " + length + ")");
        }
        byte[] id;
        try {
            id = handshake.open(wire.readBytes(length));
        } catch (GeneralSecurityException e) {
            throw new RendezvousException(who + ": the unique id failed its integrity check (changed in transit)", e);
        }
        wire.write(handshake.ackProof());
        wire.flush();
        // The server's confirmation: once fetch returns, the server counts this rank as joined (a second process
        // claiming the rank is then refused as a duplicate, not as a concurrent fetch). A lost confirmation does not
        // undo the fetch: the id is here and the acknowledgement was sent.
        try {
            wire.readInt();
        } catch (IOException lost) {
            // the server closed after recording the join, or the connection broke after our acknowledgement
        }
        return id;
    }

    /** Reads MAGIC and a status; a refusal becomes a RendezvousException with the server's message. */
    private static int readStatus(RendezvousWire wire, String who) throws IOException {
        if (wire.readInt() != MAGIC) {
            throw new RendezvousException(who + " does not speak the TokenRoute rendezvous protocol");
        }
        int status = wire.readInt();
        if (status == REFUSED) {
            String message;
            try {
                message = wire.readMessage(MAX_MESSAGE_BYTES);
            } catch (RendezvousWire.MalformedFrameException e) {
                throw new RendezvousException(who + ": malformed refusal (" + e.getMessage() + ")", e);
            }
            throw new RendezvousException(who + ": refused: " + message);
        }
        return status;
    }
}
