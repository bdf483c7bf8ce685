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

# Runs the packed test suites on the GPU test machine (no JDK, no Maven, no network), from the repository root:
#
#   device/scripts/run-gpu-tests.sh [SUITE ...] [-- JUNIT_CONSOLE_OPTION ...]
#
# SUITE is a module whose test jar device/scripts/pack-gpu-bundle.sh put into .gpu/lib (tokenroute-SUITE-*-tests.jar);
# default: $TOKENROUTE_GPU_SUITES, else "device". Adding a module's tests later = pack it and name it here.
# Options after -- go to the JUnit console launcher, e.g.  -- --include-classname '.*Fp8.*'
#
# Full logs and JUnit XML reports go to $OUT/gpu-tests when OUT is set (else .gpu/logs); a short summary table is
# printed last. Exit status: 0 when every suite ran and nothing failed.
#
# Environment: TOKENROUTE_JAVA (a java binary to use instead of the bundled runtime), TOKENROUTE_JVM_OPTS (extra JVM
# options), TOKENROUTE_RUN_TAG (suffix of the log and report names, so several runs of one suite keep their logs).
# NVSHMEM_DISABLE_NVLS=1 and NCCL_NVLS_ENABLE=0 are always exported: NVLink multicast must stay off.
set -uo pipefail

export NVSHMEM_DISABLE_NVLS=1
export NCCL_NVLS_ENABLE=0

repo=$(cd "$(dirname "$0")/../.." && pwd)
bundle="$repo/.gpu"
say() { echo "[run-gpu-tests] $*"; }

suites=()
junit_extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; junit_extra=("$@"); break; fi
  suites+=("$1"); shift
done
[ ${#suites[@]} -gt 0 ] || read -r -a suites <<< "${TOKENROUTE_GPU_SUITES:-device}"

if [ ! -d "$bundle/lib" ]; then
  say "no bundle at $bundle: run device/scripts/pack-gpu-bundle.sh on the build machine and copy .gpu here"
  exit 2
fi
logs="${OUT:-$bundle/logs}/gpu-tests"
mkdir -p "$logs"

# shellcheck source=bundle-env.sh
. "$repo/device/scripts/bundle-env.sh"
bundle_java
bundle_cudart

cp_entries=()
launcher=""
for jar in "$bundle"/lib/*.jar; do
  case "$jar" in
    */junit-platform-console-standalone-*.jar) launcher=$jar ;;
    *) cp_entries+=("$jar") ;;
  esac
done
[ -n "$launcher" ] || { say "no junit-platform-console-standalone jar in $bundle/lib"; exit 2; }
classpath=$(IFS=:; echo "${cp_entries[*]}")

jvm_opts=(
  "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED"
  -Darrow.memory.debug.allocator=true
  "-Dorg.bytedeco.javacpp.cachedir=/tmp/tokenroute-javacpp-$(id -u)"
)
# shellcheck disable=SC2206  # word splitting of user-provided options is intended
jvm_opts+=(${TOKENROUTE_JVM_OPTS:-})

{
  echo "host: $(hostname); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "java: $("$java" -version 2>&1 | head -n 1) ($java)"
  echo "gpus: $(nvidia-smi -L 2>/dev/null | tr '\n' ';' || echo 'nvidia-smi not available')"
  echo "libcudart.so.13: $(ldconfig -p 2>/dev/null | grep -m1 'libcudart\.so\.13 ' | sed 's/.*=> //' || true)" \
       "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "bundle: $(head -n 1 "$bundle/BUNDLE.txt" 2>/dev/null)"
  echo "env: NVSHMEM_DISABLE_NVLS=$NVSHMEM_DISABLE_NVLS NCCL_NVLS_ENABLE=$NCCL_NVLS_ENABLE"
} | tee "$logs/environment.txt"

