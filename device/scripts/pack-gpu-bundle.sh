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

# Builds the repository and packs everything the GPU test machine needs into the ignored folder .gpu/ at the repo
# root. That machine has no JDK, no Maven repository and no network, and receives only the working tree (64 MiB at
# most) plus the ignored folders named when the run is started, so pass .gpu as a carried path:
#
#   .gpu/jre.tar.xz       jlink'd Java 17 runtime (rebuilt only when the JDK or the module list changes)
#   .gpu/jre.stamp        what the archive was built from
#   .gpu/lib/*.jar        the modules' jars and test jars, their dependencies, the JUnit console launcher
#   .gpu/kernels/         the fatbin the build compiled, and how (also inside the device jar; here for cuobjdump)
#   .gpu/jni-include/     the JDK's JNI headers, for building the NVSHMEM JNI library there (run-nvshmem-tests.sh)
#   .gpu/BUNDLE.txt       contents and sizes
#
# Then, on the GPU machine, from the repo root: device/scripts/run-gpu-tests.sh
#
# Environment:
#   TOKENROUTE_BUNDLE_MODULES  modules whose jars, test jars and dependencies are packed (default arrow-io,device,routing,
#                              examples: the demo GPU tests and benches)
#   TOKENROUTE_JRE_MODULES     jlink modules (default below)
#   TOKENROUTE_BUNDLE_STRIP_MIB strip unused JNI libraries from the JavaCPP CUDA jar when the bundle exceeds this many
#                              MiB (default 50; 0 forces stripping)
#   SKIP_BUILD=1               reuse the jars already built under */target
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out="$repo/.gpu"
modules=${TOKENROUTE_BUNDLE_MODULES:-arrow-io,device,routing,examples}
# Derived with jdeps over every packed jar: java.sql (which brings java.xml) for the JUnit reports and Jackson,
# java.management for JavaCPP, java.logging for JUnit, jdk.unsupported for Arrow's and JavaCPP's Unsafe; jdk.zipfs
# because the JUnit launcher scans test jars through a zip file system (a service jdeps cannot see); jdk.incubator.vector
# because rank processes started by RankLauncher (shm, nvshmem) add it (the routing module uses the Vector API). jackson-databind's
# optional java.beans use (java.desktop) is left out on purpose; it is guarded there.
jre_modules=${TOKENROUTE_JRE_MODULES:-java.base,jdk.unsupported,java.logging,java.management,java.sql,jdk.management,jdk.zipfs,jdk.incubator.vector}
strip_mib=${TOKENROUTE_BUNDLE_STRIP_MIB:-50}
jlink_flags=(--compress=2 --strip-debug --no-header-files --no-man-pages)

say() { echo "[pack-gpu-bundle] $*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

cd "$repo"
jupiter=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml | head -n 1)
platform="1.${jupiter#5.}"   # JUnit Jupiter 5.x.y ships with JUnit Platform 1.x.y
mvn_flags=(-q -B -Dstyle.color=never)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the repository (mvn install -DskipTests; modules with test-jar executions also package their tests)"
  mvn "${mvn_flags[@]}" -DskipTests install
fi

rm -rf "$out/lib" "$out/kernels" "$out/logs" "$out/native"
mkdir -p "$out/lib" "$out/kernels"

say "copying jars of: $modules"
IFS=, read -r -a module_list <<< "$modules"
for m in "${module_list[@]}"; do
  found=0
  for jar in "$repo/$m"/target/tokenroute-"$m"-*.jar; do
    [ -e "$jar" ] || continue
    case "$jar" in *-sources.jar|*-javadoc.jar) continue ;; esac
    cp "$jar" "$out/lib/"
    found=1
  done
  [ "$found" = 1 ] || { say "no jar under $m/target: build it first"; exit 1; }
done

say "copying dependencies (all scopes; JUnit comes from the console launcher instead)"
mvn "${mvn_flags[@]}" -pl "$modules" dependency:copy-dependencies -DoutputDirectory="$out/lib" -DincludeScope=test \
  -DexcludeGroupIds=io.tokenroute,org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian
say "fetching the JUnit Platform Console Standalone $platform (Jupiter $jupiter)"
mvn "${mvn_flags[@]}" -N dependency:copy \
  -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" -DoutputDirectory="$out/lib"

# The cuda-local benchmark (examples module) as a small jar of its own, compiled against the packed jars, so the GPU run
# needs neither JMH nor the CLI (device/scripts/run-cuda-bench.sh runs it).
bench_dir="$repo/examples/src/main/java/io/tokenroute/examples/bench"
bench_src=("$bench_dir/CudaLocalBench.java" "$bench_dir/NvshmemBench.java" "$bench_dir/CopyBandwidth.java")
say "compiling $(basename -a "${bench_src[@]}" | tr '\n' ' ')into tokenroute-cuda-bench.jar"
bench_classes=$(mktemp -d)
javac --release 17 -nowarn -d "$bench_classes" -cp "$out/lib/*" "${bench_src[@]}"
jar cf "$out/lib/tokenroute-cuda-bench.jar" -C "$bench_classes" .
rm -rf "$bench_classes"

