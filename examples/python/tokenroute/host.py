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

"""Host record batches exported by Java (``io.tokenroute.arrow.cdata.ExportedBatch``) handed to Python, zero-copy."""

import ctypes

from . import _jvm, cdata
from ._errors import java_errors


class Exported:
    """A record batch Java exported through the C Data Interface, not yet imported.

    Import it once: :meth:`to_pyarrow` (pyarrow) or :meth:`to_numpy` (numpy views, no pyarrow needed). Either moves
    the array out of Java's struct, through a proxy (:func:`tokenroute.cdata.proxy_array`): from then on the imported
    object owns it and its release (when garbage collected) tells Java the memory may go. :meth:`schema` and
    :meth:`array` read the structs in place, for inspection. Closing without importing releases the export; one
    still open at interpreter exit is closed then.
    """

    def __init__(self, java_exported):
        self._java = java_exported
        self._closed = False
        _jvm.track(self)

    @property
    def array_address(self):
        self._check()
        return int(self._java.arrayAddress())

    @property
    def schema_address(self):
        self._check()
        return int(self._java.schemaAddress())

    def schema(self):
        """The exported schema (read in place)."""
        return cdata.read_schema(self.schema_address)

    def array(self):
        """The exported array (read in place; buffer contents untouched)."""
        return cdata.read_array(self.array_address)

    @property
    def java(self):
        """The Java ``ExportedBatch``."""
        return self._java

    def to_pyarrow(self):
        """A ``pyarrow.RecordBatch`` over the Java buffers (same addresses, nothing copied)."""
        import pyarrow as pa

        try:
            proxy = cdata.proxy_array(self.array_address)
            return pa.RecordBatch._import_from_c(ctypes.addressof(proxy), self.schema_address)
        finally:
            self.close()

    def to_numpy(self, writable=False):
        """The columns as numpy views over the Java buffers, by name (see :func:`tokenroute.cdata.as_numpy`)."""
        return cdata.as_numpy(self.imported(), writable)

    def imported(self):
        """Moves the array into a Python-owned :class:`tokenroute.cdata.ImportedArray` (released when collected)."""
        try:
            proxy = cdata.proxy_array(self.array_address)
            return cdata.ImportedArray(ctypes.addressof(proxy), self.schema_address)
        finally:
            self.close()

    def close(self):
        """Releases what no consumer took and frees Java's structs. Idempotent."""
        if not self._closed:
            self._closed = True
            with java_errors():
                self._java.close()

    def _check(self):
        if self._closed:
            raise ValueError("this export was imported or closed already")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finaliser
            pass


def numpy_view(address, nbytes, dtype, shape, owner=None, writable=True):
    """A numpy array over raw memory (no copy). The caller guarantees the memory outlives the array."""
    import numpy as np

    raw = (ctypes.c_char * nbytes).from_address(address) if nbytes else bytearray()
    if owner is not None and nbytes:
        raw._tokenroute_owner = owner
    view = np.frombuffer(raw, dtype=dtype).reshape(shape)
    view.flags.writeable = writable and nbytes > 0
    return view
