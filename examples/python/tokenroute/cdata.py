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

"""The Arrow C Data Interface structs in ctypes: readers, a consumer and a producer.

Layouts (x86-64 / LP64) from Arrow's ``abi.h``, the same TokenRoute's Java side documents
(``io.tokenroute.arrow.cdata.ArrowArrayView`` / ``DeviceArrayView``)::

    struct ArrowSchema  (72 bytes): format, name, metadata, flags, n_children, children, dictionary, release,
                                    private_data
    struct ArrowArray   (80 bytes): length, null_count, offset, n_buffers, n_children, buffers, children,
                                    dictionary, release, private_data
    struct ArrowDeviceArray (128):  ArrowArray array; int64 device_id @80; int32 device_type @88;
                                    void* sync_event @96; int64 reserved[3] @104

    struct ArrowArrayStream (40):   get_schema, get_next, get_last_error, release, private_data

Who releases what: whoever holds a struct whose ``release`` is not NULL calls it, once. A consumer that imports moves
the struct (copies it and sets ``release`` to NULL in the source); a consumer that reads in place calls ``release`` on
the source when done.

**Releases into the JVM.** A Java-produced struct's ``release`` calls into the JVM. Python may drop the last reference
to an import while it tears the interpreter down, after the JVM was destroyed, where such a call can only fail (Arrow
Java then prints "Failed to release Java C Data resource"). So Java's arrays and streams reach consumers (pyarrow,
numpy views) through *proxies* (:func:`proxy_array`, :func:`proxy_stream`): Python-owned structs with the same fields
whose callbacks forward to Java while the JVM runs and do nothing once :func:`jvm_gone` was called (the bridge calls
it at exit, after closing what it can). The process is ending then; its memory goes with it.

Nothing here needs pyarrow or numpy (numpy is only used by :func:`as_numpy` and :class:`TokenBatchProducer`).
"""

import ctypes
import struct
import threading

__all__ = [
    "ArrowSchema", "ArrowArray", "ArrowDeviceArray", "ArrowArrayStream", "SchemaInfo", "ArrayInfo",
    "read_schema", "read_array", "read_device_array", "release_array", "release_schema", "move_array",
    "decode_metadata", "encode_metadata", "ImportedArray", "as_numpy", "TokenBatchProducer", "StreamReader",
    "proxy_array", "proxy_stream", "jvm_alive", "jvm_gone", "live_proxies",
    "DEVICE_CPU", "DEVICE_CUDA", "DEVICE_CUDA_HOST", "DEVICE_CUDA_MANAGED", "BF16_EXTENSION",
]

DEVICE_CPU, DEVICE_CUDA, DEVICE_CUDA_HOST, DEVICE_CUDA_MANAGED = 1, 2, 3, 13
BF16_EXTENSION = "tokenroute.bfloat16"
EXTENSION_NAME_KEY = "ARROW:extension:name"
EXTENSION_METADATA_KEY = "ARROW:extension:metadata"


class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class ArrowDeviceArray(ctypes.Structure):
    _fields_ = [
        ("array", ArrowArray),
        ("device_id", ctypes.c_int64),
        ("device_type", ctypes.c_int32),
        ("sync_event", ctypes.c_void_p),
        ("reserved", ctypes.c_int64 * 3),
    ]


class ArrowArrayStream(ctypes.Structure):
    pass


