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

"""The committed notebooks are valid nbformat 4 documents for the JJava kernel (kernelspec ``java``), as Jupyter's own
validator sees them, and load the build's jars with ``%classpath`` (JJava reports ``%jars`` as deprecated). Executing
them, and reading their outputs, is NotebookTest's job (``mvn verify``, with Jupyter and JJava)."""

import glob
import os
import unittest

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "notebooks", "*.ipynb")))

try:
    import nbformat
except ImportError:  # pragma: no cover - CI installs python3-nbformat
    nbformat = None


@unittest.skipIf(nbformat is None, "nbformat is not installed")
class NotebookFormatTest(unittest.TestCase):
    def test_notebooks_exist(self):
        self.assertGreaterEqual(len(NOTEBOOKS), 3, NOTEBOOKS)

    def test_valid_nbformat_with_java_kernel(self):
        for path in NOTEBOOKS:
            with self.subTest(notebook=os.path.basename(path)):
                notebook = nbformat.read(path, as_version=4)
                nbformat.validate(notebook)
                self.assertEqual("java", notebook.metadata.kernelspec.name)
                magics = [line.split()[0] for cell in notebook.cells if cell.cell_type == "code"
                          for line in cell.source.splitlines() if line.lstrip().startswith("%")]
                self.assertEqual(["%classpath"], magics)

    def test_outputs_committed(self):
        for path in NOTEBOOKS:
            notebook = nbformat.read(path, as_version=4)
            with self.subTest(notebook=os.path.basename(path)):
                code = [c for c in notebook.cells if c.cell_type == "code"]
                self.assertEqual(list(range(1, len(code) + 1)), [c.execution_count for c in code],
                                 "every code cell executed once, in order")
                outputs = [o for c in code for o in c.outputs]
                self.assertTrue(outputs, "committed without outputs")
                self.assertEqual([], [o for o in outputs if o.output_type == "error"])


if __name__ == "__main__":
    unittest.main()
