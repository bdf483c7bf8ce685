#!/usr/bin/env python3
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

"""The Python bridge on the GPU machine (pyarrow 25 and torch there; JPype built there by gpu/run-gpu-check.sh).

Checks, each printed as PASS or FAIL, then the line ``N passed, N failed``:

1. host results into pyarrow: a ``local`` step (identity experts) exported through the C Data Interface and imported
   with ``pa.RecordBatch._import_from_c``: same buffer addresses as Java's, values equal to the numpy reference;
2. the reverse: a pyarrow batch exported with ``_export_to_c`` and imported into Java as a TokenBatch, zero-copy;
3. a device token batch (``DeviceBuffer`` memory filled with ``Memcpy``, exported through ``DeviceExport`` with a
   ``CudaEvent`` sync event) into torch: ``data_ptr()`` equals the device pointer, values checked on the host after a
   copy by torch, the export released (and the device memory freed) once the tensors are gone;
4. a step on ``cuda-local`` through the one rank API (``ElasticGroup.open("cuda-local:0", ...)``, one thread per rank,
   identity experts as device copies on each rank's stream) into torch, equal bit for bit to the numpy reference;
5. a sliced pyarrow batch (``batch.slice(5, 7)``, columns at offset 5) into Java: exactly rows 5..11, every value, over
   pyarrow's own memory from row 5 on, and a step on it equal to the reference;
6. a sliced torch tensor's export into Java: ``t[5:12]`` (data pointer moved) and the whole tensor exported with
   offset 5, length 7 (as pyarrow slices): every value, over torch's memory;
7. a run's outputs as a stream: ``stream_combined`` over three steps read by ``pyarrow.RecordBatchReader``
   (``_import_from_c``), every batch equal to its step's reference, batches readable after the reader is gone;
8. the README's example (pyarrow) in a fresh interpreter: exit status 0, nothing on stderr (no "Failed to release
   Java C Data resource").

Run from the repository root: ``python3 examples/python/gpu_check.py`` (gpu/run-gpu-check.sh sets the JVM, class
path and PYTHONPATH up).
"""

import gc
import os
import subprocess
import sys
import textwrap
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "tests")]

import numpy as np  # noqa: E402

import reference as ref  # noqa: E402
import tokenroute as tr  # noqa: E402
from tokenroute.bf16 import to_float32  # noqa: E402

RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K = 4, 16, 256, 32, 4
LOCAL = EXPERTS // RANKS


def inputs(seed, n=TOKENS):
    return ref.random_inputs(np.random.default_rng(seed), RANKS, EXPERTS, n, HIDDEN, TOP_K)


def check_host_results_into_pyarrow():
    import pyarrow as pa

    data = inputs(1)
    with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=2000) as s:
        step = s.step([s.batch(x, idx, w) for x, _, idx, w in data])
        for r in range(RANKS):
            java_address = int(step.java.combined(r).hiddenAddress())
            batch = step.combined(r).to_pyarrow()
            assert isinstance(batch, pa.RecordBatch) and batch.num_rows == TOKENS, batch
            assert batch.schema.names == ["hidden", "lost_weight"], batch.schema
            values = batch.column("hidden").values
            item = batch.schema.field("hidden").type.value_field
            assert (item.metadata or {}).get(b"ARROW:extension:name") == b"tokenroute.bfloat16", item
            assert values.buffers()[1].address == java_address, "pyarrow reads Java's memory (zero-copy)"
            want, lost = ref.combine(data[r][1], data[r][2], data[r][3], LOCAL)
            np.testing.assert_array_equal(want, values.to_numpy(zero_copy_only=True).reshape(TOKENS, HIDDEN))
            np.testing.assert_array_equal(lost, batch.column("lost_weight").to_numpy())
        rows = step.expert(1, 0).to_pyarrow()
        java_rows = step.java.dispatched(1).expert(0).getVector("hidden").getDataVector().getDataBuffer()
        assert rows.column("hidden").values.buffers()[1].address == int(java_rows.memoryAddress())
        assert rows.num_rows == step.recv_count(1, 0)
        held = s.export_bytes
        del batch, values, rows
        gc.collect()
        assert held > 0 and s.export_bytes == 0, "pyarrow released every import (%d -> %d)" % (held, s.export_bytes)


