// TokenRoute kernel tunables: the one place where block sizes and numeric constants of the kernels live.
//
// The Java launchers do not copy these numbers. They read each kernel's maximum block size back from the loaded
// module (cuFuncGetAttribute(MAX_THREADS_PER_BLOCK) reports the __launch_bounds__ value below) and size grids with
// the occupancy API, so changing a value here and rebuilding is enough.
#pragma once

// ---- fill / poison (fill.cu) ----
#define TR_FILL_THREADS 256

// ---- dtype casts (cast.cu) ----
#define TR_CAST_THREADS 256
// Elements per vectorised step: 8 two-byte values are one 16-byte load or store.
#define TR_CAST_VEC 8

// ---- per-token FP8 quantisation (fp8.cu) ----
// Must be a multiple of 32: the kernel gives each 128-channel group to half a warp.
#define TR_FP8_THREADS 256
// Channels that share one scale; the Java quantiser (io.tokenroute.arrow.numeric.Fp8Quantizer.GROUP) must agree.
#define TR_FP8_GROUP 128
// Largest finite float8 e4m3fn magnitude, which each group's amax is scaled to.
#define TR_FP8_E4M3_MAX 448.0f
// Lower bound on a group's amax so that an all-zero group still gets a finite scale (Fp8Quantizer.AMAX_FLOOR).
#define TR_FP8_AMAX_FLOOR 1e-4f
