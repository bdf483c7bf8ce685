#!/usr/bin/env bash
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

# Runs THERE (the GPU machine), from the repository root, with .gpu/python carried (pack.sh made it):
#   1. unpacks the Java runtime, builds JPype for this machine's python3 (build-jpype.sh, ~40 s);
#   2. runs examples/python/gpu_check.py (pyarrow and torch checks; ends with "N passed, N failed");
#   3. executes notebook 03 (cuda-local) in Jupyter with the JJava kernel (run-notebooks.sh) and writes it, with its
#      outputs, to $OUT (or .gpu/python/out): copy it over examples/notebooks/ to commit the outputs.
# Logs go to $OUT too. Exit code: non-zero if gpu_check.py or the notebook failed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
bundle="$repo/.gpu/python"
out=${OUT:-$bundle/out}
work=${TMPDIR:-/tmp}/tokenroute-python-gpu
mkdir -p "$out" "$work"
export NVSHMEM_DISABLE_NVLS=1 NCCL_NVLS_ENABLE=0
cd "$repo"
[ -f "$bundle/jre.tar.xz" ] || { echo "no $bundle/jre.tar.xz: run examples/python/gpu/pack.sh on the build machine and carry .gpu/python" >&2; exit 1; }

if [ ! -x "$work/jre/bin/java" ]; then
  tar -C "$work" -xJf "$bundle/jre.tar.xz"
fi
"$repo/examples/python/gpu/build-jpype.sh" "$work/site" python3 2>&1 | tee "$out/build-jpype.log" || exit 1

export TOKENROUTE_JVM="$work/jre/lib/server/libjvm.so"
export TOKENROUTE_CLASSPATH="$bundle/lib/*"
export PYTHONPATH="$work/site:$repo/examples/python${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt"
python3 -c "import sys, numpy, pyarrow, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'pyarrow', pyarrow.__version__, 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

echo "== gpu_check.py"
python3 "$repo/examples/python/gpu_check.py" 2>&1 | tee "$out/gpu_check.log"
check=${PIPESTATUS[0]}

echo "== notebook 03 (Jupyter, JJava)"
OUT="$out" "$repo/examples/python/gpu/run-notebooks.sh" "$repo/examples/notebooks/03-cuda-local-on-a-gpu.ipynb" 2>&1 \
  | tee "$out/notebook-03.log"
notebook=${PIPESTATUS[0]}

echo "== summary: gpu_check.py exit $check, notebook 03 exit $notebook; files in $out"
[ "$check" = 0 ] && [ "$notebook" = 0 ]
