package io.tokenroute.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.tokenroute.device.Cuda;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the {@code nvshmem} demo decides before any process starts (CPU): readmissions are refused, the availability
 * check names the missing piece, and the configuration reaches the rank processes unchanged.
 */
class NvshmemDemoTest {
    private static final DemoConfig FAILING = DemoConfig.builder().ranks(4).experts(16).tokens(16).hidden(64)
            .steps(30).timeout(Duration.ofSeconds(1)).rehearse(false)
            .failures(List.of(FailureSpec.parse("2@10:dispatch"), FailureSpec.parse("1@20:combine"))).build();

    @Test
    void readmissionsAreRefused() {
        DemoConfig readmitting = DemoConfig.builder().ranks(4).experts(16).tokens(16).hidden(64).steps(30)
                .failures(List.of(FailureSpec.parse("2@10:dispatch"))).readmits(List.of(ReadmitSpec.parse("2@20")))
                .build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NvshmemDemo(readmitting));
        assertTrue(e.getMessage().contains("nvshmem transport cannot readmit"), e.getMessage());
    }

    @Test
    void unavailabilityNamesTheMissingPiece() {
        assumeFalse(NvshmemDemo.available(), "CUDA and NVSHMEM are available here");
        String missing = Cuda.isAvailable() ? "the NVSHMEM library is unavailable: " : "CUDA is unavailable: ";
        assertTrue(NvshmemDemo.unavailableReason().startsWith(missing), NvshmemDemo.unavailableReason());
    }

    @Test
    void rankProcessesReceiveTheConfigurationUnchanged() {
        assertEquals(FAILING, RankProcesses.parse(RankProcesses.args(FAILING).toArray(String[]::new)));
    }
}
