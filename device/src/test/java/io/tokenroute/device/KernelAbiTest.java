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

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.numeric.Fp8Quantizer;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/**
 * The Java side of the kernel ABI, without a GPU: the values this package copies from the kernels agree with the ABI
 * the build wrote ({@code tokenroute-abi.properties}, present whenever nvcc compiled the kernels), and a disagreement
 * is reported with the entry and both values.
 */
class KernelAbiTest {

    @Test
    void thisPackagesCopiesMatchTheBundledKernels() {
        assumeTrue(
                KernelAbi.isBundled(),
                "no kernel ABI: " + KernelImage.buildInfo().getProperty("reason", "kernels.properties absent"));
        KernelAbi abi = KernelAbi.bundled();
        assertDoesNotThrow(() -> KernelAbi.checkDeviceMirrors(abi));
        assertEquals(512, abi.value("descriptor.bytes"), "64 int64 words");
        assertEquals(Map.of("FLOAT32", 0L, "FLOAT32_POW2", 1L, "UE8M0", 2L), abi.family("fp8_scale"));
        assertEquals(Fp8Quantizer.E4M3_MAX, abi.floatValue("config.TR_FP8_E4M3_MAX"));
        assertTrue(abi.fingerprint() != 0, "fingerprint");
        assertDoesNotThrow(() -> KernelModule.checkFingerprint("bundled", abi.fingerprint(), abi));
    }

    @Test
    void theBuildWroteTheAbiWheneverItCompiledTheKernels() {
        boolean compiled = "true".equals(KernelImage.buildInfo().getProperty("compiled"));
        assertEquals(compiled, KernelAbi.isBundled(), "tokenroute-abi.properties iff the kernels were compiled");
    }

    @Test
    void matchingCopiesPass() {
        assertDoesNotThrow(() -> KernelAbi.checkDeviceMirrors(KernelAbi.of("matching", matchingDeviceEntries())));
    }

    @Test
    void everyDisagreementIsNamedWithBothValues() {
        Properties altered = matchingDeviceEntries();
        altered.setProperty("fp8_scale.UE8M0", "3");
        altered.setProperty("config.TR_CAST_VEC", "16");
        altered.setProperty("config.TR_FP8_AMAX_FLOOR", Float.toHexString(2e-4f));
        IllegalStateException e = assertThrows(
                IllegalStateException.class, () -> KernelAbi.checkDeviceMirrors(KernelAbi.of("altered", altered)));
        String text = e.getMessage();
        assertTrue(text.contains("3 entries"), text);
        assertTrue(text.contains("fp8_scale.UE8M0: kernels 3, Java 2"), text);
        assertTrue(text.contains("config.TR_CAST_VEC: kernels 16, Java 8 (CastKernels.VECTOR)"), text);
        assertTrue(text.contains("config.TR_FP8_AMAX_FLOOR: kernels 2.0E-4, Java 1.0E-4"), text);
        assertTrue(text.contains("altered"), "names where the kernels' values came from: " + text);
    }

    @Test
    void aFamilyMemberOnOneSideOnlyIsAMismatch() {
        Properties kernels = matchingDeviceEntries();
        kernels.setProperty("fp8_scale.E8M0_PACKED", "3");
        kernels.remove("fp8_scale.FLOAT32_POW2");
        IllegalStateException e = assertThrows(
                IllegalStateException.class, () -> KernelAbi.checkDeviceMirrors(KernelAbi.of("families", kernels)));
        assertTrue(e.getMessage().contains("fp8_scale.E8M0_PACKED: kernels 3, absent from Java"), e.getMessage());
        assertTrue(
                e.getMessage().contains("fp8_scale.FLOAT32_POW2: absent from the kernels' ABI, Java 1"),
                e.getMessage());
    }

    @Test
    void roomForAKernelStructMustBeAtLeastItsSize() {
        Properties entries = matchingDeviceEntries();
        entries.setProperty("state.bytes", "80");
        KernelAbi abi = KernelAbi.of("state", entries);
        assertDoesNotThrow(() ->
                abi.compare("test").expectAtLeast("state.bytes", 256, "room").verify());
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> abi.compare("test")
                        .expectAtLeast("state.bytes", 64, "room")
                        .verify());
        assertTrue(e.getMessage().contains("state.bytes: kernels need 80, Java has only 64 (room)"), e.getMessage());
    }

    @Test
    void aModuleFromAnotherHeaderIsRefused() {
        KernelAbi abi = KernelAbi.of("fingerprinted", matchingDeviceEntries());
        assertDoesNotThrow(() -> KernelModule.checkFingerprint("same.cubin", abi.fingerprint(), abi));
        IllegalStateException e =
                assertThrows(IllegalStateException.class, () -> KernelModule.checkFingerprint("stale.cubin", -7L, abi));
        assertTrue(e.getMessage().contains("stale.cubin"), e.getMessage());
        assertTrue(e.getMessage().contains(Long.toUnsignedString(-7L)), "the module's fingerprint: " + e.getMessage());
        assertTrue(e.getMessage().contains(Long.toUnsignedString(abi.fingerprint())), e.getMessage());
    }

    @Test
    void anAbsentAbiSaysTheBuildHadNoNvcc() {
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> KernelAbi.fromResource("io/tokenroute/device/kernels/absent-abi.properties"));
        assertTrue(e.getMessage().contains("nvcc"), e.getMessage());
        assertTrue(e.getMessage().contains("absent-abi.properties"), e.getMessage());
    }

    @Test
    void anEntryTheKernelsDoNotHaveIsNamed() {
        KernelAbi abi = KernelAbi.of("sparse", matchingDeviceEntries());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> abi.value("descriptor.hidden"));
        assertTrue(e.getMessage().contains("descriptor.hidden"), e.getMessage());
    }

    /** The entries {@link KernelAbi#checkDeviceMirrors} reads, with the values this package's classes hold. */
    private static Properties matchingDeviceEntries() {
        Properties p = new Properties();
        p.setProperty("fp8_scale.FLOAT32", "0");
        p.setProperty("fp8_scale.FLOAT32_POW2", "1");
        p.setProperty("fp8_scale.UE8M0", "2");
        p.setProperty("config.TR_CAST_VEC", "8");
        p.setProperty("config.TR_FP8_GROUP", "128");
        p.setProperty("config.TR_FP8_E4M3_MAX", "0x1.cp+8");
        p.setProperty("config.TR_FP8_AMAX_FLOOR", "0x1.a36e2ep-14");
        p.setProperty("fingerprint", "16080772421617723798");
        return p;
    }
}
