#!/usr/bin/env python3
"""The Python bridge on the GPU machine (pyarrow 25 and torch there; JPype built there by gpu/run-gpu-check.sh).

Checks, each printed as PASS/FAIL/SKIP, then the line ``N passed, N failed``:

1. host results into pyarrow: a ``local`` step (identity experts) exported through the C Data Interface and imported
   with ``pa.RecordBatch._import_from_c``: same buffer addresses as Java's, values equal to the numpy reference;
2. the reverse: a pyarrow batch exported with ``_export_to_c`` and imported into Java as a TokenBatch, zero-copy;
3. a device token batch (``DeviceBuffer`` memory filled with ``Memcpy``, exported through ``DeviceExport`` with a
   ``CudaEvent`` sync event) into torch: ``data_ptr()`` equals the device pointer, values checked on the host after a
   copy by torch, the export released (and the device memory freed) once the tensors are gone;
4. when the ``cuda-local`` transport is present: a step on it (identity experts as device copies) into torch, equal
   bit for bit to the numpy reference (skipped, not failed, without that transport).

Run from the repository root: ``python3 examples/python/gpu_check.py`` (gpu/run-gpu-check.sh sets the JVM, class
path and PYTHONPATH up).
"""

import gc
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "tests")]

import numpy as np  # noqa: E402

import reference as ref  # noqa: E402
import tokenroute as tr  # noqa: E402
from tokenroute.bf16 import to_float32  # noqa: E402

RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K = 4, 16, 256, 32, 4
LOCAL = EXPERTS // RANKS


class Skip(Exception):
    pass


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


def check_cuda_local_into_torch():
    import jpype
    import torch
    from tokenroute.device import to_torch

    try:
        group_class = tr.jclass("io.tokenroute.routing.cuda.CudaLocalGroup")
    except (jpype.JException, TypeError) as e:
        raise Skip("no cuda-local transport in this build (%s)" % e)
    device = _device()
    allocator = tr.jclass("org.apache.arrow.memory.RootAllocator")()
    config = tr.jclass("io.tokenroute.routing.BufferConfig").builder().ranks(RANKS).experts(EXPERTS) \
        .hidden(HIDDEN).maxTokensPerRank(TOKENS).maxTopK(TOP_K).elastic(True) \
        .timeout(tr.jclass("java.time.Duration").ofSeconds(1)).build()
    memcpy = tr.jclass("io.tokenroute.device.Memcpy")
    data = inputs(4)
    group = group_class.open(device, config, allocator)
    try:
        batches = tr.jclass("java.util.ArrayList")()
        for x, _, idx, w in data:
            batches.add(_host_batch(allocator, x, idx, w))
        dispatched = group.dispatch(batches, tr.jclass("io.tokenroute.routing.DispatchOptions").BF16)
        rows = to_torch(dispatched.get(1).exportExpert(0, allocator))
        want_rows = ref.received([(b, i) for _, b, i, _ in data], RANKS, LOCAL)[(1, 0)]
        np.testing.assert_array_equal([s for s, _ in want_rows], rows["src_rank"].cpu().numpy())
        np.testing.assert_array_equal(np.array([data[s][1][t] for s, t in want_rows], np.uint16).view(np.int16),
                                      rows["hidden"].view(torch.int16).cpu().numpy())
        del rows
        for r in range(RANKS):
            d = dispatched.get(r)
            for l in range(LOCAL):
                memcpy.deviceToDevice(d.expertOutputAddress(l), d.rowsAddress(l), 2 * HIDDEN * d.recvCount(l),
                                      group.stream(r))
        combined = group.combine(batches)
        for r in range(RANKS):
            out = to_torch(combined.get(r).export(allocator))
            assert out["hidden"].data_ptr() == int(combined.get(r).hiddenAddress())
            want, lost = ref.combine(data[r][1], data[r][2], data[r][3], LOCAL)
            np.testing.assert_array_equal(want.view(np.int16), out["hidden"].view(torch.int16).cpu().numpy())
            np.testing.assert_array_equal(lost, out["lost_weight"].cpu().numpy())
            del out
        gc.collect()
        torch.cuda.synchronize()
        for b in batches:
            b.close()
    finally:
        group.close()
        allocator.close()
        device.close()


CHECKS = [check_host_results_into_pyarrow, check_pyarrow_batch_into_java, check_device_batch_into_torch,
          check_cuda_local_into_torch]


def main():
    os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    passed = failed = 0
    for check in CHECKS:
        name = check.__name__[len("check_"):]
        try:
            check()
        except Skip as e:
            print("SKIP %s: %s" % (name, e), flush=True)
            continue
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
