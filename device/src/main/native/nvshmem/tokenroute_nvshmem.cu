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
// JNI binding of the NVSHMEM host API for io.tokenroute.device.nvshmem.NvshmemNative.
//
// Every failure becomes a Java io.tokenroute.device.nvshmem.NvshmemException naming the call and its status; nothing
// here calls exit or abort. Threading: NVSHMEM is initialised NVSHMEM_THREAD_SERIALIZED and the Java side
// (Nvshmem, NvshmemNative callers) serialises every call, so this file keeps no locks of its own.
//
// Built by CMakeLists.txt beside it with nvcc -rdc=true and linked against libnvshmem_host.so.3 and
// libnvshmem_device.a: the init and finalize entry points are header-inline code that lands in the device library.
#include <jni.h>

#include <cuda.h>
#include <cuda_runtime.h>
#include <nvshmem.h>
#include <nvshmemx.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr const char* kExceptionClass = "io/tokenroute/device/nvshmem/NvshmemException";

// Throws NvshmemException("<call> failed: <detail>"). Returns nothing: callers return right after, as JNI requires.
void throwNvshmem(JNIEnv* env, const char* call, const char* detail) {
    char message[512];
    std::snprintf(message, sizeof message, "%s failed: %s", call, detail);
    jclass type = env->FindClass(kExceptionClass);
    if (type != nullptr) {  // else FindClass left a NoClassDefFoundError pending, which is as informative
        env->ThrowNew(type, message);
    }
}

void throwStatus(JNIEnv* env, const char* call, int status) {
    char detail[64];
    std::snprintf(detail, sizeof detail, "NVSHMEM status %d", status);
    throwNvshmem(env, call, detail);
}

void throwCuda(JNIEnv* env, const char* call, cudaError_t error) {
    char detail[256];
    std::snprintf(detail, sizeof detail, "CUDA error %d (%s: %s)", static_cast<int>(error), cudaGetErrorName(error),
                  cudaGetErrorString(error));
    throwNvshmem(env, call, detail);
}

// setenv that reports failure as an exception; returns false when one is pending.
bool setEnvironment(JNIEnv* env, const char* name, const char* value, bool overwrite) {
    if (setenv(name, value, overwrite ? 1 : 0) != 0) {
        char call[128];
        std::snprintf(call, sizeof call, "setenv(%s)", name);
        throwNvshmem(env, call, std::strerror(errno));
        return false;
    }
    return true;
}

// The body of NVSHMEM's inline nvshmemx_init_attr without its NONZERO_EXIT: that wrapper calls exit(-1) when
// bootstrap fails (e.g. a peer never connects), which would take the whole JVM down instead of throwing.
// -DTOKENROUTE_NVSHMEM_INIT_VIA_WRAPPER=1 (CMake option of the same name) uses the public wrapper instead, for NVSHMEM
// versions whose internal entry point differs; a failed init then exits the process.
int initWithUniqueId(nvshmemx_init_attr_t* attr) {
#if TOKENROUTE_NVSHMEM_INIT_VIA_WRAPPER
    return nvshmemx_init_attr(NVSHMEMX_INIT_WITH_UNIQUEID, attr);
#else
    int provided = 0;
    nvshmemi_version_t headerVersion = {NVSHMEM_VENDOR_MAJOR_VERSION, NVSHMEM_VENDOR_MINOR_VERSION,
                                        NVSHMEM_VENDOR_PATCH_VERSION};
    nvshmemx_init_init_attr_ver_only((*attr));
    return nvshmemi_init_thread(NVSHMEM_THREAD_SERIALIZED, &provided, NVSHMEMX_INIT_WITH_UNIQUEID, attr, headerVersion);
#endif
}

}  // namespace

