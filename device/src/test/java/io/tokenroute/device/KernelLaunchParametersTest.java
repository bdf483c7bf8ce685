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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The argument-size check every launch passes before the driver sees it, on the sizes alone (no GPU): the sizes are
 * the ones {@code cuFuncGetParamInfo} reports for the kernel, here those of {@code tr_ep_dispatch_send}
 * ({@code TrEpSendBatch} by value, then {@code int format}) and {@code tr_fill}.
 */
class KernelLaunchParametersTest {

    private static final long[] SEND = {2304, 4};
    private static final long[] FILL = {8, 8, 8, 4};

    @Test
    void matchingSizesPassAndTheKernelsSizesAreUsed() {
        assertArrayEquals(
                SEND,
                KernelLaunch.checkParameters("send", new long[] {2304, 8}, SEND, false),
                "an 8-byte cell carries the 4-byte int; the launch then uses the kernel's 4 bytes");
        assertArrayEquals(FILL, KernelLaunch.checkParameters("fill", new long[] {8, 8, 8, 8}, FILL, false));
        assertArrayEquals(FILL, KernelLaunch.checkParameters("fill", FILL.clone(), FILL, true));
    }

    @Test
    void aStructOfAnotherSizeIsRefused() {
        // A Java batch for 65 ranks against kernels built for 64: the kernel would read the fields at wrong offsets.
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_ep_dispatch_send", new long[] {36 * 65, 8}, SEND, false));
        assertTrue(
                e.getMessage()
                        .contains("argument 0 of tr_ep_dispatch_send is 2340 bytes, the kernel's parameter"
                                + " 2304 bytes"),
                e.getMessage());
    }

    @Test
    void aWrongArgumentCountIsRefused() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_fill", new long[] {8, 8, 8}, FILL, false));
        assertTrue(e.getMessage().contains("tr_fill takes 4 parameter(s), 3 argument(s) given"), e.getMessage());
    }

    @Test
    void boxedArgumentsMustMatchExactly() {
        // KernelModule#launch: an Integer for an int64_t count, or a Long for an int, is refused.
        assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_fill", new long[] {8, 4, 8, 4}, FILL, true));
        assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_fill", new long[] {8, 8, 8, 8}, FILL, true));
    }

    @Test
    void aCellSmallerThanItsParameterIsRefused() {
        assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_fill", new long[] {8, 4, 8, 4}, FILL, false));
        assertThrows(
                IllegalArgumentException.class,
                () -> KernelLaunch.checkParameters("tr_fill", new long[] {8, 8, 0, 4}, FILL, false));
    }
}
