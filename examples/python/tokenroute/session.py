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

"""A TokenRoute ``local`` group (R ranks as Java threads) driven from Python."""

import ctypes

import numpy as np

from . import _jvm, cdata
from ._errors import java_errors
from .host import Exported, numpy_view
from .stream import CombinedStream

__all__ = ["LocalSession", "TokenBatch", "Step", "pyarrow_batch"]


class TokenBatch:
    """A Java ``io.tokenroute.arrow.batch.TokenBatch`` made for a session; close it (or the session) when done."""

    def __init__(self, java_batch, producer=None, source=None):
        self.java = java_batch
        self.producer = producer  # the Python-side C Data producer of an imported batch, if any
        self.source = source  # the pyarrow batch an imported batch views, kept alive until the release

    @property
    def num_tokens(self):
        return int(self.java.numTokens())

    @property
    def hidden_address(self):
        return int(self.java.hiddenAddress())

    @property
    def topk_idx_address(self):
        return int(self.java.topkIdxAddress())

    @property
    def topk_weights_address(self):
        return int(self.java.topkWeightsAddress())

    @property
    def closed(self):
        return bool(self.java.isClosed())

    def close(self):
        self.java.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Step:
    """One step's results (a Java ``io.tokenroute.examples.python.StepResult``), valid until the next step.

    Exports (:meth:`combined`, :meth:`expert`) are zero-copy views of the ranks' memory: a later step overwrites
    what they show, so copy what you keep (``np.array(view)``, ``batch.to_pandas()``, ...).
    """

    def __init__(self, session, java_step):
        self._session = session
        self.java = java_step

    @property
    def number(self):
        return int(self.java.step())

    def participated(self, rank):
        return bool(self.java.participated(rank))

    def combined(self, rank):
        """Rank ``rank``'s combine output (``hidden`` bf16 [n][H], ``lost_weight`` float32 [n]) as an export."""
        with java_errors():
            return Exported(self.java.exportCombined(rank))

    def expert(self, rank, local_expert):
        """The rows rank ``rank``'s local expert received (``hidden``, ``src_rank``, ``src_token``) as an export."""
        with java_errors():
            return Exported(self.java.exportExpert(rank, local_expert))

    def recv_count(self, rank, local_expert):
        with java_errors():
            return int(self.java.recvCount(rank, local_expert))

    def expert_output(self, rank, local_expert):
        """Writable uint16 (bf16 bits) ``[recv_count][H]`` view of the combine-send rows of an expert: write the
        expert's outputs here between :meth:`LocalSession.dispatch` and :meth:`LocalSession.combine`. Valid until
        the combine; do not keep it."""
        with java_errors():
            address = int(self.java.expertOutputAddress(rank, local_expert))
            rows = int(self.java.recvCount(rank, local_expert))
        h = self._session.hidden
        return numpy_view(address, 2 * rows * h, np.uint16, (rows, h), owner=self, writable=True)

    def lost_weights(self, rank):
        """Rank ``rank``'s ``lost_weight`` per token (a copy)."""
        with java_errors():
            return np.array(self.java.lostWeights(rank), dtype=np.float32)

    def hidden_bits(self, rank):
        """Rank ``rank``'s combined ``hidden`` as bf16 bits ``[n][H]`` (a copy)."""
        with java_errors():
            bits = np.array(self.java.hiddenBits(rank), dtype=np.int16).view(np.uint16)
        return bits.reshape(-1, self._session.hidden)

    def newly_masked(self, rank):
        return [int(r) for r in self.java.newlyMasked(rank)]

    @property
    def any_newly_masked(self):
        return bool(self.java.anyNewlyMasked())

    def __repr__(self):
        return str(self.java.toString())