extern "C" {

JNIEXPORT void JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_configureEnvironment(
        JNIEnv* env, jclass, jstring socketInterface, jboolean remoteTransport, jlong symmetricHeapBytes) {
    // NVLink multicast can take a shared host's GPUs out of service: forced off whatever the user set.
    if (!setEnvironment(env, "NVSHMEM_DISABLE_NVLS", "1", true)) return;
    if (!remoteTransport && !setEnvironment(env, "NVSHMEM_REMOTE_TRANSPORT", "none", false)) return;
    // No interface given: NVSHMEM picks one itself (or the user's NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME applies).
    if (socketInterface != nullptr) {
        const char* ifname = env->GetStringUTFChars(socketInterface, nullptr);
        if (ifname == nullptr) return;  // OutOfMemoryError pending
        bool ok = setEnvironment(env, "NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME", ifname, false);
        env->ReleaseStringUTFChars(socketInterface, ifname);
        if (!ok) return;
    }
    if (symmetricHeapBytes > 0) {
        char bytes[32];
        std::snprintf(bytes, sizeof bytes, "%" PRId64, static_cast<int64_t>(symmetricHeapBytes));
        setEnvironment(env, "NVSHMEM_SYMMETRIC_SIZE", bytes, true);
    }
}

JNIEXPORT jint JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_uniqueIdSize(JNIEnv*, jclass) {
    return static_cast<jint>(sizeof(nvshmemx_uniqueid_t));
}

JNIEXPORT jbyteArray JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_createUniqueId(JNIEnv* env, jclass) {
    nvshmemx_uniqueid_t id = NVSHMEMX_UNIQUEID_INITIALIZER;
    int status = nvshmemx_get_uniqueid(&id);
    if (status != 0) {
        throwStatus(env, "nvshmemx_get_uniqueid", status);
        return nullptr;
    }
    jbyteArray bytes = env->NewByteArray(static_cast<jsize>(sizeof id));
    if (bytes != nullptr) {
        env->SetByteArrayRegion(bytes, 0, static_cast<jsize>(sizeof id), reinterpret_cast<const jbyte*>(&id));
    }
    return bytes;
}

JNIEXPORT void JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_init(JNIEnv* env, jclass, jbyteArray idBytes,
                                                                           jint rank, jint ranks, jint cudaDevice) {
    nvshmemx_uniqueid_t id = NVSHMEMX_UNIQUEID_INITIALIZER;
    if (idBytes == nullptr || env->GetArrayLength(idBytes) != static_cast<jsize>(sizeof id)) {
        char detail[96];
        std::snprintf(detail, sizeof detail, "the unique id must be %zu bytes", sizeof id);
        throwNvshmem(env, "nvshmemx_set_attr_uniqueid_args", detail);
        return;
    }
    env->GetByteArrayRegion(idBytes, 0, static_cast<jsize>(sizeof id), reinterpret_cast<jbyte*>(&id));
    // NVSHMEM binds to the context current at init; the runtime's cudaSetDevice makes the primary context current.
    cudaError_t error = cudaSetDevice(cudaDevice);
    if (error != cudaSuccess) {
        throwCuda(env, "cudaSetDevice", error);
        return;
    }
    nvshmemx_init_attr_t attr = NVSHMEMX_INIT_ATTR_INITIALIZER;
    int status = nvshmemx_set_attr_uniqueid_args(rank, ranks, &id, &attr);
    if (status != 0) {
        throwStatus(env, "nvshmemx_set_attr_uniqueid_args", status);
        return;
    }
    // attr keeps a pointer to id (no copy), so id must stay in scope until init returns: it does.
    status = initWithUniqueId(&attr);
    if (status != 0) {
        throwStatus(env, "nvshmemx_init_attr(NVSHMEMX_INIT_WITH_UNIQUEID)", status);
    }
}

JNIEXPORT jint JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_myPe(JNIEnv*, jclass) {
    return nvshmem_my_pe();
}

JNIEXPORT jint JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_nPes(JNIEnv*, jclass) {
    return nvshmem_n_pes();
}

JNIEXPORT jlong JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_malloc(JNIEnv* env, jclass, jlong bytes) {
    void* address = nvshmem_malloc(static_cast<size_t>(bytes));
    if (address == nullptr) {
        char detail[128];
        std::snprintf(detail, sizeof detail, "returned NULL for %" PRId64
                      " bytes (symmetric heap exhausted? raise NVSHMEM_SYMMETRIC_SIZE)", static_cast<int64_t>(bytes));
        throwNvshmem(env, "nvshmem_malloc", detail);
        return 0;
    }
    return static_cast<jlong>(reinterpret_cast<uintptr_t>(address));
}

JNIEXPORT void JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_free(JNIEnv*, jclass, jlong address) {
    nvshmem_free(reinterpret_cast<void*>(static_cast<uintptr_t>(address)));
}

JNIEXPORT jlong JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_ptr(JNIEnv*, jclass, jlong address, jint pe) {
    void* peer = nvshmem_ptr(reinterpret_cast<const void*>(static_cast<uintptr_t>(address)), pe);
    return static_cast<jlong>(reinterpret_cast<uintptr_t>(peer));
}

JNIEXPORT jint JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_cumoduleInit(JNIEnv*, jclass, jlong module) {
    return nvshmemx_cumodule_init(reinterpret_cast<CUmodule>(static_cast<uintptr_t>(module)));
}

JNIEXPORT jint JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_cumoduleFinalize(JNIEnv*, jclass,
                                                                                         jlong module) {
    return nvshmemx_cumodule_finalize(reinterpret_cast<CUmodule>(static_cast<uintptr_t>(module)));
}

JNIEXPORT void JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_barrierAll(JNIEnv*, jclass) {
    nvshmem_barrier_all();
}

JNIEXPORT void JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_finalizeLibrary(JNIEnv*, jclass) {
    nvshmem_finalize();
}

JNIEXPORT jstring JNICALL Java_io_tokenroute_device_nvshmem_NvshmemNative_version(JNIEnv* env, jclass) {
    int major = 0, minor = 0, patch = 0;
    nvshmemx_vendor_get_version_info(&major, &minor, &patch);
    char text[96];
    std::snprintf(text, sizeof text, "NVSHMEM %d.%d.%d (headers %d.%d.%d)", major, minor, patch,
                  NVSHMEM_VENDOR_MAJOR_VERSION, NVSHMEM_VENDOR_MINOR_VERSION, NVSHMEM_VENDOR_PATCH_VERSION);
    return env->NewStringUTF(text);
}

}  // extern "C"
