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

"""Executes Jupyter notebooks as ``jupyter nbconvert --to notebook --execute --output-dir DIR`` does, with nbclient
(the library that command runs on), and writes the executed copies to DIR as nbconvert writes them (stream outputs
merged, nbformat's layout).

    python3 execute_notebook.py --output-dir DIR [--timeout SECONDS] NOTEBOOK.ipynb...

For the GPU bundle, which carries Jupyter without nbconvert (see fetch-jupyter.sh). Each notebook runs in the kernel
its metadata names, with its own folder as the working directory, as Jupyter runs it. A cell error, a cell running
longer than the timeout or a dead kernel stops that notebook: its partial copy, error output included, is written as
NAME.failed.ipynb, and the exit status is 1.
"""

import argparse
import os
import re
import sys

import nbformat
from nbclient import NotebookClient


# A line overwritten through a carriage return keeps only its last version, as nbconvert keeps it.
OVERWRITTEN = re.compile(r".*\r(?=[^\n])")


def coalesce_streams(notebook):
    """Merges consecutive stream outputs of one stream, as nbconvert does after executing: the kernel sends one
    message per flush, and a reader (and a diff) wants the cell's text in one piece."""
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (output.output_type == "stream" and last is not None and last.output_type == "stream"
                    and last.name == output.name):
                last.text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream" and "\r" in output.text:
                output.text = OVERWRITTEN.sub("", output.text)
        if "outputs" in cell:
            cell.outputs = merged


def execute(path, output_dir, timeout):
    """Runs one notebook; returns True when every cell ran without error."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        client.execute()
    except Exception as error:  # CellExecutionError, CellTimeoutError, DeadKernelError: report and keep the copy
        coalesce_streams(notebook)
        target = os.path.join(output_dir, stem + ".failed.ipynb")
        nbformat.write(notebook, target)
        print("[execute] %s failed, partial copy in %s:\n%s" % (path, target, error), file=sys.stderr)
        return False
    coalesce_streams(notebook)
    target = os.path.join(output_dir, stem + ".ipynb")
    nbformat.write(notebook, target)
    print("[execute] %s -> %s" % (path, target))
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="where the executed copies go")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    results = [execute(path, args.output_dir, args.timeout) for path in args.notebooks]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