# --- run each suite in its own JVM, so a crash in one does not hide the others' results ---------------------------
declare -A exit_codes
for suite in "${suites[@]}"; do
  test_jar=$(ls "$bundle"/lib/tokenroute-"$suite"-*-tests.jar 2>/dev/null | head -n 1)
  if [ -z "$test_jar" ]; then
    say "suite $suite: no tokenroute-$suite-*-tests.jar in $bundle/lib (pack it with TOKENROUTE_BUNDLE_MODULES)"
    exit_codes[$suite]=missing
    continue
  fi
  report="$suite${TOKENROUTE_RUN_TAG:+-$TOKENROUTE_RUN_TAG}"
  rm -rf "${logs:?}/$report" && mkdir -p "$logs/$report"
  say "suite $suite: $(basename "$test_jar") -> $logs/$report.log"
  # Tests that start rank processes (shm, nvshmem) give them this class path (tests, and JUnit from the console jar).
  (cd "$repo" && "$java" "${jvm_opts[@]}" "-Dtokenroute.test.classpath=$classpath:$test_jar:$launcher" -jar "$launcher" execute \
      --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
      --class-path "$classpath" --scan-class-path "$test_jar" --reports-dir "$logs/$report" \
      "${junit_extra[@]}") > "$logs/$report.log" 2>&1
  exit_codes[$suite]=$?
done

# --- summary: failures and skip reasons first, the table last --------------------------------------------------
summary_args=()
for suite in "${suites[@]}"; do summary_args+=("$suite${TOKENROUTE_RUN_TAG:+-$TOKENROUTE_RUN_TAG}" "${exit_codes[$suite]}"); done
python3 - "$logs" "${summary_args[@]}" <<'PY'
import os, sys
import xml.etree.ElementTree as ET

logs, args = sys.argv[1], sys.argv[2:]
rows, status = [], 0
for suite, code in zip(args[0::2], args[1::2]):
    report = os.path.join(logs, suite, "TEST-junit-jupiter.xml")
    if code == "missing":
        rows.append((suite, "-", "-", "-", "-", "no test jar")); status = 1; continue
    if not os.path.exists(report):
        rows.append((suite, "-", "-", "-", "-", f"launcher died (exit {code})")); status = 1
        print(f"\n--- {suite}: no report; last lines of {suite}.log ---")
        with open(os.path.join(logs, suite + ".log"), errors="replace") as log:
            print("".join(log.readlines()[-25:]).rstrip())
        continue
    cases = ET.parse(report).getroot().iter("testcase")
    found = passed = skipped = failed = 0
    reasons, failures = {}, []
    for case in cases:
        found += 1
        name = f'{case.get("classname", "").rsplit(".", 1)[-1]}.{case.get("name")}'
        skip = case.find("skipped")
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if skip is not None:
            skipped += 1
            text = (skip.get("message") or skip.text or "").strip().splitlines()
            reason = text[0] if text else "skipped"
            reason = reason.split("Assumption failed: ", 1)[-1]
            reasons[reason] = reasons.get(reason, 0) + 1
        elif bad is not None:
            failed += 1
            text = (bad.get("message") or bad.text or "").strip().splitlines()
            failures.append(f"{name}: {text[0][:300] if text else bad.get('type', 'failed')}")
        else:
            passed += 1
    if failures:
        print(f"\n--- {suite}: {len(failures)} failed (details in {suite}.log) ---")
        for line in failures[:30]:
            print("  " + line)
    for reason, count in reasons.items():
        print(f"--- {suite}: {count} skipped: {reason}")
    note = "ok" if failed == 0 and code == "0" else f"exit {code}"
    if failed or code != "0":
        status = 1
    rows.append((suite, found, passed, skipped, failed, note))

print(f"\nlogs: {logs}")
header = ("suite", "found", "passed", "skipped", "failed", "result")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
line = "  ".join("{:<%d}" % w for w in widths)
print(line.format(*header))
print(line.format(*("-" * w for w in widths)))
for row in rows:
    print(line.format(*map(str, row)))
sys.exit(status)
PY