_RELEASE_SCHEMA = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))
_RELEASE_ARRAY = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))
_GET_SCHEMA = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowSchema))
_GET_NEXT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowArray))
# const char*, as a raw pointer: ctypes callbacks cannot return c_char_p.
_GET_LAST_ERROR = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(ArrowArrayStream))
_RELEASE_STREAM = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))

ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.c_void_p),
    ("get_next", ctypes.c_void_p),
    ("get_last_error", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

assert ctypes.sizeof(ArrowSchema) == 72 and ctypes.sizeof(ArrowArray) == 80
assert ctypes.sizeof(ArrowDeviceArray) == 128 and ArrowDeviceArray.sync_event.offset == 96
assert ctypes.sizeof(ArrowArrayStream) == 40 and ArrowArrayStream.release.offset == 24

_EIO = 5


# ------------------------------------------------------------------------------------------------ readers


class SchemaInfo:
    """What a ``struct ArrowSchema`` says: format, name, metadata, flags and children, recursively."""

    def __init__(self, address, format, name, metadata, flags, children, released):
        self.address = address
        self.format = format
        self.name = name
        self.metadata = metadata
        self.flags = flags
        self.children = children
        self.released = released

    @property
    def extension_name(self):
        return self.metadata.get(EXTENSION_NAME_KEY)

    def child(self, name):
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(name)

    def __repr__(self):
        return "SchemaInfo(%r, %r, children=%r)" % (self.name, self.format, [c.name for c in self.children])


class ArrayInfo:
    """What a ``struct ArrowArray`` says: sizes, buffer addresses and children, recursively (buffers are not read)."""

    def __init__(self, address, length, null_count, offset, buffers, children, release, private_data):
        self.address = address
        self.length = length
        self.null_count = null_count
        self.offset = offset
        self.buffers = buffers
        self.children = children
        self.release = release
        self.private_data = private_data

    @property
    def released(self):
        return not self.release

    def __repr__(self):
        return "ArrayInfo(length=%d, buffers=%s, children=%d)" % (
            self.length, ["0x%x" % (b or 0) for b in self.buffers], len(self.children))


def decode_metadata(address):
    """The key/value pairs of an ArrowSchema ``metadata`` blob (int32 count, then int32-length-prefixed strings)."""
    if not address:
        return {}
    count = ctypes.c_int32.from_address(address).value
    pos = address + 4
    out = {}
    for _ in range(count):
        parts = []
        for _ in range(2):
            n = ctypes.c_int32.from_address(pos).value
            parts.append(ctypes.string_at(pos + 4, n).decode("utf-8"))
            pos += 4 + n
        out[parts[0]] = parts[1]
    return out


def encode_metadata(pairs):
    """The binary metadata blob for ``pairs`` (a dict), as the C Data Interface lays it out."""
    blob = struct.pack("<i", len(pairs))
    for k, v in pairs.items():
        for s in (k.encode("utf-8"), v.encode("utf-8")):
            blob += struct.pack("<i", len(s)) + s
    return blob


def read_schema(address):
    """Reads the ArrowSchema at ``address`` (recursively); never calls ``release``."""
    s = ArrowSchema.from_address(address)
    children = [read_schema(ctypes.addressof(s.children[i].contents)) for i in range(s.n_children)]
    return SchemaInfo(address, (s.format or b"").decode(), (s.name or b"").decode(), decode_metadata(s.metadata),
                      s.flags, children, not s.release)


def read_array(address):
    """Reads the ArrowArray at ``address`` (recursively) without touching its buffers' contents."""
    a = ArrowArray.from_address(address)
    buffers = [a.buffers[i] or 0 for i in range(a.n_buffers)]
    children = [read_array(ctypes.addressof(a.children[i].contents)) for i in range(a.n_children)]
    return ArrayInfo(address, a.length, a.null_count, a.offset, buffers, children, a.release or 0,
                     a.private_data or 0)


def read_device_array(address):
    """Reads an ArrowDeviceArray: ``(ArrayInfo, device_type, device_id, sync_event, reserved)``."""
    d = ArrowDeviceArray.from_address(address)
    return read_array(address), d.device_type, d.device_id, d.sync_event or 0, list(d.reserved)


def release_array(address):
    """Calls the ArrowArray's (or ArrowDeviceArray's) ``release`` if it is set; returns whether it was."""
    a = ArrowArray.from_address(address)
    if not a.release:
        return False
    _RELEASE_ARRAY(a.release)(ctypes.cast(address, ctypes.POINTER(ArrowArray)))
    return True


def release_schema(address):
    """Calls the ArrowSchema's ``release`` if it is set; returns whether it was."""
    s = ArrowSchema.from_address(address)
    if not s.release:
        return False
    _RELEASE_SCHEMA(s.release)(ctypes.cast(address, ctypes.POINTER(ArrowSchema)))
    return True


def move_array(address):
    """Moves the ArrowArray at ``address`` into a new Python-owned struct (the source is marked released)."""
    dst = ArrowArray()
    ctypes.memmove(ctypes.addressof(dst), address, ctypes.sizeof(ArrowArray))
    ArrowArray.from_address(address).release = None
    return dst


def move_stream(address):
    """Moves the ArrowArrayStream at ``address`` into a new Python-owned struct (the source is marked released)."""
    dst = ArrowArrayStream()
    ctypes.memmove(ctypes.addressof(dst), address, ctypes.sizeof(ArrowArrayStream))
    ArrowArrayStream.from_address(address).release = None
    return dst


# ------------------------------------------------------------------------------------------------ proxies


class _Jvm:
    """Whether Java-produced structs may still be released into the JVM (see the module comment)."""
    alive = True


_JVM = _Jvm()
# Proxies not yet released: their callbacks and the moved Java structs. Python may free this module's objects while
# it tears down, while a consumer (a pyarrow object freed later) still holds a callback's address: one extra
# reference keeps the registry, and with it every registered callback, alive to the very end. A callback never frees
# itself while it runs: it notes its key in _DONE, and the next proxy made drops the noted entries.
_LIVE = {}
_DONE = []
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_LIVE))
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_DONE))


