#
# Copyright 2026 The TokenRoute Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#

"""Device batches (Arrow C Device Data Interface, CUDA) from Java into torch tensors, without copies.

pyarrow's pip wheels cannot import device arrays and DLPack from pyarrow is CPU-only, so the columns reach torch as
raw device pointers through ``__cuda_array_interface__`` (torch keeps the owner alive as long as a tensor views it).
bf16 columns (``tokenroute.bfloat16``, uint16 bits) are viewed as ``torch.bfloat16``.

Before the tensors are returned, the current torch stream waits on the export's ``sync_event`` (a pointer to a
``cudaEvent_t``), so work queued afterwards on that stream sees the data. The device array is read in place and
released (``release(&array)``, into Java) when the last tensor and the :class:`DeviceImport` are gone.
"""

import ctypes

from . import cdata
from ._errors import java_errors

__all__ = ["DeviceImport", "to_torch", "wait_event"]

_TYPESTR = {"c": "|i1", "C": "|u1", "s": "<i2", "S": "<u2", "i": "<i4", "I": "<u4", "l": "<i8", "L": "<u8",
            "e": "<f2", "f": "<f4", "g": "<f8"}
_ITEMSIZE = {"c": 1, "C": 1, "s": 2, "S": 2, "i": 4, "I": 4, "l": 8, "L": 8, "e": 2, "f": 4, "g": 8}
_libcuda = None


def _cuda():
    global _libcuda
    if _libcuda is None:
        _libcuda = ctypes.CDLL("libcuda.so.1")
        _libcuda.cuStreamWaitEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
        _libcuda.cuStreamWaitEvent.restype = ctypes.c_int
    return _libcuda


def wait_event(sync_event, stream_handle):
    """Makes ``stream_handle`` (a ``cudaStream_t``) wait for ``*sync_event`` (``sync_event`` points to a
    ``cudaEvent_t``, as in ``ArrowDeviceArray``); no-op for NULL."""
    if not sync_event:
        return
    event = ctypes.c_void_p.from_address(sync_event).value
    rc = _cuda().cuStreamWaitEvent(ctypes.c_void_p(stream_handle), ctypes.c_void_p(event), 0)
    if rc != 0:
        raise RuntimeError("cuStreamWaitEvent failed with CUresult %d" % rc)


class _CudaArray:
    """One column's ``__cuda_array_interface__``; holds the import so the memory stays exported while viewed."""

    def __init__(self, owner, pointer, shape, typestr):
        self._owner = owner
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (pointer, False),
                                         "strides": None, "version": 2}


class DeviceImport:
    """A Java ``ExportedDeviceBatch`` read in place: columns as torch tensors; released when no longer referenced."""

    def __init__(self, exported_device_batch, stream=None):
        import torch

        self._java = exported_device_batch
        self.address = int(exported_device_batch.deviceArrayAddress())
        self.schema = cdata.read_schema(int(exported_device_batch.schemaAddress()))
        self.array, self.device_type, self.device_id, self.sync_event, reserved = cdata.read_device_array(
            self.address)
        if self.device_type != cdata.DEVICE_CUDA:
            raise ValueError("not a CUDA device array: device_type %d" % self.device_type)
        if any(reserved):
            raise ValueError("reserved words must be zero: %s" % reserved)
        self.device = torch.device("cuda", self.device_id)
        stream = stream or torch.cuda.current_stream(self.device)
        wait_event(self.sync_event, stream.cuda_stream)

    def tensors(self):
        """The columns as tensors by name. Each tensor keeps this import alive (not the other way round, so the
        import is released as soon as the last tensor goes)."""
        import torch

        return {s.name: self._tensor(torch, self.device, s, a)
                for s, a in zip(self.schema.children, self.array.children)}

    def _tensor(self, torch, device, schema, array):
        if schema.format.startswith("+w:"):
            width = int(schema.format[3:])
            item_schema, item = schema.children[0], array.children[0]
            fmt = item_schema.format
            shape = (array.length, width)
            start = item.offset + array.offset * width
            bf16 = item_schema.extension_name == cdata.BF16_EXTENSION
            data = item.buffers[1]
        else:
            fmt = schema.format
            shape = (array.length,)
            start = array.offset
            bf16 = schema.extension_name == cdata.BF16_EXTENSION
            data = array.buffers[1]
        if fmt not in _TYPESTR:
            raise TypeError("column %r of format %r has no tensor view" % (schema.name, fmt))
        typestr = "<i2" if bf16 else _TYPESTR[fmt]
        tensor = torch.as_tensor(_CudaArray(self, data + start * _ITEMSIZE[fmt], shape, typestr), device=device)
        return tensor.view(torch.bfloat16) if bf16 else tensor

    @property
    def released(self):
        return cdata.ArrowArray.from_address(self.address).release is None

    def release(self):
        """Releases the device array now (idempotent); tensors still alive must not be used afterwards. After the
        bridge's exit handler (the JVM is going away) nothing calls into Java any more: see
        :func:`tokenroute.cdata.jvm_gone`."""
        if self._java is not None:
            java, self._java = self._java, None
            if not cdata.jvm_alive():
                return
            cdata.release_array(self.address)
            with java_errors():
                java.close()

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finaliser
            pass


def to_torch(exported_device_batch, stream=None):
    """The columns of a Java ``ExportedDeviceBatch`` as CUDA tensors by name, zero-copy (``hidden`` bf16 ``[n][H]``,
    ``topk_idx`` int64 ``[n][k]``, ...). The current (or given) torch stream waits on the export's sync event first.
    The export is released when every tensor is gone."""
    return DeviceImport(exported_device_batch, stream).tensors()
