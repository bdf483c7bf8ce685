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

# The Python bridge's CI check (run by .ci/run after `mvn -B -ntp verify` built the jars): Debian's python3-jpype for
# /usr/bin/python3 (3.11) drives TokenRoute through examples/python/tests (unittest; no pyarrow, no GPU on CI). Ends
# with the unittest summary line "N passed, N failed". Installs the Debian packages when they are missing (CI runs as
# root on Debian 12); pip and setuptools are for the test that installs the package (`pip install ./examples/python`,
# offline: --no-build-isolation --no-deps --no-index).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
python=/usr/bin/python3
packages=(python3-jpype python3-numpy python3-nbformat python3-pip python3-setuptools)

if ! "$python" -c "import jpype, numpy, nbformat, pip, setuptools" 2>/dev/null; then
  echo "[python-ci] installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q > /dev/null
  apt-get install -y -q --no-install-recommends "${packages[@]}" > /dev/null
fi
exec "$python" "$repo/examples/python/tests/run_tests.py"
