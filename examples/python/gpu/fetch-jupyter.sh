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

# Runs HERE (the build machine, with network): packs Jupyter for the GPU machine, which has neither Jupyter nor a
# network, and whose Python (a 3.12 venv) cannot load Debian's python3-zmq (a C extension built for 3.11). So Debian
# bookworm's own Python 3.11 travels with the pieces that execute a notebook: jupyter-client (kernelspecs and the
# kernel protocol over ZeroMQ), nbclient (the engine under `jupyter nbconvert --execute`) and nbformat.
# nbconvert itself stays behind: it imports lxml, whose libxml2 needs ICU (12 MB more, compressed).
#
#   examples/python/gpu/fetch-jupyter.sh     # -> .gpu/python/jupyter.tar.xz (~9 MB) and jupyter.packages
#
# The packages are the Depends closure of ROOTS below, taken from a private apt configuration (bookworm binary
# entries, its state in a temporary folder; the system's apt sources are not touched), minus what every glibc system
# has (glibc, the GCC runtime, zlib) and minus Debian's packaging tools. Extension modules whose libraries stay
# behind (readline, curses, dbm, sqlite3, nis, crypt) are removed: nothing in Jupyter's execution path imports them,
# and nbformat runs without sqlite3. Then every carried ELF file must find its libraries inside the bundle or in that
# base set, or the script fails: the GPU machine is not Debian, so nothing may come from this machine's /usr/lib.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
out="$repo/.gpu/python"
say() { echo "[fetch-jupyter] $*"; }

roots=(python3.11 python3-jupyter-client python3-nbclient python3-nbformat)
left_out=(
  libc6 libgcc-s1 gcc-12-base libstdc++6 zlib1g libcrypt1   # what every glibc system has
  dpkg tar debconf cdebconf install-info perl perl-base libperl5.36 perl-modules-5.36 libdebian-installer4 libnewt0.52
  libslang2 libtextwrap1 libselinux1 libpcre2-8-0 libacl1 libzstd1   # Debian's packaging tools and their libraries
  tzdata ca-certificates openssl mime-support mailcap media-types    # data and tools the execution path does not use
  readline-common libreadline8 libncursesw6 libtinfo6 libdb5.3 libgdbm6 libgdbm-compat4 libnsl2 libtirpc3
  libtirpc-common libsqlite3-0                                       # libraries of the removed extension modules
  python3-distutils python3-lib2to3 python3-py python3-pkg-resources # Python packages nothing here imports
)
# What a carried ELF file may take from the machine it runs on: glibc, the GCC runtime, zlib.
base_libs=(linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1
           libresolv.so.2 libgcc_s.so.1 libstdc++.so.6 libz.so.1)
unused_modules='^(readline|_curses|_curses_panel|_dbm|_gdbm|_sqlite3|nis|_crypt)\.cpython-'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
cat > "$apt_dir/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
: > "$apt_dir/status"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=$apt_dir/status"
          -o "APT::Architecture=amd64" -o "APT::Sandbox::User=$(id -un)")
say "apt-get update (private configuration, bookworm)"
apt-get "${apt_opts[@]}" -q update > "$apt_dir/update.log" 2>&1 || { tail -n 5 "$apt_dir/update.log"; exit 1; }

apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "${roots[@]}" | grep -v -e '^ ' -e '^<' | sort -u > "$work/closure"
grep -v -x -F -f <(printf '%s\n' "${left_out[@]}") "$work/closure" > "$work/packages"
say "$(wc -l < "$work/packages") of $(wc -l < "$work/closure") packages in the closure of ${roots[*]}"
apt-cache "${apt_opts[@]}" show --no-all-versions $(cat "$work/packages") \
  | awk '/^Package: / { p = $2 } /^Version: / { print p, $2 }' | sort > "$work/jupyter.packages"
if [ -f "$out/jupyter.tar.xz" ] && cmp -s "$work/jupyter.packages" "$out/jupyter.packages"; then
  say "reusing $out/jupyter.tar.xz (same packages)"
  exit 0
fi
(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -q download $(cat "$work/packages") > "$apt_dir/download.log" 2>&1) \
  || { tail -n 5 "$apt_dir/download.log"; exit 1; }

root="$work/jupyter"
mkdir -p "$root"
for deb in "$apt_dir"/debs/*.deb; do
  dpkg -x "$deb" "$root"
done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian"
find "$root/usr/lib/python3.11/lib-dynload" -type f | while read -r module; do
  if basename "$module" | grep -q -E "$unused_modules"; then rm -f "$module"; fi
done
# Absolute links (Debian's sitecustomize.py -> /etc/...) would reach into whatever machine unpacks the bundle.
find "$root" -lname '/*' -delete

say "checking that every carried ELF file finds its libraries in the bundle or in the base set"
lib_path="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
missing=$(find "$root" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0 | while IFS= read -r -d '' elf; do
  head -c 4 "$elf" | grep -q 'ELF' || continue
  LD_LIBRARY_PATH="$lib_path" ldd "$elf" 2>/dev/null | awk -v root="$root" -v elf="${elf#"$root"/}" '
    /not found/ { print elf ": " $1 " not found"; next }
    /=>/ && index($3, root) != 1 { print elf ": " $1 }' | while read -r line; do
      printf '%s\n' "${base_libs[@]}" | grep -q -x -F "${line##*: }" || echo "$line"
    done
done)
if [ -n "$missing" ]; then
  echo "$missing" | sed 's/^/[fetch-jupyter]   /' >&2
  say "these libraries would come from this machine: add their packages (or remove the module)" >&2
  exit 1
fi
# -I: neither this machine's PYTHON* variables nor its site-packages (the interpreter finds its own prefix); -B: no
# __pycache__ written into what is packed.
LD_LIBRARY_PATH="$lib_path" "$root/usr/bin/python3.11" -I -B -c 'import sys, jupyter_client, nbclient, nbformat, zmq
print("[fetch-jupyter] python", sys.version.split()[0], "jupyter_client", jupyter_client.__version__,
      "nbclient", nbclient.__version__, "pyzmq", zmq.__version__, "libzmq", zmq.zmq_version())'

mkdir -p "$out"
XZ_OPT="-9 -T0" tar -C "$work" -cJf "$out/jupyter.tar.xz.tmp" jupyter
mv "$out/jupyter.tar.xz.tmp" "$out/jupyter.tar.xz"
cp "$work/jupyter.packages" "$out/jupyter.packages"
say "wrote $out/jupyter.tar.xz ($(du -h "$out/jupyter.tar.xz" | cut -f 1)) and $out/jupyter.packages"