def jvm_alive():
    """False once :func:`jvm_gone` was called."""
    return _JVM.alive


def jvm_gone():
    """From now on, releasing a proxy does not call into Java (the JVM is being destroyed)."""
    _JVM.alive = False


def live_proxies():
    """How many proxies were handed out and not released yet."""
    return len(_LIVE) - len(_DONE)


def _forget_released():
    while _DONE:
        _LIVE.pop(_DONE.pop(), None)


def proxy_array(address):
    """Moves the Java-produced ArrowArray at ``address`` into Python and returns a Python-owned ArrowArray with the
    same fields (buffers and children stay Java's) whose ``release`` releases Java's array while the JVM runs.
    Hand it to a consumer (``pa.RecordBatch._import_from_c(ctypes.addressof(proxy), ...)``, :class:`ImportedArray`)
    right away; it is released exactly once, by whoever holds it last."""
    outer = ArrowArray()
    _proxy_into(move_array(address), ctypes.addressof(outer))
    return outer


def _proxy_into(inner, target, live=_LIVE, done=_DONE, jvm=_JVM, release_type=_RELEASE_ARRAY, array_type=ArrowArray,
                memmove=ctypes.memmove, addressof=ctypes.addressof, sizeof=ctypes.sizeof, pointer=ctypes.pointer,
                cast=ctypes.cast, c_void_p=ctypes.c_void_p, forget=_forget_released):
    """Writes into the ArrowArray at ``target`` a proxy of the moved Java array ``inner``. Called from stream
    callbacks too: only its arguments are used."""
    forget()
    key = object()
    java_release = release_type(inner.release)
    inner_pointer = pointer(inner)

    # Runs on any thread, possibly during interpreter teardown: it touches only what it was given.
    def release(ptr, key=key, done=done, jvm=jvm, java_release=java_release, inner_pointer=inner_pointer):
        try:
            if jvm.alive:
                java_release(inner_pointer)
            ptr.contents.release = None
            done.append(key)
        except:  # noqa: E722 - a callback must not raise, nor look up a name (not even BaseException) at exit
            pass

    callback = release_type(release)
    live[key] = (callback, inner)
    memmove(target, addressof(inner), sizeof(inner))
    proxy = array_type.from_address(target)
    proxy.private_data = None
    proxy.release = cast(callback, c_void_p)


