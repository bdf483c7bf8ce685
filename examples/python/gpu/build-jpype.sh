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

# Runs THERE (the GPU machine, no network): builds JPype from the source fetch-jpype.sh brought, for this machine's
# python3, into a folder that goes on PYTHONPATH. About 40 s (a C++ compiler and Python.h are needed; both are there).
#
#   examples/python/gpu/build-jpype.sh TARGET_DIR [PYTHON]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
target=${1:?usage: build-jpype.sh TARGET_DIR [PYTHON]}
python=${2:-python3}
jpype="$repo/.gpu/python/jpype"
orig=$(ls "$jpype"/python-jpype_*.orig.tar.gz 2>/dev/null | head -n 1)
[ -n "$orig" ] && [ -f "$jpype/org.jpype.jar" ] || { echo "no JPype source in $jpype: run examples/python/gpu/fetch-jpype.sh on the build machine (pack.sh does)" >&2; exit 1; }

if ls "$target"/_jpype*.so > /dev/null 2>&1 && [ -f "$target/jpype/__init__.py" ]; then
  echo "[build-jpype] JPype already in $target"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$orig"
src=$(ls -d "$work"/jpype-*)
# setup.py copies native/jars into the package instead of compiling Java (no JDK here).
mkdir -p "$src/native/jars"
cp "$jpype/org.jpype.jar" "$src/native/jars/"
echo "[build-jpype] building $(basename "$src") for $("$python" --version 2>&1) into $target"
(cd "$src" && "$python" -m pip install --no-build-isolation --no-deps --no-index --target "$target" . \
   > "$work/pip.log" 2>&1) || { tail -n 30 "$work/pip.log"; exit 1; }
PYTHONPATH="$target" "$python" -c "import jpype, _jpype, os; print('[build-jpype] jpype', jpype.__version__, 'at', os.path.dirname(jpype.__file__))"
