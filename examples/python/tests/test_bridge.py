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

"""The Python bridge on CI (no pyarrow, no GPU): Debian's python3-jpype drives TokenRoute's `local` transport; results
are checked through a ctypes reader of the C Data structs (formats, lengths, buffer addresses equal to Java's, release
exactly once), against the numpy reference in reference.py."""

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import numpy as np

import tokenroute as tr
from tokenroute import cdata
from tokenroute.bf16 import from_float32, to_float32

import reference as ref

RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K = 4, 8, 32, 12, 3
LOCAL = EXPERTS // RANKS
# Generous next to a healthy step on a loaded 2-core CI machine, so that no live rank is ever masked.
TIMEOUT_MS = 300
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PACKAGE_ROOT))


def run_python(script, env=None, cwd=None):
    """Runs ``script`` in a fresh interpreter (this one's path unless ``env`` says otherwise)."""
    env = env if env is not None else dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env,
                          cwd=cwd)


def setUpModule():
    tr.start_jvm()


def java_buffers(vector):
    """(buffer addresses, children) of a Java FieldVector, as the C Data export lays them out."""
    bufs = [int(b.memoryAddress()) for b in vector.getFieldBuffers()]
    return bufs, [java_buffers(c) for c in vector.getChildrenFromFields()]


class BridgeTest(unittest.TestCase):
    def setUp(self):
        self.session = tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=TIMEOUT_MS)
        self.rng = np.random.default_rng(2024)

    def tearDown(self):
        gc.collect()
        self.session.close()
        gc.collect()
        self.assertTrue(self.session.closed, "the session freed everything (no export left alive)")

    def batches(self, inputs):
        return [None if i is None else self.session.batch(i[0], i[2], i[3]) for i in inputs]

    # ---------------------------------------------------------------------------------------------- JVM

    def test_jvm_runs_with_arrow_opens(self):
        args = list(tr.jclass("java.lang.management.ManagementFactory").getRuntimeMXBean().getInputArguments())
        self.assertIn("--add-opens=java.base/java.nio=ALL-UNNAMED", [str(a) for a in args])

    # ---------------------------------------------------------------------------------------------- round trip

    def test_round_trip_identity_experts_structs_and_values(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 10, HIDDEN, TOP_K)
        step = self.session.step(self.batches(inputs))
        self.assertFalse(step.any_newly_masked)
        for r in range(RANKS):
            bits, idx, w = inputs[r][1], inputs[r][2], inputs[r][3]
            want_hidden, want_lost = ref.combine(bits, idx, w, LOCAL)
            exported = step.combined(r)

            schema = exported.schema()
            self.assertEqual("+s", schema.format)
            self.assertEqual(["hidden", "lost_weight"], [c.name for c in schema.children])
            self.assertEqual("+w:%d" % HIDDEN, schema.child("hidden").format)
            item = schema.child("hidden").children[0]
            self.assertEqual("S", item.format, "bf16 travels as uint16 bits")
            self.assertEqual(cdata.BF16_EXTENSION, item.extension_name)
            self.assertEqual("f", schema.child("lost_weight").format)

            array = exported.array()
            self.assertEqual(10, array.length)
            self.assertEqual(0, array.offset)
            self.assertEqual([0], array.buffers, "a record batch's struct has no validity buffer")
            root = step.java.combined(r).batch()
            for c, name in enumerate(["hidden", "lost_weight"]):
                want_bufs, want_children = java_buffers(root.getVector(name))
                got = array.children[c]
                self.assertEqual(10, got.length)
                self.assertEqual(want_bufs, got.buffers, "%s: exported addresses are Java's" % name)
                for child, (child_bufs, _) in zip(got.children, want_children):
                    self.assertEqual(child_bufs, child.buffers)
            self.assertEqual(int(step.java.combined(r).hiddenAddress()), array.children[0].children[0].buffers[1])

            imported = cdata.ImportedArray(exported.array_address, exported.schema_address)  # moves the array
            self.assertTrue(bool(exported.java.isArrayReleased()), "the producer's struct gave up ownership")
            exported.close()
            views = cdata.as_numpy(imported)
            np.testing.assert_array_equal(want_hidden, views["hidden"], "rank %d hidden" % r)
            np.testing.assert_array_equal(want_lost, views["lost_weight"])
            self.assertTrue(np.all(views["lost_weight"] == 0))
            del views
            self.assertTrue(imported.release(), "first release calls the callback")
            self.assertFalse(imported.release(), "a released array is never released again")
        self.assertEqual(0, self.session.export_bytes, "every export released exactly once, nothing held")

    def test_dispatched_rows_views(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 9, HIDDEN, TOP_K)
        step = self.session.step(self.batches(inputs))
        routed = ref.received([(i[1], i[2]) for i in inputs], RANKS, LOCAL)
        for r in range(RANKS):
            for l in range(LOCAL):
                rows = routed[(r, l)]
                self.assertEqual(len(rows), step.recv_count(r, l))
                exported = step.expert(r, l)
                schema = exported.schema()
                self.assertEqual(["hidden", "src_rank", "src_token"], [c.name for c in schema.children])
                self.assertEqual(["+w:%d" % HIDDEN, "i", "i"], [c.format for c in schema.children])
                java_root = step.java.dispatched(r).expert(l)
                self.assertEqual(java_buffers(java_root.getVector("src_token"))[0],
                                 exported.array().children[2].buffers)
                cols = exported.to_numpy()
                self.assertEqual([s for s, _ in rows], cols["src_rank"].tolist())
                self.assertEqual([t for _, t in rows], cols["src_token"].tolist())
                want = np.array([inputs[s][1][t] for s, t in rows], np.uint16).reshape(len(rows), HIDDEN)
                np.testing.assert_array_equal(want, cols["hidden"])
                self.assertFalse(cols["hidden"].flags.writeable, "result views are read-only")

    def test_python_experts_between_dispatch_and_combine(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 8, HIDDEN, TOP_K)

        def experts(step):  # expert e: 2 * x + e, computed in float32, written as bf16 into the send memory
            for r in range(RANKS):
                for l in range(LOCAL):
                    rows = step.expert(r, l).to_numpy()["hidden"]
                    e = r * LOCAL + l
                    step.expert_output(r, l)[:] = from_float32(2 * to_float32(rows) + e)

        step = self.session.step(self.batches(inputs), experts=experts)
        for r in range(RANKS):
            want, _ = ref.combine(inputs[r][1], inputs[r][2], inputs[r][3], LOCAL,
                                  expert_fn=lambda e, row: from_float32(2 * to_float32(row) + e))
            np.testing.assert_array_equal(want, step.hidden_bits(r))

    def test_left_out_rank_is_masked_then_readmitted(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 8, HIDDEN, TOP_K)
        gone = 2
        step = self.session.step(self.batches([None if r == gone else i for r, i in enumerate(inputs)]))
        self.assertTrue(step.any_newly_masked)
        for r in range(RANKS):
            if r == gone:
                self.assertFalse(step.participated(r))
                continue
            self.assertEqual([gone], step.newly_masked(r))
            want_hidden, want_lost = ref.combine(inputs[r][1], inputs[r][2], inputs[r][3], LOCAL, masked={gone})
            np.testing.assert_array_equal(want_hidden, step.hidden_bits(r))
            np.testing.assert_array_equal(want_lost, step.lost_weights(r))
            self.assertTrue(np.any(want_lost > 0), "some token lost an expert on rank %d" % gone)
        self.assertEqual([0, 0, 1, 0], self.session.agree_mask())
        with self.assertRaises(ValueError):  # a masked rank gets no batch before it is readmitted
            self.session.step(self.batches(inputs))
        self.assertEqual([gone], self.session.ranks_to_readmit())
        self.assertTrue(self.session.readmit(gone))
        step = self.session.step(self.batches(inputs))
        self.assertFalse(step.any_newly_masked)
        for r in range(RANKS):
            want_hidden, _ = ref.combine(inputs[r][1], inputs[r][2], inputs[r][3], LOCAL)
            np.testing.assert_array_equal(want_hidden, step.hidden_bits(r))

    def test_bad_input_is_refused_before_any_rank_runs(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 4, HIDDEN, TOP_K)
        inputs[1][2][0, 0] = EXPERTS  # no such expert
        with self.assertRaisesRegex(ValueError, "topk_idx"):
            self.session.step(self.batches(inputs))
        inputs[1][2][0, 0] = -1
        self.session.step(self.batches(inputs))  # nothing was sent: the session still works

    def test_results_of_an_older_step_refuse_access(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 4, HIDDEN, TOP_K)
        first = self.session.step(self.batches(inputs))
        self.session.step(self.batches(inputs))
        with self.assertRaisesRegex(RuntimeError, "overwritten"):
            first.combined(0)

    # ---------------------------------------------------------------------------------------------- reverse

    def test_python_produced_batch_imported_into_java_without_copy(self):
        x, bits, idx, w = ref.random_inputs(self.rng, 1, EXPERTS, 7, HIDDEN, TOP_K)[0]
        producer = cdata.TokenBatchProducer(bits, idx, w)
        array = cdata.read_array(producer.array_address)
        self.assertEqual(7, array.length)
        batch = self.session.import_numpy(bits, idx, w)
        producer = batch.producer
        self.assertEqual(1, producer.schema_releases, "Java released the schema once it was read")
        self.assertEqual(0, producer.release_calls, "the array is Java's until it closes the batch")
        self.assertEqual(producer.arrays[0].ctypes.data, batch.hidden_address, "Java reads Python's memory")
        self.assertEqual(producer.arrays[1].ctypes.data, batch.topk_idx_address)
        self.assertEqual(producer.arrays[2].ctypes.data, batch.topk_weights_address)
        self.assertEqual(bits.view(np.int16).ravel().tolist(), list(batch.java.hiddenBf16Bits()))
        self.assertEqual(idx.ravel().tolist(), list(batch.java.topkIdx()))
        self.assertEqual("BF16", str(batch.java.dtype()))

        others = self.batches(ref.random_inputs(self.rng, RANKS, EXPERTS, 7, HIDDEN, TOP_K))
        others[0] = batch
        step = self.session.step(others)
        want, _ = ref.combine(bits, idx, w, LOCAL)
        np.testing.assert_array_equal(want, step.hidden_bits(0))
        batch.close()
        self.assertEqual(1, producer.release_calls, "closing the Java batch released Python's array once")
        batch.close()
        self.assertEqual(1, producer.release_calls)

    # ---------------------------------------------------------------------------------------------- device layout

    def test_device_array_layout_of_a_host_batch(self):
        x, bits, idx, w = ref.random_inputs(self.rng, 1, EXPERTS, 5, HIDDEN, TOP_K)[0]
        batch = self.session.batch(x, idx, w)
        export = tr.jclass("io.tokenroute.arrow.cdata.DeviceExport").export(self.session.java.allocator(),
                                                                           batch.java, 0)
        address = int(export.deviceArrayAddress())
        array, device_type, device_id, sync_event, reserved = cdata.read_device_array(address)
        self.assertEqual((cdata.DEVICE_CPU, -1, 0, [0, 0, 0]), (device_type, device_id, sync_event, reserved))
        self.assertEqual(5, array.length)
        self.assertEqual(batch.hidden_address, array.children[0].children[0].buffers[1])
        self.assertEqual(batch.topk_idx_address, array.children[1].children[0].buffers[1])
        self.assertEqual(batch.topk_weights_address, array.children[2].children[0].buffers[1])
        self.assertTrue(cdata.release_array(address), "a consumer reading in place releases once")
        self.assertFalse(cdata.release_array(address))
        self.assertTrue(bool(export.view().isReleased()))
        export.close()

    # ---------------------------------------------------------------------------------------------- lifetime

    def test_close_waits_for_the_last_python_view(self):
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 6, HIDDEN, TOP_K)
        step = self.session.step(self.batches(inputs))
        views = step.combined(1).to_numpy()
        self.session.close()
        self.assertFalse(self.session.closed, "deferred: Python still reads rank 1's output")
        want, _ = ref.combine(inputs[1][1], inputs[1][2], inputs[1][3], LOCAL)
        np.testing.assert_array_equal(want, views["hidden"])
        del views
        gc.collect()
        self.assertTrue(self.session.closed, "the last release completed the close")
        self.assertIsNone(self.session.java.closeFailure())

    def test_interpreter_exit_with_a_live_view(self):
        # The view lives in another module's global: Python frees it while it tears modules down at exit, after the
        # atexit handlers ran and the JVM was destroyed. The release must return, once, without aborting the exit and
        # without calling into the gone JVM (which would print Arrow Java's "Failed to release" warning).
        script = textwrap.dedent("""
            import os, sys, types
            import numpy as np, tokenroute as tr
            from tokenroute import cdata
            release = cdata.ImportedArray.release
            def logged(self, write=os.write, release=release):
                done = release(self)
                write(1, b"released %%r\\n" %% done)
                return done
            cdata.ImportedArray.release = logged
            holder = sys.modules["holder"] = types.ModuleType("holder")
            s = tr.LocalSession(2, 2, 8, 4, 1, timeout_ms=%d)
            b = [s.batch(np.ones((2, 8), np.float32), np.array([[0], [1]]), np.ones((2, 1), np.float32))
                 for _ in range(2)]
            holder.VIEWS = s.step(b).combined(0).to_numpy()
            print("hidden", holder.VIEWS["hidden"][0][0], flush=True)
        """ % TIMEOUT_MS)
        done = run_python(script)
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn("hidden 16256", done.stdout, "bf16 1.0 = 0x3f80")
        self.assertEqual(1, done.stdout.count("released True"), "the late release ran once, without crashing the exit")
        self.assertEqual("", done.stderr)

    def test_interpreter_exit_is_clean(self):
        # The README's example (numpy instead of pyarrow, which CI lacks), with everything a script leaves behind at
        # exit: views and an imported stream batch in module globals, an export never imported, a stream never read.
        script = textwrap.dedent("""
            import numpy as np, tokenroute as tr

            with tr.LocalSession(ranks=4, experts=16, hidden=64, max_tokens=32, top_k=4, timeout_ms=%d) as s:
                x = np.random.randn(4, 32, 64).astype(np.float32)
                idx = np.stack([np.argsort(np.random.rand(32, 16))[:, :4] for _ in range(4)])
                w = np.full((4, 32, 4), 0.25, np.float32)
                stream, unread = s.stream_combined(0), s.stream_combined(1)
                step = s.step([s.batch(x[r], idx[r], w[r]) for r in range(4)])
                out = step.combined(0).to_numpy()
                untouched = step.expert(2, 1)
                stream.finish()
                reader = stream.reader()
                first = tr.cdata.as_numpy(next(reader))
                print(out["hidden"].shape, step.lost_weights(0)[:4], first["hidden"].shape, flush=True)
        """ % TIMEOUT_MS)
        done = run_python(script)
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn("(32, 64) [0. 0. 0. 0.] (32, 64)", done.stdout)
        self.assertEqual("", done.stderr, "a normal exit prints nothing (no 'Failed to release Java C Data resource')")

    # ---------------------------------------------------------------------------------------------- streams

    def test_stream_of_combine_outputs_at_the_struct_level(self):
        stream = self.session.stream_combined(1)
        wanted = []
        for _ in range(3):
            inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 4 + int(self.rng.integers(6)), HIDDEN, TOP_K)
            self.session.step(self.batches(inputs))
            wanted.append(ref.combine(inputs[1][1], inputs[1][2], inputs[1][3], LOCAL))
        self.session.step(self.batches([None if r == 1 else i for r, i in enumerate(
            ref.random_inputs(self.rng, RANKS, EXPERTS, 3, HIDDEN, TOP_K))]))  # rank 1 left out: no batch
        stream.finish()
        self.assertEqual(3, stream.queued)
        reader = stream.reader()
        self.assertEqual(["get_schema"], reader.calls)
        self.assertEqual("+s", reader.schema.format)
        self.assertEqual(["hidden", "lost_weight"], [c.name for c in reader.schema.children])
        self.assertEqual(cdata.BF16_EXTENSION, reader.schema.child("hidden").children[0].extension_name)
        batches = list(reader)
        self.assertEqual(["get_schema"] + ["get_next"] * 4, reader.calls, "three batches, then the end")
        self.assertEqual(3, len(batches))
        for imported, (want_hidden, want_lost) in zip(batches, wanted):
            views = cdata.as_numpy(imported)
            np.testing.assert_array_equal(want_hidden, views["hidden"])
            np.testing.assert_array_equal(want_lost, views["lost_weight"])
        self.assertTrue(reader.release())
        self.assertFalse(reader.release(), "released once")
        self.assertGreater(self.session.export_bytes, 0, "the batches outlive the stream")
        del views, imported, batches
        gc.collect()
        self.assertEqual(0, self.session.export_bytes)
        self.assertEqual(0, cdata.live_proxies())

    def test_a_failed_stream_reports_its_reason_through_get_last_error(self):
        stream = self.session.stream_combined(0)
        inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 5, HIDDEN, TOP_K)
        self.session.step(self.batches(inputs))
        stream.java.fail("rank 3 stopped answering")
        reader = stream.reader()
        want, _ = ref.combine(inputs[0][1], inputs[0][2], inputs[0][3], LOCAL)
        np.testing.assert_array_equal(want, cdata.as_numpy(next(reader))["hidden"])
        with self.assertRaisesRegex(OSError, "get_next failed: java.io.IOException: rank 3 stopped answering"):
            next(reader)
        self.assertEqual("get_last_error", reader.calls[-1])
        reader.release()

    def test_stream_written_as_an_ipc_stream(self):
        stream = self.session.stream_combined(2)
        wanted = []
        for _ in range(2):
            inputs = ref.random_inputs(self.rng, RANKS, EXPERTS, 6, HIDDEN, TOP_K)
            self.session.step(self.batches(inputs))
            wanted.append(ref.combine(inputs[2][1], inputs[2][2], inputs[2][3], LOCAL)[0])
        stream.finish()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rank2.arrows")
            self.assertEqual(2, stream.write_ipc(path))
            with open(path, "rb") as f:
                data = f.read()
            self.assertEqual(b"\xff\xff\xff\xff", data[:4], "an IPC stream starts with the continuation marker")
            self.assertEqual(b"\xff\xff\xff\xff\x00\x00\x00\x00", data[-8:], "and ends with end-of-stream")
            allocator = tr.jclass("org.apache.arrow.memory.RootAllocator")()
            reader = tr.jclass("org.apache.arrow.vector.ipc.ArrowStreamReader")(
                tr.jclass("java.io.FileInputStream")(path), allocator)
            for want in wanted:
                self.assertTrue(bool(reader.loadNextBatch()))
                hidden = reader.getVectorSchemaRoot().getVector("hidden").getDataVector()
                got = np.array([int(hidden.getUnderlyingVector().get(i)) for i in range(hidden.getValueCount())],
                               np.uint16)
                np.testing.assert_array_equal(want.ravel(), got)
            self.assertFalse(bool(reader.loadNextBatch()))
            reader.close()
            allocator.close()

    # ---------------------------------------------------------------------------------------------- offsets

    def test_a_sliced_python_batch_imports_exactly_its_rows(self):
        x, bits, idx, w = ref.random_inputs(self.rng, 1, EXPERTS, 12, HIDDEN, TOP_K)[0]
        producer = cdata.TokenBatchProducer(bits, idx, w, offset=5, length=7)  # as pyarrow's batch.slice(5, 7)
        array = cdata.read_array(producer.array_address)
        self.assertEqual((7, 5), (array.children[0].length, array.children[0].offset))
        with tr._errors.java_errors():
            batch = self.session.java.importBatch(producer.array_address, producer.schema_address)
        try:
            self.assertEqual(7, int(batch.numTokens()))
            self.assertEqual(producer.arrays[0].ctypes.data + 5 * HIDDEN * 2, int(batch.hiddenAddress()),
                             "a view of Python's rows 5..11, no copy")
            self.assertEqual(bits[5:12].view(np.int16).ravel().tolist(), list(batch.hiddenBf16Bits()))
            self.assertEqual(idx[5:12].ravel().tolist(), list(batch.topkIdx()))
            np.testing.assert_array_equal(w[5:12].ravel(), np.array(batch.topkWeights(), np.float32))
        finally:
            batch.close()
        self.assertEqual(1, producer.release_calls)

    # ---------------------------------------------------------------------------------------------- install

    def test_pip_install_finds_the_jars_from_the_checkout_or_the_environment(self):
        if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
            self.skipTest("pip is not installed for %s (ci.sh installs python3-pip)" % sys.executable)
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "src")
            shutil.copytree(PACKAGE_ROOT, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
            target = os.path.join(tmp, "site")
            install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                                      "--no-index", "--target", target, source], capture_output=True, text=True,
                                     timeout=300)
            self.assertEqual(0, install.returncode, install.stdout + install.stderr)
            self.assertTrue(os.path.exists(os.path.join(target, "tokenroute", "cdata.py")))
            script = textwrap.dedent("""
                import numpy as np, tokenroute as tr
                print(tr.__file__, flush=True)
                with tr.LocalSession(2, 2, 8, 4, 1) as s:
                    b = [s.batch(np.ones((2, 8), np.float32), np.array([[0], [1]]), np.ones((2, 1), np.float32))
                         for _ in range(2)]
                    print("hidden", s.step(b).hidden_bits(1)[0][0], flush=True)
            """)
            base = {k: v for k, v in os.environ.items() if k not in ("TOKENROUTE_CLASSPATH", "PYTHONPATH")}
            env = dict(base, PYTHONPATH=target)
            from_checkout = run_python(script, env=env, cwd=REPO)
            self.assertEqual(0, from_checkout.returncode, from_checkout.stderr)
            self.assertIn(os.path.join(target, "tokenroute"), from_checkout.stdout, "the installed package ran")
            self.assertIn("hidden 16256", from_checkout.stdout)
            classpath = os.pathsep.join(str(j) for j in tr.find_classpath())
            from_env = run_python(script, env=dict(env, TOKENROUTE_CLASSPATH=classpath), cwd=tmp)
            self.assertEqual(0, from_env.returncode, from_env.stderr)
            self.assertIn("hidden 16256", from_env.stdout)
            nowhere = run_python(script, env=env, cwd=tmp)
            self.assertNotEqual(0, nowhere.returncode)
            self.assertIn("no TokenRoute jars found", nowhere.stderr)
            self.assertIn("TOKENROUTE_CLASSPATH", nowhere.stderr)


class ShortChildTest(unittest.TestCase):
    def test_import_rejects_a_short_list_child(self):
        with tr.LocalSession(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, timeout_ms=TIMEOUT_MS) as s:
            x, bits, idx, w = ref.random_inputs(np.random.default_rng(5), 1, EXPERTS, 3, HIDDEN, TOP_K)[0]
            producer = cdata.TokenBatchProducer(bits, idx, w)
            leaf = cdata.ArrowArray.from_address(
                cdata.read_array(producer.array_address).children[0].children[0].address)
            leaf.length = 3 * HIDDEN - 1
            with self.assertRaisesRegex(ValueError, "hidden holds"):
                with tr._errors.java_errors():
                    s.java.importBatch(producer.array_address, producer.schema_address)
            self.assertEqual(1, producer.schema_releases)
            cdata.release_array(producer.array_address)  # refused: still ours to release
            self.assertEqual(1, producer.release_calls)


if __name__ == "__main__":
    unittest.main()