def proxy_stream(address):
    """Moves the Java-produced ArrowArrayStream at ``address`` into Python and returns a Python-owned stream struct
    whose callbacks forward to Java's while the JVM runs; every array its ``get_next`` yields is a proxy too (see
    :func:`proxy_array`). Hand it to a consumer right away (``pa.RecordBatchReader._import_from_c``,
    :class:`StreamReader`)."""
    _forget_released()
    inner = move_stream(address)
    key = object()
    java = (_GET_SCHEMA(inner.get_schema), _GET_NEXT(inner.get_next), _GET_LAST_ERROR(inner.get_last_error),
            _RELEASE_STREAM(inner.release))
    inner_pointer = ctypes.pointer(inner)
    eio = _EIO

    def get_schema(ptr, out, jvm=_JVM, java=java, inner_pointer=inner_pointer, eio=eio):
        try:
            return java[0](inner_pointer, out) if jvm.alive else eio
        except:  # noqa: E722 - see _proxy_into
            return eio

    def get_next(ptr, out, jvm=_JVM, java=java, inner_pointer=inner_pointer, eio=eio, array_type=ArrowArray,
                 pointer=ctypes.pointer, addressof=ctypes.addressof, proxy_into=_proxy_into):
        try:
            if not jvm.alive:
                return eio
            array = array_type()
            rc = java[1](inner_pointer, pointer(array))
            if rc != 0:
                return rc
            if not array.release:
                out.contents.release = None
                return 0
            proxy_into(array, addressof(out.contents))
            return 0
        except:  # noqa: E722 - see _proxy_into
            return eio

    def get_last_error(ptr, jvm=_JVM, java=java, inner_pointer=inner_pointer):
        try:
            return java[2](inner_pointer) if jvm.alive else None
        except:  # noqa: E722 - see _proxy_into
            return None

    def release(ptr, key=key, done=_DONE, jvm=_JVM, java=java, inner_pointer=inner_pointer):
        try:
            if jvm.alive:
                java[3](inner_pointer)
            ptr.contents.release = None
            done.append(key)
        except:  # noqa: E722 - see _proxy_into
            pass

    callbacks = (_GET_SCHEMA(get_schema), _GET_NEXT(get_next), _GET_LAST_ERROR(get_last_error),
                 _RELEASE_STREAM(release))
    _LIVE[key] = (callbacks, inner, java)
    outer = ArrowArrayStream()
    outer.get_schema, outer.get_next, outer.get_last_error, outer.release = [
        ctypes.cast(c, ctypes.c_void_p) for c in callbacks]
    outer.private_data = None
    return outer


# ------------------------------------------------------------------------------------------------ consumer


class ImportedArray:
    """A moved ArrowArray owned by Python: released (once) when this object is garbage collected or :meth:`release`d.

    Keep it referenced as long as anything reads the buffers (the numpy arrays of :func:`as_numpy` do).
    """

    def __init__(self, array_address, schema_address=None, schema=None):
        """Moves the array at ``array_address``; its type comes from the ArrowSchema at ``schema_address`` (read,
        not released) or an already read :class:`SchemaInfo`."""
        self.schema = schema if schema is not None else read_schema(schema_address)
        self._struct = move_array(array_address)
        self.info = read_array(ctypes.addressof(self._struct))
        self._lock = threading.Lock()

    @property
    def released(self):
        return not self._struct.release

    def release(self):
        with self._lock:
            return release_array(ctypes.addressof(self._struct))

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finaliser
            pass


_PRIMITIVES = {"c": "i1", "C": "u1", "s": "i2", "S": "u2", "i": "i4", "I": "u4", "l": "i8", "L": "u8",
               "e": "f2", "f": "f4", "g": "f8"}


def _column(np, schema, array, owner, writable):
    """A zero-copy numpy view of one column: primitives 1-D, fixed-size lists of primitives 2-D."""
    fmt = schema.format
    if fmt.startswith("+w:"):
        width = int(fmt[3:])
        child = _column(np, schema.children[0], array.children[0], owner, writable)
        start = array.offset * width
        return child[start:start + array.length * width].reshape(array.length, width)
    if fmt not in _PRIMITIVES:
        raise TypeError("column %r of format %r has no numpy view here" % (schema.name, fmt))
    if array.null_count != 0 and array.buffers[0]:
        raise ValueError("column %r holds nulls: no plain numpy view" % schema.name)
    dtype = np.dtype("<" + _PRIMITIVES[fmt])
    n = array.offset + array.length
    if n == 0:
        return np.zeros(0, dtype)
    raw = (ctypes.c_char * (n * dtype.itemsize)).from_address(array.buffers[1])
    raw._tokenroute_owner = owner
    view = np.frombuffer(raw, dtype=dtype)[array.offset:]
    view.flags.writeable = writable
    return view


def as_numpy(imported, writable=False):
    """Numpy views (no copy) of an :class:`ImportedArray` record batch's columns, by name.

    bf16 columns (``tokenroute.bfloat16``) come as their uint16 bits: see :func:`tokenroute.bf16.to_float32`. The
    views keep ``imported`` alive; it is released when the last view and ``imported`` itself are gone.
    """
    import numpy as np

    if imported.schema.format != "+s":
        raise TypeError("not a record batch (struct) array: format %r" % imported.schema.format)
    return {s.name: _column(np, s, a, imported, writable)
            for s, a in zip(imported.schema.children, imported.info.children)}


