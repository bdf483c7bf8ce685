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
package io.tokenroute.device.nvshmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs everywhere: the probe never throws, and where the library is absent (CI, any machine without NVSHMEM) every
 * entry point fails with a reason that says where it looked. Also checks that build-nvshmem.sh skips cleanly without
 * NVSHMEM, which is what lets CI build everything else.
 */
class NvshmemLibraryTest {

    @Test
    void probeIsConsistentAndDoesNotThrow() {
        boolean available = NvshmemLibrary.isAvailable();
        assertEquals(available, NvshmemLibrary.unavailableReason().isEmpty(), "reason present exactly when absent");
        System.out.println("NVSHMEM JNI library: " + (available ? "loaded" : NvshmemLibrary.unavailableReason()));
    }

    @Test
    void withoutTheLibraryTheReasonNamesWhereItLooked() {
        assumeFalse(NvshmemLibrary.isAvailable(), "the NVSHMEM library is loaded here; the GPU tests cover it");
        String reason = NvshmemLibrary.unavailableReason();
        assertTrue(reason.contains("libtokenroute_nvshmem.so"), reason);
        String configured = System.getProperty(NvshmemLibrary.LIBRARY_PROPERTY);
        String environment = System.getenv(NvshmemLibrary.LIBRARY_ENV);
        if (configured != null && !configured.isBlank()) {
            assertTrue(reason.contains(configured), reason);
        } else if (environment != null && !environment.isBlank()) {
            assertTrue(reason.contains(environment), reason);
        } else {
            assertTrue(reason.contains("java.library.path=" + System.getProperty("java.library.path")), reason);
            assertTrue(
                    reason.contains(NvshmemLibrary.LIBRARY_PROPERTY) && reason.contains(NvshmemLibrary.LIBRARY_ENV),
                    reason);
        }
    }

    @Test
    void withoutTheLibraryEveryEntryPointThrowsTheReason() {
        assumeFalse(NvshmemLibrary.isAvailable(), "the NVSHMEM library is loaded here; the GPU tests cover it");
        String reason = NvshmemLibrary.unavailableReason();
        NvshmemUnavailableException e =
                assertThrows(NvshmemUnavailableException.class, () -> NvshmemLibrary.require("warming up"));
        assertTrue(e.getMessage().startsWith("warming up: NVSHMEM is unavailable: "), e.getMessage());
        assertTrue(e.getMessage().contains(reason), e.getMessage());
        assertUnavailable(NvshmemLibrary::version, reason);
        assertUnavailable(Nvshmem::uniqueIdSize, reason);
        assertUnavailable(() -> Nvshmem.createUniqueId(Nvshmem.Options.singleHost(1 << 30)), reason);
        // The library check comes before anything touches CUDA, so no device is needed to get the reason.
        assertUnavailable(() -> Nvshmem.initialize(null, new byte[128], 0, 1, Nvshmem.Options.singleHost(0)), reason);
    }

    @Test
    void optionsAreValidated() {
        Nvshmem.Options single = Nvshmem.Options.singleHost(256L << 20);
        assertEquals("lo", single.socketInterface());
        assertFalse(single.remoteTransport());
        assertEquals(256L << 20, single.symmetricHeapBytes());
        assertThrows(IllegalArgumentException.class, () -> new Nvshmem.Options(-1, "lo", false));
        assertThrows(IllegalArgumentException.class, () -> new Nvshmem.Options(0, " ", false));
    }

    @Test
    void buildScriptSkipsWithoutNvshmem(@TempDir Path out) throws IOException, InterruptedException {
        assumeTrue(onPath("bash"), "bash is not on PATH");
        Path script = Path.of("src/main/native/nvshmem/build-nvshmem.sh").toAbsolutePath();
        // The GPU bundle runs the test jars outside the source tree, where the script is not.
        assumeTrue(Files.isRegularFile(script), "not run from the device module's source folder: no " + script);
        ProcessBuilder builder =
                new ProcessBuilder("bash", script.toString(), out.toString()).redirectErrorStream(true);
        builder.environment().put("NVSHMEM_HOME", "none");
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "build-nvshmem.sh did not finish");
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("NVSHMEM not found: skipped"), output);
        assertFalse(Files.exists(out.resolve("libtokenroute_nvshmem.so")), "no library without NVSHMEM");
    }

    private static void assertUnavailable(Executable call, String reason) {
        NvshmemUnavailableException e = assertThrows(NvshmemUnavailableException.class, call);
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }

    private static boolean onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