def check_pyarrow_batch_into_java():
    data = inputs(2)
    with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=2000) as s:
        arrow = tr.pyarrow_batch(data[0][1], data[0][2], data[0][3])
        imported = s.import_pyarrow(arrow)
        assert imported.hidden_address == arrow.column("hidden").values.buffers()[1].address, "no copy"
        assert imported.topk_idx_address == arrow.column("topk_idx").values.buffers()[1].address
        batches = [imported] + [s.batch(x, idx, w) for x, _, idx, w in data[1:]]
        step = s.step(batches)
        want, _ = ref.combine(data[0][1], data[0][2], data[0][3], LOCAL)
        np.testing.assert_array_equal(want, step.hidden_bits(0))
        imported.close()


def _device():
    tr.start_jvm()
    cuda = tr.jclass("io.tokenroute.device.Cuda")
    if not cuda.isAvailable():
        raise AssertionError("CUDA unavailable to Java: %s" % cuda.unavailableReason())
    return tr.jclass("io.tokenroute.device.CudaDevice").open(0)


def _host_batch(allocator, x, idx, w):
    import jpype

    return tr.jclass("io.tokenroute.arrow.batch.TokenBatch").fromFloats(
        allocator, tr.jclass("io.tokenroute.arrow.types.HiddenDtype").BF16, HIDDEN,
        jpype.JArray(jpype.JFloat)(x.ravel()), TOP_K, jpype.JArray(jpype.JLong)(idx.ravel()),
        jpype.JArray(jpype.JFloat)(w.ravel()))


def check_device_batch_into_torch():
    import torch
    from tokenroute.device import DeviceImport

    tracker = tr.jclass("io.tokenroute.device.DeviceMemoryTracker")
    device = _device()
    allocator = tr.jclass("org.apache.arrow.memory.RootAllocator")()
    x, bits, idx, w = inputs(3)[0]
    host = _host_batch(allocator, x, idx, w)
    upload = tr.jclass("io.tokenroute.examples.python.DeviceTokenBatch").upload(allocator, device, host)
    host.close()
    exported = upload.export(allocator)
    imported = DeviceImport(exported)
    assert imported.device_type == 2 and imported.device_id == 0 and imported.sync_event != 0
    tensors = imported.tensors()
    del imported
    hidden = tensors["hidden"]
    assert hidden.is_cuda and hidden.dtype == torch.bfloat16 and tuple(hidden.shape) == (TOKENS, HIDDEN)
    assert hidden.data_ptr() == int(upload.batch().hiddenAddress()), "torch views the Java device buffer"
    assert tensors["topk_idx"].data_ptr() == int(upload.batch().topkIdxAddress())
    np.testing.assert_array_equal(bits.view(np.int16), hidden.view(torch.int16).cpu().numpy())
    np.testing.assert_array_equal(to_float32(bits), hidden.float().cpu().numpy())
    np.testing.assert_array_equal(idx, tensors["topk_idx"].cpu().numpy())
    np.testing.assert_array_equal(w, tensors["topk_weights"].cpu().numpy())
    total = float((hidden.float() * 2).sum())  # a kernel reads it too
    assert abs(total - 2 * float(to_float32(bits).astype(np.float64).sum())) < 1e-2 * (1 + abs(total))
    assert not bool(exported.view().isReleased()), "held while tensors live"
    del tensors, hidden
    gc.collect()
    torch.cuda.synchronize()
    upload.close()
    live = list(tracker.liveBuffers())
    assert not live, "device memory freed after the last tensor: %s" % [str(b) for b in live]
    allocator.close()
    device.close()