class LocalSession:
    """R ranks of TokenRoute's ``local`` transport (Java threads of the in-process JVM), driven from Python.

    >>> with LocalSession(ranks=4, experts=16, hidden=64, max_tokens=32, top_k=4) as s:
    ...     batches = [s.batch(x[r], idx[r], w[r]) for r in range(4)]
    ...     step = s.step(batches)                         # dispatch -> identity experts -> combine
    ...     out = step.combined(0).to_pyarrow()            # zero-copy pyarrow.RecordBatch

    Closing is deferred while Python still holds exported memory (pyarrow batches, numpy views): the Java side frees
    everything on the last release, so nothing you hold ever points at freed memory.
    """

    def __init__(self, ranks, experts, hidden, max_tokens, top_k, timeout_ms=2000, config=None):
        _jvm.start_jvm()
        cls = _jvm.jclass("io.tokenroute.examples.python.LocalSession")
        with java_errors():
            self.java = cls(config) if config is not None else cls.open(ranks, experts, hidden, max_tokens, top_k,
                                                                        timeout_ms)
        cfg = self.java.config()
        self.ranks = int(cfg.ranks())
        self.experts = int(cfg.experts())
        self.local_experts = int(cfg.localExperts())
        self.hidden = int(cfg.hidden())
        self._batches = []
        _jvm.track(self)

    # ------------------------------------------------------------------------------------------ inputs

    def batch(self, x, topk_idx, topk_weights):
        """A Java token batch from float values ``x [n][H]`` (rounded to bf16 in Java), ``topk_idx [n][k]``,
        ``topk_weights [n][k]`` (a copy into Java memory)."""
        jpype = _jvm.start_jvm()
        x = np.ascontiguousarray(x, dtype=np.float32)
        idx = np.ascontiguousarray(topk_idx, dtype=np.int64)
        w = np.ascontiguousarray(topk_weights, dtype=np.float32)
        with java_errors():
            b = self.java.batch(jpype.JArray(jpype.JFloat)(x.ravel()), jpype.JArray(jpype.JLong)(idx.ravel()),
                                jpype.JArray(jpype.JFloat)(w.ravel()), int(idx.shape[1]))
        return self._own(TokenBatch(b))

    def import_numpy(self, hidden, topk_idx, topk_weights):
        """A Java token batch over these numpy arrays' own memory (no copy), through the C Data Interface.

        ``hidden`` is uint16 bf16 bits ``[n][H]`` (see :func:`tokenroute.bf16.from_float32`); the arrays stay
        referenced until Java releases the batch (on close)."""
        producer = cdata.TokenBatchProducer(hidden, topk_idx, topk_weights)
        with java_errors():
            b = self.java.importBatch(producer.array_address, producer.schema_address)
        return self._own(TokenBatch(b, producer=producer))

    def import_pyarrow(self, record_batch):
        """A Java token batch over a ``pyarrow.RecordBatch``'s buffers (no copy), through the C Data Interface.

        Columns: ``hidden`` fixed_size_list of uint16 tagged ``tokenroute.bfloat16`` (see :func:`pyarrow_batch`),
        ``topk_idx`` fixed_size_list<int64>, ``topk_weights`` fixed_size_list<float32>."""
        array = cdata.ArrowArray()
        schema = cdata.ArrowSchema()
        record_batch._export_to_c(ctypes.addressof(array), ctypes.addressof(schema))
        try:
            with java_errors():
                b = self.java.importBatch(ctypes.addressof(array), ctypes.addressof(schema))
        finally:
            cdata.release_array(ctypes.addressof(array))  # only if Java did not take it
            cdata.release_schema(ctypes.addressof(schema))
        return self._own(TokenBatch(b, source=record_batch))

    # ------------------------------------------------------------------------------------------ steps

    def step(self, batches, experts="identity"):
        """Dispatch, experts, combine on every rank with a batch (``None`` leaves a rank out: the others mask it).

        :param experts: ``"identity"`` (outputs = received rows), or a callable ``experts(step)`` run between
            dispatch and combine that writes :meth:`Step.expert_output` for every rank and local expert
        """
        if experts == "identity":
            with java_errors():
                return Step(self, self.java.step(self._java_list(batches),
                                                 _jvm.jclass("io.tokenroute.examples.python.Experts").IDENTITY))
        step = self.dispatch(batches)
        experts(step)
        return self.combine(step)

    def dispatch(self, batches):
        """Dispatch only: then write :meth:`Step.expert_output` and call :meth:`combine`."""
        with java_errors():
            return Step(self, self.java.dispatch(self._java_list(batches)))

    def combine(self, step):
        with java_errors():
            self.java.combine(step.java)
        return step

    def agree_mask(self):
        """``agreeMask`` on every active rank: the common mask (1 = masked)."""
        with java_errors():
            return [int(m) for m in self.java.agreeMask()]

    def readmit(self, rank):
        """Brings a left-out or masked rank back (it and the active ranks run ``readmit``)."""
        with java_errors():
            return bool(self.java.readmit(rank))

    def stream_combined(self, rank):
        """Collects rank ``rank``'s combine output of every following step into one stream (see
        :class:`tokenroute.stream.CombinedStream`): ``finish()`` it after the last step, then ``to_pyarrow()``."""
        with java_errors():
            return CombinedStream(self, self.java.streamCombined(rank), rank)

    def ranks_to_readmit(self):
        return [int(r) for r in self.java.ranksToReadmit()]

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def closed(self):
        """Whether the Java side freed everything (False while exports are still held after :meth:`close`)."""
        return bool(self.java.isClosed())

    @property
    def export_bytes(self):
        return int(self.java.exportBytes())

    def close(self):
        """Closes the batches made here, then the session (deferred while exported memory is held)."""
        if self.java.isCloseRequested():
            return
        for b in self._batches:
            if not b.closed:
                b.close()
        self._batches.clear()
        with java_errors():
            self.java.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # The rank threads keep the Java session reachable: a session Python forgot must still be closed.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finaliser
            pass

    # ------------------------------------------------------------------------------------------ internals

    def _own(self, batch):
        self._batches.append(batch)
        return batch

    def _java_list(self, batches):
        if len(batches) != self.ranks:
            raise ValueError("need one batch (or None) per rank: %d, got %d" % (self.ranks, len(batches)))
        array_list = _jvm.jclass("java.util.ArrayList")()
        for b in batches:
            array_list.add(None if b is None else b.java)
        return array_list


