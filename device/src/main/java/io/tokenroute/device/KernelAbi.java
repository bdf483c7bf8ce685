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

import io.tokenroute.arrow.numeric.Fp8Quantizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The contract between Java and the CUDA kernels as the kernel build wrote it down: every layout offset, struct size,
 * numeric code and tunable of {@code src/main/cuda/tokenroute_abi.cuh}, printed at build time by a host program
 * compiled with the same nvcc and headers as the kernels into the class-path resource {@link #RESOURCE}, next to the
 * fatbin. The Java classes that mirror those values compare themselves with it ({@link #compare}) and fail loudly,
 * naming each entry and both values, instead of letting a kernel read garbage.
 *
 * <p>The checks run when kernels are loaded ({@link KernelModule#load}: the module's own fingerprint against this
 * file, then this package's mirrors; {@code CudaRankLayout} checks the routing side) and in unit tests that need no
 * GPU. A build without nvcc has no such resource: {@link #bundled()} then says so, with the build's reason.
 *
 * <p>Entries are integers ({@link #value}) except the few floats the Java numerics mirror ({@link #floatValue}).
 * Families group entries by prefix: {@code descriptor.<field>} (byte offsets in the rank descriptor),
 * {@code phase.<Phase>}, {@code format.<DispatchOptions constant>}, {@code dtype.<HiddenDtype>},
 * {@code fp8_scale.<Fp8ScaleMode>}, {@code config.<tunable macro>}, and others listed in the header.
 */
public final class KernelAbi {

    /** Class-path resource written by {@code build-kernels.sh} next to {@link KernelImage#BUNDLED_RESOURCE}. */
    public static final String RESOURCE = "io/tokenroute/device/kernels/tokenroute-abi.properties";

    private static final String FINGERPRINT = "fingerprint";

    private static volatile KernelAbi bundled;
    private static volatile boolean deviceMirrorsChecked;

    private final String source;
    private final Map<String, String> entries;

    private KernelAbi(String source, Map<String, String> entries) {
        this.source = source;
        this.entries = entries;
    }

    /**
     * The ABI the bundled kernels were built with, read once.
     *
     * @throws IllegalStateException if the resource is absent: the build ran without nvcc (the message gives the
     *     build's reason), so there are no kernels to agree with
     */
    public static KernelAbi bundled() {
        KernelAbi abi = bundled;
        if (abi == null) {
            abi = fromResource(RESOURCE);
            bundled = abi;
        }
        return abi;
    }

    /** Whether the build produced {@link #RESOURCE} (it does whenever it compiled the kernels). */
    public static boolean isBundled() {
        return KernelAbi.class.getClassLoader().getResource(RESOURCE) != null;
    }

    /**
     * An ABI read from a class-path resource in the format of {@link #RESOURCE}.
     *
     * @throws IllegalStateException if the resource is absent or has no fingerprint
     */
    public static KernelAbi fromResource(String resource) {
        try (InputStream in = KernelAbi.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("CUDA kernel ABI " + resource + " is not on the class path: the build"
                        + " ran without nvcc (" + KernelImage.buildInfo().getProperty("reason", "no build info")
                        + "), so there are no kernels and nothing to check the Java side against");
            }
            Properties values = new Properties();
            values.load(in);
            return of(resource, values);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }

    /**
     * An ABI from explicit entries (e.g. a test's altered copy of {@link #bundled()}).
     *
     * @param source what the entries came from, for messages
     * @throws IllegalStateException if {@code fingerprint} is missing
     */
    public static KernelAbi of(String source, Properties values) {
        Map<String, String> entries = new TreeMap<>();
        for (String key : values.stringPropertyNames()) {
            entries.put(key, values.getProperty(key).trim());
        }
        KernelAbi abi = new KernelAbi(source, entries);
        abi.fingerprint();
        return abi;
    }

    /** A copy of every entry, as written, sorted by key. */
    public Properties toProperties() {
        Properties copy = new Properties();
        copy.putAll(entries);
        return copy;
    }

    /** What the entries came from (a resource name). */
    public String source() {
        return source;
    }

    /**
     * The hash of every entry that the kernel module carries as {@code tr_abi_fingerprint}: equal fingerprints mean
     * module and Java were built from the same header.
     */
    public long fingerprint() {
        String text = entries.get(FINGERPRINT);
        if (text == null) {
            throw new IllegalStateException(source + " has no " + FINGERPRINT + ": not written by build-kernels.sh");
        }
        return Long.parseUnsignedLong(text);
    }

    /**
     * An integer entry.
     *
     * @throws IllegalStateException if the entry is missing or not an integer
     */
    public long value(String key) {
        String text = require(key);
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new IllegalStateException(source + ": " + key + " = '" + text + "' is not an integer", e);
        }
    }

    /**
     * A floating-point entry (written as a hexadecimal literal, so it is exact).
     *
     * @throws IllegalStateException if the entry is missing or not a number
     */
    public float floatValue(String key) {
        String text = require(key);
        try {
            return Float.parseFloat(text);
        } catch (NumberFormatException e) {
            throw new IllegalStateException(source + ": " + key + " = '" + text + "' is not a number", e);
        }
    }

    /** The integer entries {@code family.*}, by the name after the dot, in key order. */
    public Map<String, Long> family(String family) {
        Map<String, Long> members = new LinkedHashMap<>();
        String prefix = family + ".";
        for (String key : entries.keySet()) {
            if (key.startsWith(prefix)) {
                members.put(key.substring(prefix.length()), value(key));
            }
        }
        return members;
    }

    /**
     * Starts a comparison of the Java side's copies with these entries; {@link Comparison#verify()} then throws once,
     * listing every disagreement.
     *
     * @param javaSide the class or component whose values are compared, for the message
     */
    public Comparison compare(String javaSide) {
        return new Comparison(javaSide);
    }

    /**
     * Checks this package's copies of kernel constants against the bundled ABI, once per process: the fp8 scale
     * mode codes ({@link Fp8ScaleMode}), the cast kernels' vector width, the fp8 group size and numeric constants
     * shared with {@link Fp8Quantizer}.
     *
     * @throws IllegalStateException if the ABI resource is absent or any value differs
     */
    static void requireDeviceMirrors() {
        if (deviceMirrorsChecked) {
            return;
        }
        checkDeviceMirrors(bundled());
        deviceMirrorsChecked = true;
    }

    /** The comparison behind {@link #requireDeviceMirrors()}, for any ABI (tests alter one to see it fail). */
    static void checkDeviceMirrors(KernelAbi abi) {
        Map<String, Long> scaleModes = new LinkedHashMap<>();
        for (Fp8ScaleMode mode : Fp8ScaleMode.values()) {
            scaleModes.put(mode.name(), (long) mode.code());
        }
        abi.compare("io.tokenroute.device")
                .expectFamily("fp8_scale", scaleModes, "Fp8ScaleMode.code()")
                .expect("config.TR_CAST_VEC", CastKernels.VECTOR, "CastKernels.VECTOR")
                .expect("config.TR_FP8_GROUP", Fp8Quantizer.GROUP, "Fp8Quantizer.GROUP")
                .expectFloat("config.TR_FP8_E4M3_MAX", Fp8Quantizer.E4M3_MAX, "Fp8Quantizer.E4M3_MAX")
                .expectFloat("config.TR_FP8_AMAX_FLOOR", Fp8Quantizer.AMAX_FLOOR, "Fp8Quantizer.AMAX_FLOOR")
                .verify();
    }

    private String require(String key) {
        String text = entries.get(key);
        if (text == null) {
            throw new IllegalStateException(source + " has no entry " + key + ": the kernels were built from a"
                    + " tokenroute_abi.cuh without it; rebuild the kernels and the Java classes from one source tree");
        }
        return text;
    }

    /**
     * One side's values compared with the kernels', collecting every mismatch before failing. Not thread-safe; use it
     * in one call chain ending with {@link #verify()}.
     */
    public final class Comparison {
        private final String javaSide;
        private final List<String> mismatches = new ArrayList<>();

        private Comparison(String javaSide) {
            this.javaSide = javaSide;
        }

        /** The Java value must equal integer entry {@code key}. */
        public Comparison expect(String key, long javaValue, String javaName) {
            String text = entries.get(key);
            if (text == null) {
                mismatches.add(key + ": absent from the kernels' ABI, Java " + javaValue + " (" + javaName + ")");
            } else if (!text.equals(Long.toString(javaValue))) {
                mismatches.add(key + ": kernels " + text + ", Java " + javaValue + " (" + javaName + ")");
            }
            return this;
        }

        /** The Java value must be at least integer entry {@code key} (e.g. room reserved for a kernel struct). */
        public Comparison expectAtLeast(String key, long javaValue, String javaName) {
            String text = entries.get(key);
            if (text == null) {
                mismatches.add(key + ": absent from the kernels' ABI, Java " + javaValue + " (" + javaName + ")");
            } else if (javaValue < value(key)) {
                mismatches.add(key + ": kernels need " + text + ", Java has only " + javaValue + " (" + javaName + ")");
            }
            return this;
        }

        /** The Java value must equal floating-point entry {@code key} exactly. */
        public Comparison expectFloat(String key, float javaValue, String javaName) {
            if (!entries.containsKey(key)) {
                mismatches.add(key + ": absent from the kernels' ABI, Java " + javaValue + " (" + javaName + ")");
            } else if (Float.compare(floatValue(key), javaValue) != 0) {
                mismatches.add(key + ": kernels " + floatValue(key) + ", Java " + javaValue + " (" + javaName + ")");
            }
            return this;
        }

        /**
         * The Java side and the kernels must know the same members of {@code family} with the same values: a member
         * on one side only is a mismatch too (a Phase added in Java but not in the header, say).
         */
        public Comparison expectFamily(String family, Map<String, Long> javaMembers, String javaName) {
            Map<String, Long> kernelMembers = family(family);
            for (Map.Entry<String, Long> member : javaMembers.entrySet()) {
                expect(family + "." + member.getKey(), member.getValue(), javaName);
            }
            for (String name : kernelMembers.keySet()) {
                if (!javaMembers.containsKey(name)) {
                    mismatches.add(family + "." + name + ": kernels " + kernelMembers.get(name) + ", absent from Java ("
                            + javaName + ")");
                }
            }
            return this;
        }

        /**
         * Throws if anything differed.
         *
         * @throws IllegalStateException naming each entry with the kernels' and Java's value
         */
        public void verify() {
            if (mismatches.isEmpty()) {
                return;
            }
            StringBuilder text = new StringBuilder("CUDA kernel ABI mismatch: ")
                    .append(javaSide)
                    .append(" disagrees with the kernels' tokenroute_abi.cuh (as built into ")
                    .append(source)
                    .append(") in ")
                    .append(mismatches.size())
                    .append(" entr")
                    .append(mismatches.size() == 1 ? "y" : "ies")
                    .append(':');
            for (String mismatch : mismatches) {
                text.append("\n  ").append(mismatch);
            }
            text.append("\nChange both sides together and rebuild the kernels with the Java classes.");
            throw new IllegalStateException(text.toString());
        }
    }
}
