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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.routing.security.JobSecret;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The options a process joins an nvshmem group with: defaults, the configured rendezvous, the job secret, and refused
 * values (a wildcard rendezvous among them).
 */
class NvshmemOptionsTest {
    private static final InetSocketAddress SOMEWHERE = new InetSocketAddress("127.0.0.1", 29517);

    @Test
    void singleHostTakesTheRendezvousFromThePropertyAndKeepsRemoteTransportOff() {
        String before = System.getProperty(NvshmemOptions.RENDEZVOUS_PROPERTY);
        System.setProperty(NvshmemOptions.RENDEZVOUS_PROPERTY, "10.1.2.3:4567");
        try {
            NvshmemOptions options = NvshmemOptions.singleHost(1L << 30);
            assertEquals("10.1.2.3", options.rendezvous().getHostString());
            assertEquals(4567, options.rendezvous().getPort());
            assertEquals("lo", options.socketInterface());
            assertFalse(options.remoteTransport(), "remote transport only when asked");
            assertFalse(options.forceDeviceCalls());
            assertEquals(1L << 30, options.symmetricHeapBytes());
        } finally {
            if (before == null) {
                System.clearProperty(NvshmemOptions.RENDEZVOUS_PROPERTY);
            } else {
                System.setProperty(NvshmemOptions.RENDEZVOUS_PROPERTY, before);
            }
        }
    }

    @Test
    void launchedOptionsTakeTheLaunchersRendezvousAndLeaveARemoteBootstrapToNvshmem() {
        NvshmemOptions local =
                NvshmemOptions.launched(InetSocketAddress.createUnresolved("127.0.0.1", 29601), 5L << 20);
        assertEquals("127.0.0.1", local.rendezvous().getHostString());
        assertEquals(29601, local.rendezvous().getPort());
        assertEquals("lo", local.socketInterface(), "a loopback rendezvous: every rank on this host");
        assertEquals(5L << 20, local.symmetricHeapBytes());
        assertNull(local.secret(), "the secret comes from the environment when joining");
        assertEquals(
                "lo",
                NvshmemOptions.launched(InetSocketAddress.createUnresolved("localhost", 29601), 1 << 20)
                        .socketInterface());
        NvshmemOptions remote =
                NvshmemOptions.launched(InetSocketAddress.createUnresolved("gpu-node-0", 29602), 1 << 20);
        assertEquals("gpu-node-0", remote.rendezvous().getHostString());
        assertNull(remote.socketInterface(), "across hosts NVSHMEM (or NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME) picks it");
        assertFalse(remote.remoteTransport());
        NvshmemOptions none = NvshmemOptions.launched(null, 1 << 20);
        assertEquals(NvshmemOptions.singleHost(1 << 20), none, "no launcher rendezvous: the single-host defaults");
        assertThrows(
                IllegalArgumentException.class,
                () -> NvshmemOptions.launched(InetSocketAddress.createUnresolved("0.0.0.0", 29603), 1 << 20));
    }

    @Test
    void deviceKernelsAndRendezvousCanBeReplaced() {
        NvshmemOptions options = NvshmemOptions.singleHost(1 << 20)
                .withRendezvous(SOMEWHERE)
                .withDeviceKernels(Path.of("/opt/k.cubin"), true);
        assertEquals(SOMEWHERE, options.rendezvous());
        assertEquals(Path.of("/opt/k.cubin"), options.deviceKernels());
        assertTrue(options.forceDeviceCalls());
    }

    @Test
    void aGivenSecretIsUsedAndNeverPrinted() {
        JobSecret secret = JobSecret.of("options-test-secret-0123456789");
        NvshmemOptions options = NvshmemOptions.singleHost(1 << 20)
                .withSecret(secret)
                .withRendezvous(SOMEWHERE)
                .withDeviceKernels(Path.of("/opt/k.cubin"), false);
        assertSame(secret, options.secret(), "kept by the other with-methods");
        assertSame(secret, options.jobSecret());
        assertFalse(options.toString().contains("options-test-secret"), options.toString());
        assertNull(
                new NvshmemOptions(SOMEWHERE, Duration.ofSeconds(1), "lo", false, 1, null, false).secret(),
                "without one, the environment's is used when joining");
    }

    @Test
    void withoutAnySecretAMultiProcessJoinIsRefused() {
        assumeTrue(
                System.getenv(JobSecret.ENV) == null && System.getenv(JobSecret.FILE_ENV) == null,
                "this environment provides a job secret");
        RendezvousException e = assertThrows(
                RendezvousException.class,
                () -> NvshmemOptions.singleHost(1 << 20).jobSecret());
        assertTrue(
                e.getMessage().contains(JobSecret.ENV)
                        && e.getMessage().contains(JobSecret.FILE_ENV)
                        && e.getMessage().contains("withSecret"),
                e.getMessage());
    }

    @Test
    void aWildcardRendezvousIsRefused() {
        for (String wildcard : new String[] {"0.0.0.0", "::", "0:0:0:0:0:0:0:0"}) {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> new NvshmemOptions(
                            InetSocketAddress.createUnresolved(wildcard, 29517),
                            Duration.ofSeconds(1),
                            "lo",
                            false,
                            1,
                            null,
                            false));
            assertTrue(e.getMessage().contains("every interface"), e.getMessage());
        }
        String before = System.getProperty(NvshmemOptions.RENDEZVOUS_PROPERTY);
        System.setProperty(NvshmemOptions.RENDEZVOUS_PROPERTY, "0.0.0.0:4567");
        try {
            assertThrows(IllegalArgumentException.class, () -> NvshmemOptions.singleHost(1 << 20));
        } finally {
            if (before == null) {
                System.clearProperty(NvshmemOptions.RENDEZVOUS_PROPERTY);
            } else {
                System.setProperty(NvshmemOptions.RENDEZVOUS_PROPERTY, before);
            }
        }
        assertEquals(
                "127.0.0.1",
                NvshmemOptions.singleHost(1 << 20)
                        .withRendezvous(SOMEWHERE)
                        .rendezvous()
                        .getHostString());
    }

    @Test
    void badValuesAreRefusedWithTheirName() {
        assertThrows(
                IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ZERO, "lo", false, 1, null, false),
                "joinTimeout");
        IllegalArgumentException heap = assertThrows(
                IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ofSeconds(1), "lo", false, 0, null, false));
        assertTrue(heap.getMessage().contains("symmetricHeapBytes"), heap.getMessage());
        IllegalArgumentException force = assertThrows(
                IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ofSeconds(1), "lo", false, 1, null, true));
        assertTrue(force.getMessage().contains("deviceKernels"), force.getMessage());
        assertThrows(
                NullPointerException.class,
                () -> new NvshmemOptions(null, Duration.ofSeconds(1), "lo", false, 1, null, false));
    }
}
