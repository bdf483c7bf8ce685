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

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The bytes of a compiled CUDA module (a fatbin or cubin) read from the class path, before any CUDA call: reading it
 * works on machines without a GPU, which lets builds and tests check that the kernels were compiled and packaged.
 *
 * <p>The project's kernels are {@link #BUNDLED_RESOURCE}, written at build time by {@code
 * src/main/cuda/build-kernels.sh} when nvcc is present, next to {@code kernels.properties} describing that build.
 */
public final class KernelImage {

    /** Class-path resource of the project's kernels (sm_90 SASS plus compute_90 PTX). */
    public static final String BUNDLED_RESOURCE = "io/tokenroute/device/kernels/kernels.fatbin";
    /** Class-path resource describing how {@link #BUNDLED_RESOURCE} was built ({@code compiled=true|false}, ...). */
    public static final String BUILD_INFO_RESOURCE = "io/tokenroute/device/kernels/kernels.properties";

    private final String name;
    private final byte[] bytes;

    private KernelImage(String name, byte[] bytes) {
        this.name = name;
        this.bytes = bytes;
    }

    /**
     * The project's kernels.
     *
     * @throws IllegalStateException if the resource is absent, i.e. the build ran without nvcc; the message says so
     */
    public static KernelImage bundled() {
        return fromResource(BUNDLED_RESOURCE);
    }

    /**
     * A module image from the class path.
     *
     * @param resource class-path resource name, without a leading slash
     * @throws IllegalStateException if the resource is absent
     */
    public static KernelImage fromResource(String resource) {
        try (InputStream in = KernelImage.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("CUDA kernel image " + resource + " is not on the class path: the"
                        + " build ran without nvcc (" + buildInfo().getProperty("reason", "no build info") + "),"
                        + " so no GPU kernels were compiled. Install the CUDA toolkit (nvcc) and rebuild.");
            }
            return new KernelImage(resource, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }

    /**
     * A module image from a file (e.g. the NVSHMEM-linked cubin that {@code build-nvshmem-kernels.sh} builds on the
     * machine that has NVSHMEM).
     *
     * @throws java.io.UncheckedIOException if the file cannot be read
     */
    public static KernelImage fromFile(java.nio.file.Path file) {
        try {
            return new KernelImage(file.toString(), java.nio.file.Files.readAllBytes(file));
        } catch (IOException e) {
            throw new UncheckedIOException("reading CUDA kernel image " + file, e);
        }
    }

    /** How the bundled kernels were built ({@code compiled}, {@code nvcc}, {@code gencode}); empty if unknown. */
    public static Properties buildInfo() {
        Properties info = new Properties();
        try (InputStream in = KernelImage.class.getClassLoader().getResourceAsStream(BUILD_INFO_RESOURCE)) {
            if (in != null) {
                info.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + BUILD_INFO_RESOURCE, e);
        }
        return info;
    }

    /** The resource name the image came from. */
    public String name() {
        return name;
    }

    /** Size of the image in bytes. */
    public int size() {
        return bytes.length;
    }

    /** A copy of the image bytes. */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Bytes for {@code cuModuleLoadData} without a copy; package-private so nobody outside can change them. */
    byte[] rawBytes() {
        return bytes;
    }
}
