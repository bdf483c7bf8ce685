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
package io.tokenroute.routing.shm;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * Runs a suite body on every rank of an {@code shm} group whose ranks are threads of this JVM, each with its own
 * {@link ShmGroup} (its own mapping of the group file, as a process would have): the shared suites then check the
 * mapped-file memory and the join/leave lifecycle without process start-up costs.
 */
final class ShmThreads {
    private ShmThreads() {}

    static void run(
            BufferConfig config,
            boolean[] checked,
            Runnable releaseUnchecked,
            Duration bound,
            ConformanceSuite.GroupBody body) {
        Path dir;
        try {
            dir = Files.createTempDirectory(ShmGroup.defaultDirectory(), "tokenroute-threads-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path file = dir.resolve("group.shm");
        try (BufferAllocator allocator = new RootAllocator()) {
            RankThreads.run(config.ranks(), checked, releaseUnchecked, bound, rank -> {
                try (BufferAllocator mine = allocator.newChildAllocator("test-rank-" + rank, 0, Long.MAX_VALUE);
                        ShmGroup group = ShmGroup.join(file, config.withRank(rank), mine, Duration.ofMinutes(1))) {
                    body.run(group.buffer(), mine);
                }
            });
        } finally {
            boolean left = Files.exists(file);
            try {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            assertFalse(left, "the last rank to close deleted the group file");
        }
    }
}
