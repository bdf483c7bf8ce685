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

import static org.bytedeco.cuda.global.cudart.CUDA_SUCCESS;
import static org.bytedeco.cuda.global.cudart.cuInit;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaSuccess;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Loader;

/**
 * Whether CUDA can be used in this process, probed once on first use.
 *
 * <p>The probe loads JavaCPP's CUDA runtime bindings ({@code libjnicudart.so}, which needs the driver's
 * {@code libcuda.so.1} and {@code libcudart.so.13}), initialises the driver API and counts devices. Without a driver
 * the load throws {@link UnsatisfiedLinkError} (and later uses of the binding class {@link NoClassDefFoundError}); the
 * probe catches those so that a machine without a GPU gets {@code false} and a readable reason instead of a crash.
 *
 * <p>Every other class of this package calls {@link #requireAvailable(String)} before its first CUDA call, because
 * touching {@link cudart} on such a machine would throw the raw linkage error.
 */
public final class Cuda {

    private static final Probe PROBE = Probe.run();

    private Cuda() {}

    /** Whether the CUDA driver and runtime loaded and at least one device is visible. */
    public static boolean isAvailable() {
        return PROBE.reason == null;
    }

    /**
     * Why CUDA is unavailable, for skip messages and errors, e.g. {@code "no CUDA driver (libcuda.so.1 not found)"};
     * the empty string when it is available.
     */
    public static String unavailableReason() {
        return PROBE.reason == null ? "" : PROBE.reason;
    }

    /** Number of visible CUDA devices; 0 when CUDA is unavailable. */
    public static int deviceCount() {
        return PROBE.deviceCount;
    }

    /**
     * The CUDA runtime and driver versions as {@code "runtime 13.0, driver 13.0"} (for logs), or the unavailability
     * reason.
     */
    public static String versions() {
        return isAvailable() ? PROBE.versions : unavailableReason();
    }

    /**
     * Throws a {@link CudaUnavailableException} carrying {@link #unavailableReason()} unless CUDA is available.
     *
     * @param what what the caller was about to do, for the message
     */
    public static void requireAvailable(String what) {
        if (!isAvailable()) {
            throw new CudaUnavailableException(what + ": CUDA is unavailable: " + PROBE.reason);
        }
    }

    private record Probe(String reason, int deviceCount, String versions) {

        static Probe run() {
            try {
                Loader.load(cudart.class);
            } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
                return unavailable(describeLoadFailure(e));
            }
            try {
                return query();
            } catch (RuntimeException e) {
                // A failed probe must not fail the initialisation of this class, which every caller goes through.
                return unavailable("CUDA probe failed: " + e);
            }
        }

        private static Probe query() {
            int init = cuInit(0);
            if (init != CUDA_SUCCESS) {
                return unavailable("cuInit failed: " + CudaException.driverErrorText(init));
            }
            int[] count = new int[1];
            int rc = cudaGetDeviceCount(count);
            if (rc != cudaSuccess) {
                return unavailable("cudaGetDeviceCount failed: " + CudaException.runtimeErrorText(rc));
            }
            if (count[0] == 0) {
                return unavailable("no CUDA device visible (CUDA_VISIBLE_DEVICES="
                        + System.getenv().getOrDefault("CUDA_VISIBLE_DEVICES", "<unset>") + ")");
            }
            int[] runtime = new int[1];
            int[] driver = new int[1];
            CudaException.check(cudaRuntimeGetVersion(runtime), "cudaRuntimeGetVersion");
            CudaException.check(cudaDriverGetVersion(driver), "cudaDriverGetVersion");
            return new Probe(null, count[0], "runtime " + version(runtime[0]) + ", driver " + version(driver[0]));
        }

        private static Probe unavailable(String reason) {
            return new Probe(reason, 0, null);
        }

        private static String version(int v) {
            return v / 1000 + "." + (v % 1000) / 10;
        }

        /** The innermost message names the missing library; the outer ones only say the JNI library failed. */
        private static String describeLoadFailure(Throwable e) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            String message = String.valueOf(root.getMessage());
            if (message.contains("libcuda.so")) {
                return "no CUDA driver (libcuda.so.1 not found)";
            }
            if (message.contains("libcudart.so")) {
                return "no CUDA 13 runtime (libcudart.so.13 not found)";
            }
            return "CUDA bindings failed to load: " + root.getClass().getSimpleName() + ": " + message;
        }
    }
}
