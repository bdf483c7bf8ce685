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

import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * One rendezvous connection's reads and writes, every read bounded in size (the caller says how many bytes, never the
 * peer) and all of them together in time: each read waits at most until the connection's deadline, so a peer that
 * trickles bytes cannot hold the connection longer than one that says nothing. Not thread-safe.
 */
final class RendezvousWire {
    private final Socket socket;
    private final InputStream in;
    private final DataOutputStream out;
    private final long deadlineNanos;

    /** @param deadlineNanos the {@link System#nanoTime()} after which every read fails */
    RendezvousWire(Socket socket, long deadlineNanos) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        this.deadlineNanos = deadlineNanos;
    }

    /** Reads exactly {@code length} bytes before the deadline. */
    byte[] readBytes(int length) throws IOException {
        byte[] bytes = new byte[length];
        int done = 0;
        while (done < length) {
            long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
            if (leftMs <= 0) {
                throw new SocketTimeoutException(
                        "the connection's deadline passed after " + done + " of " + length + " bytes");
            }
            socket.setSoTimeout((int) Math.min(leftMs, Integer.MAX_VALUE));
            int n = in.read(bytes, done, length - done);
            if (n < 0) {
                throw new EOFException("the connection closed after " + done + " of " + length + " bytes");
            }
            done += n;
        }
        return bytes;
    }

    int readInt() throws IOException {
        return ByteBuffer.wrap(readBytes(Integer.BYTES)).getInt();
    }

    /**
     * Reads a message written by {@link #writeMessage} (or {@link DataOutputStream#writeUTF}): a 2-byte length and
     * that many bytes of modified UTF-8, at most {@code maxBytes}.
     *
     * @throws MalformedFrameException if the length exceeds {@code maxBytes} (nothing more is read)
     */
    String readMessage(int maxBytes) throws IOException {
        byte[] header = readBytes(2);
        int length = ((header[0] & 0xff) << 8) | (header[1] & 0xff);
        if (length > maxBytes) {
            throw new MalformedFrameException("a message of " + length + " bytes; at most " + maxBytes);
        }
        byte[] body = readBytes(length);
        byte[] frame = new byte[2 + length];
        System.arraycopy(header, 0, frame, 0, 2);
        System.arraycopy(body, 0, frame, 2, length);
        return new DataInputStream(new ByteArrayInputStream(frame)).readUTF();
    }

    void writeInt(int value) throws IOException {
        out.writeInt(value);
    }

    void write(byte[] bytes) throws IOException {
        out.write(bytes);
    }

    /** Writes {@code text} as {@link DataOutputStream#writeUTF} does (cut to fit 2-byte lengths). */
    void writeMessage(String text) throws IOException {
        out.writeUTF(text.length() > 1000 ? text.substring(0, 1000) : text);
    }

    void flush() throws IOException {
        out.flush();
    }

    /** A peer sent a length or status outside what the protocol allows. */
    static final class MalformedFrameException extends IOException {
        private static final long serialVersionUID = 1L;

        MalformedFrameException(String message) {
            super(message);
        }
    }
}
