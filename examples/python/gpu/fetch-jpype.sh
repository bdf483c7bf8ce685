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

# Runs HERE (the build machine, with network): fetches JPype's source for a GPU machine whose Python (e.g. a 3.12
# venv) has no JPype and which may have no network. It takes Debian trixie's source package python-jpype 1.5.0: JPype
# 1.5 is the first release that supports Python 3.12, and build-jpype.sh builds it there with pip, offline. Only the
# upstream .orig.tar.gz is kept, checked against the SHA-256 of the signed Sources index; JPype's Java part is compiled
# here (the GPU machine needs no JDK) into org.jpype.jar.
#
#   examples/python/gpu/fetch-jpype.sh          # -> .gpu/python/jpype/{python-jpype_1.5.0.orig.tar.gz,org.jpype.jar}
#
# Third-party sources are fetched at test time into the ignored .gpu/ folder and never committed. Uses a private apt
# configuration (a trixie deb-src entry, its state in a temporary folder): the system's apt sources are not touched.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
out="$repo/.gpu/python/jpype"
version=${JPYPE_VERSION:-1.5.0-1}
upstream=${version%-*}
orig="python-jpype_${upstream}.orig.tar.gz"
say() { echo "[fetch-jpype] $*"; }

if [ -f "$out/$orig" ] && [ -f "$out/org.jpype.jar" ]; then
  say "already there: $out/$orig, $out/org.jpype.jar"
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
echo "deb-src http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
: > "$apt_dir/status"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=$apt_dir/status"
          -o "APT::Sandbox::User=$(id -un)")
say "apt-get update (private configuration, trixie deb-src only)"
apt-get "${apt_opts[@]}" -q update > "$apt_dir/update.log" 2>&1 || { tail -n 5 "$apt_dir/update.log"; exit 1; }
say "apt-get source --download-only python-jpype=$version"
# The .dsc and .debian.tar.xz are not needed (and may be gone from the mirror): only the upstream tarball matters.
(cd "$apt_dir/download" && apt-get "${apt_opts[@]}" -q source --download-only "python-jpype=$version" \
   > "$apt_dir/source.log" 2>&1) || true
[ -f "$apt_dir/download/$orig" ] || { say "download failed:"; tail -n 5 "$apt_dir/source.log"; exit 1; }

index=$(ls "$apt_dir"/lists/*_source_Sources* | head -n 1)
case "$index" in *.lz4) cat_index=(lz4cat) ;; *.xz) cat_index=(xzcat) ;; *.gz) cat_index=(zcat) ;; *) cat_index=(cat) ;; esac
want=$("${cat_index[@]}" "$index" | awk -v v="$version" -v f="$orig" '
  /^Package: python-jpype$/ { p = 1 } p && /^Version: / { ok = ($2 == v) } p && /^$/ { p = 0; ok = 0 }
  p && ok && /^Checksums-Sha256:/ { s = 1; next } s && /^ / { if ($3 == f) print $1 } s && !/^ / { s = 0 }' | head -n 1)
have=$(sha256sum "$apt_dir/download/$orig" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$have" ] || { say "SHA-256 mismatch for $orig: index '$want', file '$have'"; exit 1; }
mv "$apt_dir/download/$orig" "$out/$orig"
say "$orig: sha256 $have (matches the signed Sources index)"

say "compiling JPype's Java part (javac --release 8) into org.jpype.jar"
tar -C "$work" -xzf "$out/$orig"
src=$(ls -d "$work"/jpype-*/native/java)
mkdir -p "$work/classes"
find "$src" -name '*.java' > "$work/sources.txt"
javac --release 8 -nowarn -encoding UTF-8 -g:none -d "$work/classes" @"$work/sources.txt" 2>&1 \
  | grep -v -E '^(Note|warning): ' || true
(cd "$src" && find . -type f ! -name '*.java' -exec cp --parents {} "$work/classes/" \;)
jar cf "$out/org.jpype.jar" -C "$work/classes" .
say "done: $(du -h "$out/$orig" | cut -f1) source, $(du -h "$out/org.jpype.jar" | cut -f1) jar in $out"
