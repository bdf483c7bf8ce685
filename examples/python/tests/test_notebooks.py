"""The committed notebooks are valid nbformat 4 documents for the IJava / JJava kernel (kernelspec ``java``), as
Jupyter's own validator sees them. (Executing them is NotebookTest's job, in ``mvn verify``.)"""

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
                magics = [line for cell in notebook.cells if cell.cell_type == "code"
                          for line in cell.source.splitlines() if line.lstrip().startswith("%")]
                self.assertTrue(magics and all(m.split()[0] in ("%jars", "%classpath") for m in magics), magics)

    def test_outputs_committed_except_the_gpu_notebook(self):
        for path in NOTEBOOKS:
            notebook = nbformat.read(path, as_version=4)
            outputs = sum(len(c.get("outputs", [])) for c in notebook.cells if c.cell_type == "code")
            gpu = notebook.metadata.get("tokenroute", {}).get("requires") == "cuda"
            with self.subTest(notebook=os.path.basename(path)):
                self.assertTrue(outputs > 0 or gpu, "committed without outputs")
                images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
                          if "image/png" in o.get("data", {})]
                if "decode" in path and not gpu:
                    self.assertEqual(1, len(images), "the latency plot is committed inline")


if __name__ == "__main__":
    unittest.main()