kernels="$repo/device/target/classes/io/tokenroute/device/kernels"
if [ -f "$kernels/kernels.fatbin" ]; then
  cp "$kernels/kernels.fatbin" "$kernels/kernels.properties" "$out/kernels/"
else
  say "WARNING: no kernels.fatbin (the build had no nvcc): the GPU tests will fail to load kernels"
  cp "$kernels/kernels.properties" "$out/kernels/" 2>/dev/null || true
fi

# --- JNI headers: run-nvshmem-tests.sh compiles the NVSHMEM JNI library on the GPU machine (the jlink'd runtime has none)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
rm -rf "$out/jni-include" && cp -r "$java_home/include" "$out/jni-include"

# --- Java runtime -----------------------------------------------------------------------------------------------
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
stamp="java_home=$java_home
release=$(grep -E '^(JAVA_VERSION|IMPLEMENTOR)=' "$java_home/release" | tr '\n' ' ')
modules=$jre_modules
flags=${jlink_flags[*]}"
if [ -f "$out/jre.tar.xz" ] && [ -f "$out/jre.stamp" ] && [ "$(cat "$out/jre.stamp")" = "$stamp" ]; then
  say "reusing $out/jre.tar.xz (same JDK and modules)"
else
  say "jlink: $jre_modules from $java_home"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$java_home/bin/jlink" --add-modules "$jre_modules" "${jlink_flags[@]}" --output "$tmp/jre"
  "$tmp/jre/bin/java" -version 2>&1 | head -n 1
  XZ_OPT="-9 -T0" tar -C "$tmp" -cJf "$out/jre.tar.xz.tmp" jre
  mv "$out/jre.tar.xz.tmp" "$out/jre.tar.xz"
  printf '%s\n' "$stamp" > "$out/jre.stamp"
fi

# --- size -------------------------------------------------------------------------------------------------------
bundle_bytes() { du -cb "$out/jre.tar.xz" "$out/lib" "$out/kernels" "$out/jni-include" | tail -n 1 | cut -f 1; }
size=$(bundle_bytes)
cuda_jar=$(ls "$out"/lib/cuda-*-linux-x86_64.jar)
if [ "$size" -gt $((strip_mib * 1048576)) ]; then
  say "bundle is $(mib "$size") > $strip_mib MiB: keeping only libjnicudart.so in $(basename "$cuda_jar")"
  # libjnicudart.so carries the runtime and the driver API; it needs only libjnijavacpp.so (javacpp's own platform
  # jar) and the system's libcuda.so.1 and libcudart.so.13. The other JNI libraries (cuBLAS, cuDNN, NPP, ...) are
  # never loaded by this project.
  python3 - "$cuda_jar" <<'PY'
import re, shutil, sys, zipfile
path = sys.argv[1]
unused = re.compile(r"(org/bytedeco/cuda/linux-x86_64/lib(?!jnicudart\.so$)[^/]+\.so$"
                    r"|META-INF/native-image/linux-x86_64/jni(?!cudart/|javacpp/)[^/]+/.*)")
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as dst:
    for entry in src.infolist():
        if not unused.match(entry.filename):
            dst.writestr(entry, src.read(entry.filename))
shutil.move(path + ".tmp", path)
PY
  size=$(bundle_bytes)
fi
natives=$(unzip -Z1 "$cuda_jar" | grep -E '\.so$' | xargs -n 1 basename | tr '\n' ' ')

tree_bytes=$(git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 du -cb 2>/dev/null) \
  | tail -n 1 | cut -f 1)
{
  echo "TokenRoute GPU bundle, packed $(date -u +%Y-%m-%dT%H:%MZ) from $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
  echo "modules: $modules; JUnit Platform $platform"
  echo "JRE: $jre_modules ($(mib "$(stat -c %s "$out/jre.tar.xz")") as .tar.xz)"
  echo "kernels: $(tr '\n' ' ' < "$out/kernels/kernels.properties")"
  echo "natives in $(basename "$cuda_jar"): $natives"
  echo "lib:"
  (cd "$out/lib" && ls -l *.jar | awk '{printf "  %-64s %9d\n", $9, $5}')
  echo "bundle: $(mib "$size"); working tree (tracked + untracked, not ignored): $(mib "$tree_bytes");"
  echo "sent together: $(mib $((size + tree_bytes))) of the 64 MiB limit"
} > "$out/BUNDLE.txt"
cat "$out/BUNDLE.txt"
say "done: copy the repository with .gpu to the GPU machine and run device/scripts/run-gpu-tests.sh there"