def pyarrow_batch(hidden_bits, topk_idx, topk_weights):
    """A ``pyarrow.RecordBatch`` in TokenRoute's token batch layout from numpy arrays: ``hidden_bits`` uint16
    ``[n][H]`` (bf16 bits, tagged ``tokenroute.bfloat16``), ``topk_idx`` int64 and ``topk_weights`` float32 ``[n][k]``.
    """
    import pyarrow as pa

    hidden_bits = np.ascontiguousarray(hidden_bits, dtype=np.uint16)
    idx = np.ascontiguousarray(topk_idx, dtype=np.int64)
    w = np.ascontiguousarray(topk_weights, dtype=np.float32)
    n, h = hidden_bits.shape
    k = idx.shape[1]
    bf16_item = pa.field("item", pa.uint16(), nullable=False,
                         metadata={cdata.EXTENSION_NAME_KEY: cdata.BF16_EXTENSION, cdata.EXTENSION_METADATA_KEY: ""})
    schema = pa.schema([
        pa.field("hidden", pa.list_(bf16_item, h), nullable=False),
        pa.field("topk_idx", pa.list_(pa.field("item", pa.int64(), nullable=False), k), nullable=False),
        pa.field("topk_weights", pa.list_(pa.field("item", pa.float32(), nullable=False), k), nullable=False),
    ])
    columns = [pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), type=schema.field(i).type)
               for i, a in enumerate((hidden_bits, idx, w))]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
