// The single translation unit nvcc compiles into kernels.fatbin (see build-kernels.sh). Each family lives in its own
// file; including them here keeps one module, one cuModuleLoadData and one classpath resource.
//
// Kernel naming: extern "C" __global__ functions prefixed tr_, looked up by name from Java (io.tokenroute.device).
// Argument order and types are part of the Java contract: pointers and int64_t are 8 bytes (Java Long), int and
// float 4 bytes (Java Integer, Float); destinations come first, as in memcpy.
#include "fill.cu"
#include "cast.cu"
#include "fp8.cu"
// Elastic EP (cuda-local, and nvshmem: nvshmem_ptr peers here, NVSHMEM gets for the others with -DTR_EP_NVSHMEM as
// build-nvshmem-kernels.sh compiles it): shared helpers + peer access + collectives, dispatch, combine.
#include "sync.cu"
#include "dispatch.cu"
#include "combine.cu"
