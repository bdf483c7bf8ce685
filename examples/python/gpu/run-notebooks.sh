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

# Runs THERE (the GPU machine; also on any x86-64 Linux with glibc 2.36+, which is how it is tried on the build
# machine), from the repository root with .gpu/python carried (pack.sh made it): executes notebooks in Jupyter with
# the JJava kernel, all from the bundle: the jlink'd JRE (it has JShell, which JJava needs), the JJava kernel jar,
# Debian's Python 3.11 with jupyter-client and nbclient (fetch-jupyter.sh) and the project's jars. Nothing is
# installed; the kernelspec and Jupyter's runtime files live in a temporary folder.
#
#   examples/python/gpu/run-notebooks.sh examples/notebooks/03-cuda-local-on-a-gpu.ipynb
#
# The executed copies go to $OUT (or .gpu/python/out), named as the notebooks: copy one over examples/notebooks/ to
# commit its outputs. The kernel finds the jars through JJAVA_CLASSPATH; the notebooks' own %classpath line names the
# build's target folders, which do not travel, and JJava skips paths that do not exist. Exit status 1 if a notebook
# failed; its partial copy, with the error, is NAME.failed.ipynb.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
bundle="$repo/.gpu/python"
out=${OUT:-$bundle/out}
work=${TMPDIR:-/tmp}/tokenroute-notebooks
[ $# -gt 0 ] || { echo "usage: run-notebooks.sh NOTEBOOK.ipynb..." >&2; exit 2; }
for f in jre.tar.xz jupyter.tar.xz lib; do
  [ -e "$bundle/$f" ] || { echo "no $bundle/$f: run examples/python/gpu/pack.sh on the build machine and carry .gpu/python" >&2; exit 1; }
done
kernel_jar=$(ls "$bundle"/jjava/jjava-*.jar 2>/dev/null | head -n 1)
[ -n "$kernel_jar" ] || { echo "no JJava kernel jar in $bundle/jjava: run examples/python/gpu/pack.sh" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work" "$out"
tar -C "$work" -xJf "$bundle/jre.tar.xz"
tar -C "$work" -xJf "$bundle/jupyter.tar.xz"
java="$work/jre/bin/java"
python="$work/jupyter/usr/bin/python3.11"
python_libs="$work/jupyter/usr/lib/x86_64-linux-gnu:$work/jupyter/lib/x86_64-linux-gnu"

# The kernel's environment: the machine's library path (CUDA) plus pack.sh's HarfBuzz/FreeType for the plots, and
# fontconfig pointed at the carried DejaVu fonts (the GPU image's fontconfig knows none).
kernel_libs=${LD_LIBRARY_PATH:-}
fonts_conf=""
if [ -f "$bundle/native.tar.xz" ]; then
  mkdir -p "$work/native"
  tar -C "$work/native" -xJf "$bundle/native.tar.xz"
  native="$work/native/root"
  kernel_libs="$native/usr/lib/x86_64-linux-gnu:$native/lib/x86_64-linux-gnu${kernel_libs:+:$kernel_libs}"
  fonts_conf="$work/fonts.conf"
  printf '<?xml version="1.0"?>\n<fontconfig><dir>%s</dir><cachedir>%s</cachedir></fontconfig>\n' \
    "$native/usr/share/fonts" "$work/fontconfig-cache" > "$fonts_conf"
fi

# The same argv as the kernelspec CI installs (Arrow's C Data export needs java.nio opened).
mkdir -p "$work/jupyter-path/kernels/java"
LD_LIBRARY_PATH="$python_libs" "$python" -I - "$work/jupyter-path/kernels/java/kernel.json" "$java" "$kernel_jar" \
    "$bundle/lib/*.jar" "$kernel_libs" "$fonts_conf" <<'PY'
import json, sys
target, java, jar, classpath, libs, fonts = sys.argv[1:]
env = {"JJAVA_CLASSPATH": classpath, "LD_LIBRARY_PATH": libs}
if fonts:
    env["FONTCONFIG_FILE"] = fonts
spec = {
    "argv": [java, "--add-opens=jdk.jshell/jdk.jshell=ALL-UNNAMED",
             "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
             "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Djava.awt.headless=true", "-jar", jar,
             "{connection_file}"],
    "display_name": "Java (JJava)", "language": "java", "interrupt_mode": "message", "env": env, "metadata": {},
}
with open(target, "w") as f:
    json.dump(spec, f, indent=2)
PY

echo "[run-notebooks] $("$java" -version 2>&1 | head -n 1); kernel $(basename "$kernel_jar"); $(LD_LIBRARY_PATH="$python_libs" \
  "$python" -I -c 'import sys, jupyter_client, nbclient; print("python", sys.version.split()[0], "jupyter_client", jupyter_client.__version__, "nbclient", nbclient.__version__)')"
# -I: the carried Python ignores the machine's PYTHON* variables and site-packages (run-gpu-check.sh sets PYTHONPATH
# for JPype on the machine's own Python).
env LD_LIBRARY_PATH="$python_libs" JUPYTER_PATH="$work/jupyter-path" JUPYTER_DATA_DIR="$work/jupyter-data" \
    JUPYTER_CONFIG_DIR="$work/jupyter-config" JUPYTER_RUNTIME_DIR="$work/jupyter-runtime" \
    "$python" -I "$repo/examples/python/gpu/execute_notebook.py" --output-dir "$out" "$@"