def _on_rank_threads(ranks, work):
    """Runs ``work(r)`` for every rank on its own thread (ranks wait for each other inside a call) and re-raises the
    first failure; JPype attaches each thread to the JVM."""
    import threading

    failures = [None] * ranks

    def run(r):
        try:
            work(r)
        except BaseException as e:  # noqa: B902 - reported below, on the caller's thread
            failures[r] = e

    threads = [threading.Thread(target=run, args=(r,), name="rank-%d" % r) for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in failures:
        if e is not None:
            raise e


def check_cuda_local_into_torch():
    """The one rank API on ``cuda-local``, as an engine uses it: ``ElasticGroup.open("cuda-local:0", ...)``, one
    thread per rank, identity experts written zero-copy on each rank's stream."""
    import torch
    from tokenroute.device import to_torch

    _device().close()  # fails the check with the reason when Java cannot use CUDA
    allocator = tr.jclass("org.apache.arrow.memory.RootAllocator")()
    config = tr.jclass("io.tokenroute.routing.BufferConfig").builder().ranks(RANKS).experts(EXPERTS) \
        .hidden(HIDDEN).maxTokensPerRank(TOKENS).maxTopK(TOP_K).elastic(True) \
        .timeout(tr.jclass("java.time.Duration").ofSeconds(1)).build()
    memcpy = tr.jclass("io.tokenroute.device.Memcpy")
    data = inputs(4)
    group = tr.jclass("io.tokenroute.routing.ElasticGroup").open("cuda-local:0", config, allocator)
    batches = [_host_batch(allocator, x, idx, w) for x, _, idx, w in data]
    dispatched = [None] * RANKS
    combined = [None] * RANKS

    def step(r):
        buffer = group.buffer(r)
        d = buffer.dispatch(batches[r])
        stream = buffer.stream()
        if d.readyEvent() is not None:
            stream.waitFor(d.readyEvent())
        for l in range(LOCAL):
            rows = d.expert(l).getVector("hidden").getDataVector().getDataBuffer().memoryAddress()
            if d.recvCount(l) > 0:
                memcpy.deviceToDevice(d.expertOutputAddress(l), rows, 2 * HIDDEN * d.recvCount(l), stream)
        stream.synchronize()
        dispatched[r] = d
        combined[r] = buffer.combine(d, batches[r])

    try:
        _on_rank_threads(RANKS, step)
        rows = to_torch(dispatched[1].exportExpert(0, allocator))
        want_rows = ref.received([(b, i) for _, b, i, _ in data], RANKS, LOCAL)[(1, 0)]
        np.testing.assert_array_equal([s for s, _ in want_rows], rows["src_rank"].cpu().numpy())
        np.testing.assert_array_equal(np.array([data[s][1][t] for s, t in want_rows], np.uint16).view(np.int16),
                                      rows["hidden"].view(torch.int16).cpu().numpy())
        del rows
        for r in range(RANKS):
            assert len(combined[r].newlyMasked()) == 0, "rank %d masked %s" % (r, list(combined[r].newlyMasked()))
            out = to_torch(combined[r].export(allocator))
            assert out["hidden"].data_ptr() == int(combined[r].hiddenAddress())
            want, lost = ref.combine(data[r][1], data[r][2], data[r][3], LOCAL)
            np.testing.assert_array_equal(want.view(np.int16), out["hidden"].view(torch.int16).cpu().numpy())
            np.testing.assert_array_equal(lost, out["lost_weight"].cpu().numpy())
            del out
        gc.collect()
        torch.cuda.synchronize()
    finally:
        for b in batches:
            b.close()
        group.close()
        allocator.close()


def check_sliced_pyarrow_batch_into_java():
    data = inputs(5)
    x, bits, idx, w = data[0]
    with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=2000) as s:
        arrow = tr.pyarrow_batch(bits, idx, w)
        sliced = arrow.slice(5, 7)
        assert sliced.num_rows == 7 and sliced.column("hidden").offset == 5, sliced
        imported = s.import_pyarrow(sliced)
        java = imported.java
        assert int(java.numTokens()) == 7
        base = arrow.column("hidden").values.buffers()[1].address
        assert imported.hidden_address == base + 5 * HIDDEN * 2, "a view of pyarrow's rows from row 5, no copy"
        assert imported.topk_idx_address == arrow.column("topk_idx").values.buffers()[1].address + 5 * TOP_K * 8
        np.testing.assert_array_equal(bits[5:12].view(np.int16).ravel(), np.array(java.hiddenBf16Bits(), np.int16))
        np.testing.assert_array_equal(idx[5:12].ravel(), np.array(java.topkIdx(), np.int64))
        np.testing.assert_array_equal(w[5:12].ravel(), np.array(java.topkWeights(), np.float32))
        others = [s.batch(x[:7], i[:7], ww[:7]) for x, _, i, ww in data[1:]]
        step = s.step([imported] + others)
        want, _ = ref.combine(bits[5:12], idx[5:12], w[5:12], LOCAL)
        np.testing.assert_array_equal(want, step.hidden_bits(0))
        imported.close()


