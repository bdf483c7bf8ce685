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

import io.tokenroute.device.Cuda;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds and loads {@code libtokenroute_nvshmem.so} once per process, on first use, and says why it could not.
 *
 * <p>Where it looks, first match wins:
 * <ol>
 *   <li>the system property {@value #LIBRARY_PROPERTY}: a path to the {@code .so};</li>
 *   <li>the environment variable {@value #LIBRARY_ENV}: a path to the {@code .so};</li>
 *   <li>{@code System.loadLibrary("tokenroute_nvshmem")}, i.e. {@code java.library.path}.</li>
 * </ol>
 * The library needs {@code libnvshmem_host.so.3} (found through its RPATH into the NVSHMEM wheel) and
 * {@code libcudart.so.13}; the probe first lets {@link Cuda} load JavaCPP's CUDA runtime so the process keeps a
 * single one. Loading never throws out of this class: a missing file or an {@link UnsatisfiedLinkError} (e.g.
 * {@code libnvshmem_host.so.3: cannot open shared object file}) becomes {@link #unavailableReason()}.
 */
public final class NvshmemLibrary {

    /** System property naming the library file. */
    public static final String LIBRARY_PROPERTY = "tokenroute.nvshmem.library";
    /** Environment variable naming the library file. */
    public static final String LIBRARY_ENV = "TOKENROUTE_NVSHMEM_LIB";
    /** The name for {@link System#loadLibrary(String)}. */
    public static final String LIBRARY_NAME = "tokenroute_nvshmem";

    private static final String BUILD_HINT = "; build it with device/src/main/native/nvshmem/build-nvshmem.sh OUT_DIR"
            + " where NVSHMEM is installed and point -D" + LIBRARY_PROPERTY + " or $" + LIBRARY_ENV + " at it";

    private static final String REASON = probe();

    private NvshmemLibrary() {}

    /** Whether the library (and the NVSHMEM and CUDA libraries it links) loaded. Never throws. */
    public static boolean isAvailable() {
        return REASON == null;
    }

    /**
     * Why the library is unavailable, naming where it was looked for or the loader's error text; the empty string when
     * it is available. Never throws.
     */
    public static String unavailableReason() {
        return REASON == null ? "" : REASON;
    }

    /**
     * Throws unless the library is available.
     *
     * @param what what the caller was about to do, for the message
     * @throws NvshmemUnavailableException carrying {@link #unavailableReason()}
     */
    public static void require(String what) {
        if (REASON != null) {
            throw new NvshmemUnavailableException(what + ": NVSHMEM is unavailable: " + REASON);
        }
    }

    /**
     * The NVSHMEM version the loaded library reports, e.g. {@code "NVSHMEM 3.4.5 (headers 3.4.5)"}.
     *
     * @throws NvshmemUnavailableException if the library is unavailable
     */
    public static String version() {
        require("NvshmemLibrary.version()");
        return NvshmemNative.version();
    }

    private static String probe() {
        // Loads JavaCPP's libcudart.so.13 first when it can; its result only matters for the message below.
        boolean cuda = Cuda.isAvailable();
        String cudaNote = cuda ? "" : " (CUDA itself is unavailable here: " + Cuda.unavailableReason() + ")";
        String property = System.getProperty(LIBRARY_PROPERTY);
        String environment = System.getenv(LIBRARY_ENV);
        String where;
        try {
            if (property != null && !property.isBlank()) {
                where = "-D" + LIBRARY_PROPERTY + "=" + property;
                loadFile(property, where);
            } else if (environment != null && !environment.isBlank()) {
                where = "$" + LIBRARY_ENV + "=" + environment;
                loadFile(environment, where);
            } else {
                where = "java.library.path=" + System.getProperty("java.library.path");
                try {
                    System.loadLibrary(LIBRARY_NAME);
                } catch (UnsatisfiedLinkError e) {
                    if (!String.valueOf(e.getMessage()).startsWith("no " + LIBRARY_NAME + " in")) {
                        throw e; // found, but a dependency failed: that text is the useful one
                    }
                    return "lib" + LIBRARY_NAME + ".so not found: -D" + LIBRARY_PROPERTY + " and $" + LIBRARY_ENV
                            + " are unset and it is not on " + where + BUILD_HINT + cudaNote;
                }
            }
            // Binds one entry point now, so that a wrong or stale library fails here rather than mid-run.
            NvshmemNative.uniqueIdSize();
            return null;
        } catch (NotFound e) {
            return e.getMessage() + BUILD_HINT + cudaNote;
        } catch (UnsatisfiedLinkError | SecurityException e) {
            return "lib" + LIBRARY_NAME + ".so could not be loaded: " + e.getMessage() + cudaNote;
        }
    }

    private static void loadFile(String file, String where) throws NotFound {
        Path path = Path.of(file).toAbsolutePath();
        if (!Files.isRegularFile(path)) {
            throw new NotFound("lib" + LIBRARY_NAME + ".so not found: " + where + " is not a file");
        }
        System.load(path.toString());
    }

    /** A configured path that does not exist; checked so the reason names the setting, not a loader error. */
    private static final class NotFound extends Exception {
        private static final long serialVersionUID = 1L;

        NotFound(String message) {
            super(message, null, false, false);
        }
    }
}
