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

# Runs HERE: packs what the GPU machine needs for the Python bridge and notebook 03 into the ignored folder
# .gpu/python/ (the GPU machine has no JDK, no Maven, no Jupyter and no network, and receives the working tree plus
# the carried folders, 64 MiB in all):
#
#   .gpu/python/jre.tar.xz       jlink'd Java 17 with JShell (for JJava), AWT (the plots) and the vector module
#   .gpu/python/lib/*.jar        the examples jar and its runtime dependencies (JMH and the CLI's console libraries
#                                left out; the JavaCPP CUDA jar keeps only libjnicudart.so)
#   .gpu/python/jjava/           the JJava kernel jar ($JJAVA_JAR, else the one the `java` kernelspec here runs)
#   .gpu/python/jupyter.tar.xz   Debian's Python 3.11 with jupyter-client and nbclient (fetch-jupyter.sh)
#   .gpu/python/native.tar.xz    HarfBuzz, FreeType and DejaVu fonts for AWT's text rendering
#   .gpu/python/jpype/           JPype's source and compiled Java part (fetch-jpype.sh)
#
# Then, on the GPU machine, from the repository root with .gpu/python carried: examples/python/gpu/run-gpu-check.sh
# (CONTRIBUTING.md, "Python and notebooks"). Builds with `mvn -B -DskipTests package` first; SKIP_BUILD=1 reuses the jars
# under */target.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
out="$repo/.gpu/python"
# JJava needs jdk.jshell, java.desktop, java.naming and java.security.jgss besides what Arrow and JavaCPP need (jdeps).
modules=java.base,jdk.unsupported,java.logging,java.management,java.sql,jdk.management,jdk.zipfs,jdk.incubator.vector,jdk.jshell,java.desktop,java.naming,java.security.jgss
say() { echo "[pack] $*"; }
cd "$repo"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "mvn -q -B -DskipTests package"
  mvn -q -B -DskipTests package
fi
"$repo/examples/python/gpu/fetch-jpype.sh"
"$repo/examples/python/gpu/fetch-jupyter.sh"

# The JJava kernel jar (the GPU machine cannot download it) with its licence files when they lie beside it.
kernelspec_jar() {
  jupyter kernelspec list --json 2>/dev/null | python3 -c 'import json, sys
argv = json.load(sys.stdin)["kernelspecs"]["java"]["spec"]["argv"]
print(argv[argv.index("-jar") + 1])' 2>/dev/null
}
kernel_jar=${JJAVA_JAR:-$(kernelspec_jar || true)}
[ -n "$kernel_jar" ] && [ -f "$kernel_jar" ] \
  || { echo "[pack] no JJava kernel jar: set JJAVA_JAR=/path/to/jjava-*.jar or install JJava's kernelspec 'java'" >&2; exit 1; }
rm -rf "$out/jjava" && mkdir -p "$out/jjava"
cp "$kernel_jar" "$out/jjava/"
for f in LICENSE NOTICE.txt; do
  if [ -f "$(dirname "$kernel_jar")/$f" ]; then cp "$(dirname "$kernel_jar")/$f" "$out/jjava/"; fi
done
say "JJava kernel: $(basename "$kernel_jar")"

# AWT's font rendering (the plot in notebook 03) needs HarfBuzz, FreeType and a font, which the GPU image lacks:
# Debian's shared libraries and DejaVu fonts travel along (native.tar.xz) and run-notebooks.sh puts them on the
# kernel's library path.
rm -rf "$out/native" "$out/native.tar.xz" && mkdir -p "$out/native/debs"
(cd "$out/native/debs" && apt-get download libharfbuzz0b libgraphite2-3 libfreetype6 libpng16-16 libbrotli1 libglib2.0-0 libfontconfig1 libexpat1 \
  fonts-dejavu-core >/dev/null 2>&1) || say "could not download the font libraries: notebook 03's plot will fail there"
for deb in "$out"/native/debs/*.deb; do [ -f "$deb" ] && dpkg -x "$deb" "$out/native/root"; done
rm -rf "$out/native/debs" "$out"/native/root/usr/share/{doc,doc-base,lintian,man}
if [ -d "$out/native/root" ]; then XZ_OPT="-9 -T0" tar -C "$out/native" -cJf "$out/native.tar.xz" root; fi
rm -rf "$out/native"

rm -rf "$out/lib"
mkdir -p "$out/lib"
jar=$(ls examples/target/tokenroute-examples-*.jar | grep -v -E -- '-(sources|javadoc|tests)\.jar$' | head -n 1)
cp "$jar" "$out/lib/"
for dep in examples/target/lib/*.jar; do
  case "$(basename "$dep")" in
    jmh-*|jopt-simple-*|commons-math3-*|picocli-*|progressbar-*|jline-*) ;;
    *) cp "$dep" "$out/lib/" ;;
  esac
done
cuda_jar=$(ls "$out"/lib/cuda-*-linux-x86_64.jar)
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

java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
stamp="$java_home $modules $(grep -E '^JAVA_VERSION=' "$java_home/release")"
if [ -f "$out/jre.tar.xz" ] && [ "$(cat "$out/jre.stamp" 2>/dev/null)" = "$stamp" ]; then
  say "reusing $out/jre.tar.xz"
else
  say "jlink $modules"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Uncompressed modules: xz compresses them better than jlink's own compression does.
  "$java_home/bin/jlink" --add-modules "$modules" --compress=0 --strip-debug --no-header-files --no-man-pages \
    --output "$tmp/jre" 2>&1 | grep -v 'incubator modules' || true
  XZ_OPT="-9 -T0" tar -C "$tmp" -cJf "$out/jre.tar.xz.tmp" jre
  mv "$out/jre.tar.xz.tmp" "$out/jre.tar.xz"
  echo "$stamp" > "$out/jre.stamp"
fi

size=$(du -cb "$out" | tail -n 1 | cut -f 1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f 1)
say "$(awk -v a="$size" -v b="$tree" 'BEGIN { printf "bundle %.1f MiB + working tree %.1f MiB = %.1f MiB of 64", a / 1048576, b / 1048576, (a + b) / 1048576 }')"
say "done: carry .gpu/python and run examples/python/gpu/run-gpu-check.sh on the GPU machine"
