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
package io.tokenroute.arrow.ipc;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that readers see either the old file or the complete new one, never a half-written one: the bytes
 * go to a temporary file in the same directory ({@code .NAME.RANDOM.tmp}), which {@link #commit()} flushes to disk and
 * renames over the target atomically. Closing without a commit deletes the temporary file and leaves the target as it
 * was. Arrow's IPC writers write their footer or end-of-stream marker when closed, even after a failure; here that
 * only ever reaches the temporary file.
 *
 * <pre>{@code
 * try (ReplacingFile out = ReplacingFile.create(path)) {
 *     writeEverything(out.channel());
 *     out.commit();
 * }
 * }</pre>
 * Not thread-safe.
 */
public final class ReplacingFile implements AutoCloseable {
    private final Path target;
    private final Path temporary;
    private final FileChannel file;
    private boolean done;

    private ReplacingFile(Path target, Path temporary, FileChannel file) {
        this.target = target;
        this.temporary = temporary;
        this.file = file;
    }

    /**
     * Starts replacing {@code target}, which need not exist. The temporary file gets the permissions a new file gets.
     *
     * @throws IOException if the directory does not exist or cannot be written ({@code NoSuchFileException},
     *     {@code AccessDeniedException} naming the temporary file's path)
     */
    public static ReplacingFile create(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path directory = absolute.getParent();
        for (int attempt = 0; ; attempt++) {
            Path temporary = directory.resolve("." + absolute.getFileName() + "."
                    + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + ".tmp");
            try {
                return new ReplacingFile(
                        absolute,
                        temporary,
                        FileChannel.open(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
            } catch (FileAlreadyExistsException e) {
                if (attempt == 9) {
                    throw e;
                }
            }
        }
    }

    /** The file this replaces. */
    public Path target() {
        return target;
    }

    /** Where the bytes go until {@link #commit()}; closing this channel (as Arrow's writers do) keeps it open. */
    public WritableByteChannel channel() {
        return new WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws IOException {
                return file.write(src);
            }

            @Override
            public boolean isOpen() {
                return file.isOpen();
            }

            @Override
            public void close() {
                // commit() or close() ends the file.
            }
        };
    }

    /** Flushes the bytes to disk and renames the temporary file over the target, atomically. */
    public void commit() throws IOException {
        if (done) {
            throw new IllegalStateException("already committed or closed: " + target);
        }
        try {
            file.force(true);
            file.close();
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } finally {
            if (!done) {
                close();
            }
        }
    }

    /** Without a {@link #commit()}: deletes the temporary file; the target is untouched. Idempotent. */
    @Override
    public void close() throws IOException {
        if (done) {
            return;
        }
        done = true;
        try {
            file.close();
        } finally {
            Files.deleteIfExists(temporary);
        }
    }
}
