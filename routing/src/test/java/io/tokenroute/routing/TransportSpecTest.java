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
package io.tokenroute.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.local.LocalGroup;
import io.tokenroute.routing.shm.ShmGroup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One way to open a group by transport, and the launchers' environments it reads. */
class TransportSpecTest {
    @TempDir
    Path dir;

    private static BufferConfig config(int ranks) {
        return BufferConfig.builder()
                .ranks(ranks)
                .experts(4 * ranks)
                .hidden(64)
                .maxTopK(4)
                .maxTokensPerRank(8)
                .timeout(Duration.ofSeconds(5))
                .build();
    }

    @Test
    void parsesEveryTransport() {
        assertEquals(new TransportSpec("local", null), TransportSpec.parse("local"));
        assertEquals(new TransportSpec("shm", "job7"), TransportSpec.parse("shm:job7"));
        assertEquals(new TransportSpec("shm", null), TransportSpec.parse("shm"));
        assertEquals(new TransportSpec("cuda-local", "1"), TransportSpec.parse("CUDA-LOCAL:1"));
        assertEquals(1, TransportSpec.parse("cuda-local:1").device(0));
        assertEquals(0, TransportSpec.parse("cuda-local").device(0));
        assertEquals(new TransportSpec("nvshmem", null), TransportSpec.parse(" nvshmem "));
        assertEquals("shm:job7", TransportSpec.parse("shm:job7").toString());
    }

    @Test
    void refusesUnknownOrMalformedTransportsClearly() {
        IllegalArgumentException unknown =
                assertThrows(IllegalArgumentException.class, () -> TransportSpec.parse("tcp"));
        assertTrue(unknown.getMessage().contains("unknown transport 'tcp'"), unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TransportSpec.parse(""));
        assertThrows(IllegalArgumentException.class, () -> TransportSpec.parse("local:3"));
        IllegalArgumentException device =
                assertThrows(IllegalArgumentException.class, () -> TransportSpec.parse("cuda-local:gpu0"));
        assertTrue(device.getMessage().contains("CUDA device ordinal"), device.getMessage());
    }

    @Test
    void readsTheLaunchersEnvironments() {
        LaunchEnvironment torchrun = LaunchEnvironment.of(Map.of(
                "RANK",
                "3",
                "WORLD_SIZE",
                "8",
                "LOCAL_RANK",
                "1",
                "MASTER_ADDR",
                "10.0.0.1",
                "MASTER_PORT",
                "29500",
                "TORCHELASTIC_RUN_ID",
                "run42"));
        assertEquals(3, torchrun.rank().getAsInt());
        assertEquals(8, torchrun.worldSize().getAsInt());
        assertEquals(1, torchrun.localRank().getAsInt());
        assertEquals("10.0.0.1", torchrun.rendezvous().getHostString());
        assertEquals(29500, torchrun.rendezvous().getPort());
        assertEquals("run42", torchrun.jobId());

        LaunchEnvironment slurm = LaunchEnvironment.of(
                Map.of("SLURM_PROCID", "5", "SLURM_NTASKS", "16", "SLURM_LOCALID", "1", "SLURM_JOB_ID", "991"));
        assertEquals(5, slurm.rank().getAsInt());
        assertEquals(16, slurm.worldSize().getAsInt());
        assertEquals("991", slurm.jobId());
        assertNull(slurm.rendezvous());

        LaunchEnvironment mpi = LaunchEnvironment.of(
                Map.of("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_RANK", "2"));
        assertEquals(2, mpi.rank().getAsInt());
        assertEquals(4, mpi.worldSize().getAsInt());

        LaunchEnvironment own =
                LaunchEnvironment.of(Map.of("TOKENROUTE_RANK", "1", "RANK", "7", "TOKENROUTE_RENDEZVOUS", "host:1234"));
        assertEquals(1, own.rank().getAsInt(), "TokenRoute's own variable wins");
        assertEquals(1234, own.rendezvous().getPort());

        IllegalStateException bad =
                assertThrows(IllegalStateException.class, () -> LaunchEnvironment.of(Map.of("RANK", "three")));
        assertTrue(bad.getMessage().contains("RANK=three"), bad.getMessage());
        assertThrows(
                IllegalStateException.class,
                () -> LaunchEnvironment.of(Map.of("MASTER_ADDR", "h", "MASTER_PORT", "70000")));
    }

    @Test
    void localOpensEveryRankInThisProcess() {
        try (BufferAllocator allocator = new RootAllocator();
                ElasticGroup group =
                        TransportSpec.parse("local").open(config(3), allocator, LaunchEnvironment.of(Map.of()))) {
            assertInstanceOf(LocalGroup.class, group);
            assertEquals("local", group.transport());
            assertEquals(3, group.ranks());
            assertArrayEquals(new int[] {0, 1, 2}, group.localRanks());
            for (int r = 0; r < 3; r++) {
                assertEquals(r, group.buffer(r).rank());
            }
            assertThrows(IllegalStateException.class, group::buffer, "three ranks here: buffer(rank)");
        }
    }

    @Test
    void shmTakesItsRankFromTheEnvironment() throws Exception {
        Path file = dir.resolve("g.shm");
        try (BufferAllocator allocator = new RootAllocator();
                ElasticGroup group = TransportSpec.parse("shm:" + file)
                        .open(config(1), allocator, LaunchEnvironment.of(Map.of("RANK", "0", "WORLD_SIZE", "1")))) {
            assertInstanceOf(ShmGroup.class, group);
            assertEquals("shm", group.transport());
            assertArrayEquals(new int[] {0}, group.localRanks());
            assertEquals(0, group.buffer().rank());
            group.buffer().barrier();
            assertTrue(Files.exists(file));
        }
        try (BufferAllocator allocator = new RootAllocator()) {
            IllegalStateException noRank = assertThrows(
                    IllegalStateException.class,
                    () -> TransportSpec.parse("shm:x").open(config(2), allocator, LaunchEnvironment.of(Map.of())));
            assertTrue(noRank.getMessage().contains("TOKENROUTE_RANK"), noRank.getMessage());
            IllegalStateException size = assertThrows(
                    IllegalStateException.class,
                    () -> TransportSpec.parse("shm:x")
                            .open(config(2), allocator, LaunchEnvironment.of(Map.of("RANK", "0", "WORLD_SIZE", "4"))));
            assertTrue(size.getMessage().contains("4 ranks"), size.getMessage());
            IllegalStateException noName = assertThrows(
                    IllegalStateException.class,
                    () -> TransportSpec.parse("shm")
                            .open(config(2), allocator, LaunchEnvironment.of(Map.of("RANK", "0"))));
            assertTrue(noName.getMessage().contains("group name"), noName.getMessage());
        }
    }
}
