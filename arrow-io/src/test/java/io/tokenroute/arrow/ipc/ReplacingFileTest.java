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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A replaced file is either the old one or the complete new one; nothing else is ever left in its directory. */
class ReplacingFileTest {
    @TempDir
    Path dir;

    @Test
    void withoutCommitTheOldFileStaysAndNoTemporaryFileRemains() throws IOException {
        Path target = dir.resolve("out.arrow");
        Files.writeString(target, "the previous run's output");
        try (ReplacingFile file = ReplacingFile.create(target)) {
            file.channel().write(ByteBuffer.wrap("half of the new".getBytes(StandardCharsets.UTF_8)));
            file.channel().close();
        }
        assertEquals("the previous run's output", Files.readString(target));
        assertEquals(List.of(target), listing());
    }

    @Test
    void commitReplacesTheFileWithTheWholeNewContent() throws IOException {
        Path target = dir.resolve("out.arrow");
        Files.writeString(target, "old");
        try (ReplacingFile file = ReplacingFile.create(target)) {
            file.channel().write(ByteBuffer.wrap("new content".getBytes(StandardCharsets.UTF_8)));
            file.commit();
        }
        assertEquals("new content", Files.readString(target));
        assertEquals(List.of(target), listing());
    }

    @Test
    void aMissingDirectoryFailsBeforeAnythingIsWritten() {
        assertThrows(NoSuchFileException.class, () -> ReplacingFile.create(dir.resolve("nope/out.arrow")));
    }

    @Test
    void writeFileReplacesAtomically() throws IOException {
        Path target = dir.resolve("batches.arrow");
        try (BufferAllocator a = new RootAllocator();
                TokenBatch first = RandomTokenBatches.batch(a, new Random(3), HiddenDtype.BF16, 4, 8, 2);
                TokenBatch second = RandomTokenBatches.batch(a, new Random(4), HiddenDtype.BF16, 6, 8, 2)) {
            TokenBatchIpc.writeFile(a, List.of(first), target);
            TokenBatchIpc.writeFile(a, List.of(second), target);
            List<TokenBatch> read = TokenBatchIpc.readFile(a, target);
            try {
                assertEquals(1, read.size());
                assertArrayEquals(second.hiddenBf16Bits(), read.get(0).hiddenBf16Bits());
            } finally {
                read.forEach(TokenBatch::close);
            }
        }
        assertEquals(List.of(target), listing());
        assertTrue(Files.size(target) > 0);
    }

    private List<Path> listing() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        }
    }
}
