package io.tokenroute.routing.nvshmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The options a process joins an nvshmem group with: defaults, the configured rendezvous, and refused values. */
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
    void deviceKernelsAndRendezvousCanBeReplaced() {
        NvshmemOptions options = NvshmemOptions.singleHost(1 << 20).withRendezvous(SOMEWHERE)
                .withDeviceKernels(Path.of("/opt/k.cubin"), true);
        assertEquals(SOMEWHERE, options.rendezvous());
        assertEquals(Path.of("/opt/k.cubin"), options.deviceKernels());
        assertTrue(options.forceDeviceCalls());
    }

    @Test
    void badValuesAreRefusedWithTheirName() {
        assertThrows(IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ZERO, "lo", false, 1, null, false), "joinTimeout");
        IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ofSeconds(1), "lo", false, 0, null, false));
        assertTrue(heap.getMessage().contains("symmetricHeapBytes"), heap.getMessage());
        IllegalArgumentException force = assertThrows(IllegalArgumentException.class,
                () -> new NvshmemOptions(SOMEWHERE, Duration.ofSeconds(1), "lo", false, 1, null, true));
        assertTrue(force.getMessage().contains("deviceKernels"), force.getMessage());
        assertThrows(NullPointerException.class,
                () -> new NvshmemOptions(null, Duration.ofSeconds(1), "lo", false, 1, null, false));
    }
}