class StreamReader:
    """A C Stream consumer at the struct level (what pyarrow's ``RecordBatchReader._import_from_c`` does, without
    pyarrow): moves the ArrowArrayStream at ``address``, reads its schema with ``get_schema``, and yields one
    :class:`ImportedArray` per ``get_next`` until the end (an array whose ``release`` is NULL). A non-zero
    ``get_next`` raises :class:`OSError` with ``get_last_error``'s message. The stream is released once, by
    :meth:`release` or when this object is collected; the arrays live on independently.
    """

    def __init__(self, address):
        self._struct = move_stream(address)
        self.calls = []
        schema = ArrowSchema()
        self._check(self._call(_GET_SCHEMA, "get_schema", ctypes.pointer(schema)), "get_schema")
        self.schema = read_schema(ctypes.addressof(schema))
        release_schema(ctypes.addressof(schema))

    def _call(self, kind, name, *args):
        self.calls.append(name)
        function = kind(getattr(self._struct, name))
        return function(ctypes.pointer(self._struct), *args)

    def _check(self, rc, what):
        if rc != 0:
            message = self._call(_GET_LAST_ERROR, "get_last_error")
            text = ctypes.string_at(message).decode() if message else "(no message)"
            raise OSError(rc, "%s failed: %s" % (what, text))

    @property
    def released(self):
        return not self._struct.release

    def __iter__(self):
        return self

    def __next__(self):
        if self.released:
            raise StopIteration
        array = ArrowArray()
        self._check(self._call(_GET_NEXT, "get_next", ctypes.pointer(array)), "get_next")
        if not array.release:
            raise StopIteration
        return ImportedArray(ctypes.addressof(array), schema=self.schema)

    def release(self):
        """Releases the stream (once); returns whether this call did."""
        if self.released:
            return False
        self._call(_RELEASE_STREAM, "release")
        return True

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finaliser
            pass


# ------------------------------------------------------------------------------------------------ producer


class _Node:
    """One exported (schema, array) pair and the Python objects its pointers point into."""

    def __init__(self):
        self.keep = []