def check_sliced_torch_tensor_into_java():
    import torch
    from tokenroute import cdata

    x, bits, idx, w = inputs(6)[0]
    hidden = torch.from_numpy(x).to(torch.bfloat16)  # a torch tensor, rounded by torch
    torch_bits = hidden.view(torch.int16).numpy().view(np.uint16)  # same memory
    assert torch_bits.ctypes.data == hidden.data_ptr()
    with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=2000) as s:
        part = hidden[5:12]
        view = part.view(torch.int16).numpy().view(np.uint16)
        imported = s.import_numpy(view, idx[5:12], w[5:12])
        assert imported.hidden_address == part.data_ptr() == hidden.data_ptr() + 5 * HIDDEN * 2
        np.testing.assert_array_equal(torch_bits[5:12].view(np.int16).ravel(),
                                      np.array(imported.java.hiddenBf16Bits(), np.int16))
        imported.close()
        producer = cdata.TokenBatchProducer(torch_bits, idx, w, offset=5, length=7)
        with tr._errors.java_errors():
            batch = s.java.importBatch(producer.array_address, producer.schema_address)
        try:
            assert int(batch.numTokens()) == 7
            assert int(batch.hiddenAddress()) == hidden.data_ptr() + 5 * HIDDEN * 2
            np.testing.assert_array_equal(torch_bits[5:12].view(np.int16).ravel(),
                                          np.array(batch.hiddenBf16Bits(), np.int16))
            np.testing.assert_array_equal(idx[5:12].ravel(), np.array(batch.topkIdx(), np.int64))
            np.testing.assert_array_equal(w[5:12].ravel(), np.array(batch.topkWeights(), np.float32))
            expected = hidden[5:12].float().numpy()
            got = to_float32(np.array(batch.hiddenBf16Bits(), np.int16).view(np.uint16)).reshape(7, HIDDEN)
            np.testing.assert_array_equal(expected, got)
        finally:
            batch.close()
        assert producer.release_calls == 1


def check_stream_into_pyarrow_reader():
    import pyarrow as pa

    with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=2000) as s:
        stream = s.stream_combined(3)
        wanted = []
        for seed in (71, 72, 73):
            data = inputs(seed, n=8 + seed % 5)
            s.step([s.batch(x, idx, w) for x, _, idx, w in data])
            wanted.append(ref.combine(data[3][1], data[3][2], data[3][3], LOCAL))
        stream.finish()
        reader = stream.to_pyarrow()
        assert isinstance(reader, pa.RecordBatchReader), reader
        assert reader.schema.names == ["hidden", "lost_weight"], reader.schema
        batches = list(reader)
        del reader
        gc.collect()
        assert len(batches) == 3, batches
        for batch, (want, lost) in zip(batches, wanted):
            got = batch.column("hidden").values.to_numpy(zero_copy_only=True).reshape(batch.num_rows, HIDDEN)
            np.testing.assert_array_equal(want, got)
            np.testing.assert_array_equal(lost, batch.column("lost_weight").to_numpy())
        table = pa.Table.from_batches(batches)
        assert table.num_rows == sum(len(l) for _, l in wanted)
        held = s.export_bytes
        del batches, batch, table, got
        gc.collect()
        assert held > 0 and s.export_bytes == 0, "every streamed batch released (%d -> %d)" % (held, s.export_bytes)


def check_readme_example_exits_cleanly():
    script = textwrap.dedent("""
        import numpy as np, tokenroute as tr

        with tr.LocalSession(ranks=4, experts=16, hidden=64, max_tokens=32, top_k=4) as s:
            x = np.random.randn(4, 32, 64).astype(np.float32)
            idx = np.stack([np.argsort(np.random.rand(32, 16))[:, :4] for _ in range(4)])
            w = np.full((4, 32, 4), 0.25, np.float32)
            step = s.step([s.batch(x[r], idx[r], w[r]) for r in range(4)])
            out = step.combined(0).to_pyarrow()
            print(out.schema, step.lost_weights(0)[:4])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 0, done.stderr
    assert "hidden: fixed_size_list" in done.stdout, done.stdout
    assert done.stderr == "", "a normal exit prints nothing, got:\n" + done.stderr


CHECKS = [check_host_results_into_pyarrow, check_pyarrow_batch_into_java, check_device_batch_into_torch,
          check_cuda_local_into_torch, check_sliced_pyarrow_batch_into_java, check_sliced_torch_tensor_into_java,
          check_stream_into_pyarrow_reader, check_readme_example_exits_cleanly]


def main():
    os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    passed = failed = 0
    for check in CHECKS:
        name = check.__name__[len("check_"):]
        try:
            check()
        except Exception:  # noqa: BLE001 - report every check
            failed += 1
            print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
            continue
        passed += 1
        print("PASS %s" % name, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
