#!/usr/bin/env bash
# Runs HERE: packs what the Python bridge's GPU run needs into the ignored folder .gpu/python/ (the GPU machine has
# no JDK, no Maven, no network and receives the working tree plus the carried folders, 64 MiB in all):
#
#   .gpu/python/jre.tar.xz   jlink'd Java 17 with JShell and AWT (for notebook 03) and the vector module
#   .gpu/python/lib/*.jar    the examples jar and its runtime dependencies (JMH and the CLI's console libraries left
#                            out; the JavaCPP CUDA jar keeps only libjnicudart.so)
#   .gpu/python/jpype/       JPype's source and compiled Java part (fetch-jpype.sh)
#
# Then, with the workspace's device tool: run with carry [".gpu/python"] and the command
# examples/python/gpu/run-gpu-check.sh (see examples/python/README.md).
#
# SKIP_BUILD=1 reuses the jars under */target.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
out="$repo/.gpu/python"
modules=java.base,jdk.unsupported,java.logging,java.management,java.sql,jdk.management,jdk.zipfs,jdk.incubator.vector,jdk.jshell,java.desktop
say() { echo "[pack] $*"; }
cd "$repo"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "mvn -q -B -DskipTests install"
  mvn -q -B -DskipTests install
fi
"$repo/examples/python/gpu/fetch-jpype.sh"

# AWT's font rendering (the plot in notebook 03) needs HarfBuzz, FreeType and a font, which the GPU image lacks:
# Debian's shared libraries and DejaVu Sans travel along and run-gpu-check.sh puts them on the library path.
rm -rf "$out/native" && mkdir -p "$out/native/debs"
(cd "$out/native/debs" && apt-get download libharfbuzz0b libgraphite2-3 libfreetype6 libpng16-16 libbrotli1 libglib2.0-0 libfontconfig1 libexpat1 \
  fonts-dejavu-core >/dev/null 2>&1) || say "could not download the font libraries: notebook 03's plot will fail there"
for deb in "$out"/native/debs/*.deb; do [ -f "$deb" ] && dpkg -x "$deb" "$out/native/root"; done
rm -rf "$out/native/debs"

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
