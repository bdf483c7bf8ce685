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
import static org.bytedeco.cuda.global.cudart.cuGetErrorName;
import static org.bytedeco.cuda.global.cudart.cuGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorName;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaSuccess;

import io.tokenroute.TokenRouteException;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A CUDA runtime ({@code cuda*}) or driver ({@code cu*}) call returned an error. Unchecked: callers cannot usually
 * recover, and a sticky error (an illegal address, say) poisons the context for the rest of the process anyway.
 *
 * <p>Runtime and driver error codes share most numbers but not all names, so the two kinds are checked separately:
 * {@link #check} for the runtime API, {@link #checkDriver} for the driver API.
 */
public final class CudaException extends TokenRouteException {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String errorName;
    private final String errorString;

    private CudaException(String what, int code, String errorName, String errorString) {
        super(what + " failed: " + errorName + " (" + code + "): " + errorString);
        this.code = code;
        this.errorName = errorName;
        this.errorString = errorString;
    }

    /**
     * Throws unless a CUDA runtime call succeeded.
     *
     * @param code the {@code cudaError_t} the call returned
     * @param what the call and its salient arguments, for the message
     * @throws CudaException if {@code code != cudaSuccess}
     */
    public static void check(int code, String what) {
        if (code != cudaSuccess) {
            throw new CudaException(what, code, runtimeName(code), runtimeString(code));
        }
    }

    /**
     * Throws unless a CUDA driver call succeeded.
     *
     * @param code the {@code CUresult} the call returned
     * @param what the call and its salient arguments, for the message
     * @throws CudaException if {@code code != CUDA_SUCCESS}
     */
    public static void checkDriver(int code, String what) {
        if (code != CUDA_SUCCESS) {
            throw new CudaException(what, code, driverName(code), driverString(code));
        }
    }

    /** The numeric error code ({@code cudaError_t} or {@code CUresult}). */
    public int code() {
        return code;
    }

    /** The error's symbolic name, e.g. {@code cudaErrorMemoryAllocation} or {@code CUDA_ERROR_INVALID_IMAGE}. */
    public String errorName() {
        return errorName;
    }

    /** CUDA's description of the error. */
    public String errorString() {
        return errorString;
    }

    /** {@code "name (code): description"} of a runtime error code; used where no exception is wanted. */
    static String runtimeErrorText(int code) {
        return runtimeName(code) + " (" + code + "): " + runtimeString(code);
    }

    /** {@code "name (code): description"} of a driver error code; used where no exception is wanted. */
    static String driverErrorText(int code) {
        return driverName(code) + " (" + code + "): " + driverString(code);
    }

    private static String runtimeName(int code) {
        BytePointer name = cudaGetErrorName(code);
        return name == null || name.isNull() ? "cudaError" + code : name.getString();
    }

    private static String runtimeString(int code) {
        BytePointer text = cudaGetErrorString(code);
        return text == null || text.isNull() ? "unknown error" : text.getString();
    }

    private static String driverName(int code) {
        return driverText(code, true);
    }

    private static String driverString(int code) {
        return driverText(code, false);
    }

    /** The driver hands back a pointer to a static string through a {@code const char**}. */
    private static String driverText(int code, boolean name) {
        try (PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
            int rc = name ? cuGetErrorName(code, out) : cuGetErrorString(code, out);
            BytePointer text = out.get(BytePointer.class, 0);
            if (rc != CUDA_SUCCESS || text == null || text.isNull()) {
                return name ? "CUresult" + code : "unknown error";
            }
            return text.getString();
        }
    }
}
