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

"""A run's outputs as one stream of record batches: the Arrow C Stream Interface (pyarrow ``RecordBatchReader``, or
the struct level without pyarrow) and Arrow IPC streams."""

import ctypes

from . import cdata
from ._errors import java_errors

__all__ = ["CombinedStream"]


class CombinedStream:
    """Rank ``rank``'s combine outputs of every step after :meth:`LocalSession.stream_combined` (a Java
    ``io.tokenroute.arrow.stream.RecordBatchQueue``): one record batch per step the rank took part in, ``hidden`` bf16
    ``[n][H]`` and ``lost_weight`` float32, each a copy of that step's output (the output memory is reused by the next
    step); everything after the copy is zero-copy.

    Call :meth:`finish` after the last step, then consume it once: :meth:`to_pyarrow`, :meth:`reader` or
    :meth:`write_ipc`. Reading an unfinished stream waits for the next step, so on one thread finish it first. The
    session's close ends it too; a failed step ends it with that failure, which the reader raises.
    """

    def __init__(self, session, java_queue, rank):
        self._session = session
        self.java = java_queue
        self.rank = rank
        self._consumed = False

    def finish(self):
        """No more batches: the consumer sees the end after the ones already there."""
        self.java.finish()

    @property
    def queued(self):
        """Batches waiting to be read."""
        return int(self.java.queuedBatches())

    def _export(self):
        if self._consumed:
            raise ValueError("this stream was consumed already")
        self._consumed = True
        with java_errors():
            exported = self._session.java.exportStream(self.java)
        try:
            return cdata.proxy_stream(int(exported.streamAddress()))
        finally:
            exported.close()

    def to_pyarrow(self):
        """A ``pyarrow.RecordBatchReader`` over the stream (Arrow C Stream Interface); each batch views Java's memory
        and stays valid after the reader moved on."""
        import pyarrow as pa

        proxy = self._export()
        return pa.RecordBatchReader._import_from_c(ctypes.addressof(proxy))

    def reader(self):
        """The stream at the C struct level, without pyarrow: a :class:`tokenroute.cdata.StreamReader` yielding one
        :class:`tokenroute.cdata.ImportedArray` per batch (see :func:`tokenroute.cdata.as_numpy`)."""
        proxy = self._export()
        return cdata.StreamReader(ctypes.addressof(proxy))

    def write_ipc(self, path):
        """Writes the stream to ``path`` as an Arrow IPC stream (``pyarrow.ipc.open_stream`` reads it); returns the
        number of batches."""
        from . import _jvm

        if self._consumed:
            raise ValueError("this stream was consumed already")
        self._consumed = True
        out = _jvm.jclass("java.io.FileOutputStream")(str(path))
        try:
            with java_errors():
                return int(_jvm.jclass("io.tokenroute.arrow.ipc.IpcStreams").copy(self.java, out))
        finally:
            out.close()
            self.java.close()
