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
package io.tokenroute.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the kernels are on the class path whenever the build had nvcc. */
class KernelImageTest {

    /** First word of every CUDA fatbin container ({@code FATBIN_CONTROL_SECTION_MAGIC}). */
    private static final int FATBIN_MAGIC = 0xBA55ED50;

    @Test
    void bundledFatbinIsPackagedWhenTheBuildHadNvcc() {
        Properties info = KernelImage.buildInfo();
        assumeTrue(
                "true".equals(info.getProperty("compiled")),
                "kernels were not compiled at build time: " + info.getProperty("reason", "no kernels.properties"));
        KernelImage image = KernelImage.bundled();
        assertTrue(image.size() > 1024, "fatbin of " + image.size() + " bytes");
        int magic =
                ByteBuffer.wrap(image.bytes()).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        assertEquals(FATBIN_MAGIC, magic, "fatbin magic, got 0x" + Integer.toHexString(magic));
        assertTrue(info.getProperty("gencode").contains("code=sm_90"), info.getProperty("gencode"));
    }

    @Test
    void anAbsentImageSaysTheBuildHadNoNvcc() {
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> KernelImage.fromResource("io/tokenroute/device/kernels/absent.fatbin"));
        assertTrue(e.getMessage().contains("nvcc"), e.getMessage());
        assertTrue(e.getMessage().contains("absent.fatbin"), e.getMessage());
    }
}
