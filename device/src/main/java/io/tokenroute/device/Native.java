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

import static org.bytedeco.cuda.global.cudart.cudaGetDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

import org.bytedeco.javacpp.Pointer;

/** Small glue between raw {@code long} addresses, JavaCPP pointers and the per-thread current device. */
final class Native {

    private Native() {}

    /** A JavaCPP pointer to {@code address} that owns nothing, for passing raw addresses to the bindings. */
    static Pointer at(long address) {
        return new Raw(address);
    }

    /** The calling thread's current CUDA device ordinal (the runtime's view, {@code cudaGetDevice}). */
    static int currentDevice() {
        int[] device = new int[1];
        CudaException.check(cudaGetDevice(device), "cudaGetDevice");
        return device[0];
    }

    /**
     * Runs a CUDA call with {@code device} current on the calling thread and restores the previous device after.
     * Needed where the calling thread is not ours to configure: Arrow's release callbacks and the tracker's reclaim
     * run on whatever thread dropped the last reference.
     */
    static void onDevice(int device, Runnable call) {
        int previous = currentDevice();
        if (previous == device) {
            call.run();
            return;
        }
        CudaException.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        try {
            call.run();
        } finally {
            CudaException.check(cudaSetDevice(previous), "cudaSetDevice(" + previous + ")");
        }
    }

    /** JavaCPP sets {@code address} only from subclasses; this one owns nothing and frees nothing. */
    private static final class Raw extends Pointer {
        Raw(long address) {
            this.address = address;
        }
    }
}