class TokenBatchProducer:
    """A token batch exported BY Python through the C Data Interface, over numpy arrays' own memory (no copy).

    ``hidden`` is ``[n][H]`` uint16 (bf16 bits, tagged ``tokenroute.bfloat16``), float16 or float32; ``topk_idx``
    ``[n][k]`` int64; ``topk_weights`` ``[n][k]`` float32. :attr:`array_address` / :attr:`schema_address` go to a
    consumer, e.g. ``HostExport.importBatch`` (Java). The consumer moves the array and later calls its ``release``
    once: :attr:`release_calls` counts the calls (the arrays stay referenced until then); :attr:`schema_releases`
    counts the schema's.

    ``offset`` and ``length`` export rows ``[offset, offset + length)`` the way ``pyarrow.RecordBatch.slice`` does:
    each column array gets that offset and length over the whole arrays' memory (the list elements keep offset 0).
    """

    def __init__(self, hidden, topk_idx, topk_weights, offset=0, length=None):
        import numpy as np

        hidden = np.ascontiguousarray(hidden)
        topk_idx = np.ascontiguousarray(topk_idx, dtype=np.int64)
        topk_weights = np.ascontiguousarray(topk_weights, dtype=np.float32)
        n = hidden.shape[0]
        if hidden.ndim != 2 or topk_idx.ndim != 2 or topk_idx.shape != topk_weights.shape or topk_idx.shape[0] != n:
            raise ValueError("need hidden [n][H], topk_idx and topk_weights [n][k]")
        item = {np.dtype(np.uint16): ("S", {EXTENSION_NAME_KEY: BF16_EXTENSION, EXTENSION_METADATA_KEY: ""}),
                np.dtype(np.float16): ("e", {}), np.dtype(np.float32): ("f", {})}.get(hidden.dtype)
        if item is None:
            raise TypeError("hidden must be uint16 (bf16 bits), float16 or float32, got %s" % hidden.dtype)
        length = n - offset if length is None else length
        if offset < 0 or length < 0 or offset + length > n:
            raise ValueError("rows [%d, %d) outside the %d rows" % (offset, offset + length, n))
        self.release_calls = 0
        self.schema_releases = 0
        self.arrays = (hidden, topk_idx, topk_weights)
        self._nodes = []
        self._release_array = _RELEASE_ARRAY(self._on_release_array)
        self._release_child = _RELEASE_ARRAY(self._on_release_child)
        self._release_schema = _RELEASE_SCHEMA(self._on_release_schema)
        columns = [("hidden", hidden, item[0], item[1]), ("topk_idx", topk_idx, "l", {}),
                   ("topk_weights", topk_weights, "f", {})]
        child_schemas, child_arrays = [], []
        for name, data, fmt, meta in columns:
            width = data.shape[1]
            leaf_s = self._schema(fmt, "item", meta, [])
            leaf_a = self._array(n * width, [None, data.ctypes.data], [], self._release_child)
            child_schemas.append(self._schema("+w:%d" % width, name, {}, [leaf_s]))
            child_arrays.append(self._array(length, [None], [leaf_a], self._release_child, offset))
        self.schema = self._schema("+s", "", {}, child_schemas, top=True)
        self.array = self._array(length, [None], child_arrays, self._release_array)

    @property
    def array_address(self):
        return ctypes.addressof(self.array)

    @property
    def schema_address(self):
        return ctypes.addressof(self.schema)

    def _schema(self, fmt, name, metadata, children, top=False):
        s = ArrowSchema()
        node = _Node()
        node.keep += [fmt.encode(), name.encode()]
        s.format = node.keep[0]
        s.name = node.keep[1]
        if metadata:
            blob = ctypes.create_string_buffer(encode_metadata(metadata))
            node.keep.append(blob)
            s.metadata = ctypes.addressof(blob)
        s.flags = 0
        s.n_children = len(children)
        if children:
            ptrs = (ctypes.POINTER(ArrowSchema) * len(children))(*[ctypes.pointer(c) for c in children])
            node.keep += [ptrs, children]
            s.children = ctypes.cast(ptrs, ctypes.POINTER(ctypes.POINTER(ArrowSchema)))
        s.release = ctypes.cast(self._release_schema if top else _noop_schema_release, ctypes.c_void_p)
        self._nodes.append(node)
        return s

    def _array(self, length, buffers, children, release, offset=0):
        a = ArrowArray()
        node = _Node()
        a.length = length
        a.null_count = 0
        a.offset = offset
        a.n_buffers = len(buffers)
        bufs = (ctypes.c_void_p * len(buffers))(*buffers)
        node.keep.append(bufs)
        a.buffers = ctypes.cast(bufs, ctypes.POINTER(ctypes.c_void_p))
        a.n_children = len(children)
        if children:
            ptrs = (ctypes.POINTER(ArrowArray) * len(children))(*[ctypes.pointer(c) for c in children])
            node.keep += [ptrs, children]
            a.children = ctypes.cast(ptrs, ctypes.POINTER(ctypes.POINTER(ArrowArray)))
        a.release = ctypes.cast(release, ctypes.c_void_p)
        self._nodes.append(node)
        return a

    def _on_release_array(self, ptr):
        # The consumer calls this on ITS (moved) copy: release the children, then mark the struct released.
        a = ptr.contents
        for i in range(a.n_children):
            child = a.children[i].contents
            if child.release:
                _RELEASE_ARRAY(child.release)(a.children[i])
        a.release = None
        self.release_calls += 1

    def _on_release_child(self, ptr):
        a = ptr.contents
        for i in range(a.n_children):
            child = a.children[i].contents
            if child.release:
                _RELEASE_ARRAY(child.release)(a.children[i])
        a.release = None

    def _on_release_schema(self, ptr):
        s = ptr.contents
        for i in range(s.n_children):
            _release_schema_tree(s.children[i])
        s.release = None
        self.schema_releases += 1


def _release_schema_tree(ptr):
    s = ptr.contents
    for i in range(s.n_children):
        _release_schema_tree(s.children[i])
    s.release = None


@_RELEASE_SCHEMA
def _noop_schema_release(ptr):
    ptr.contents.release = None
