"""bfloat16 in numpy (which has no bf16 dtype): bits are uint16, as TokenRoute's ``tokenroute.bfloat16`` columns.

Rounding matches the Java side (``TokenBatch.fromFloats``): float32 -> bf16 rounds to nearest, ties to even; NaN
stays a quiet NaN with its sign.
"""

import numpy as np

__all__ = ["from_float32", "to_float32"]


def from_float32(x):
    """bf16 bits (uint16) of float32 values, round to nearest even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet = (bits >> np.uint32(16)) | np.uint32(0x0040)
    return np.where(nan, quiet, rounded).astype(np.uint16)


def to_float32(bits):
    """float32 values of bf16 bits (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)
