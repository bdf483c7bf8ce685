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

# Sourced by the GPU scripts (run-gpu-tests.sh, run-cuda-bench.sh, run-nvshmem-tests.sh) after they set $bundle (the
# .gpu folder of pack-gpu-bundle.sh) and say(): what every one of them needs from the bundle and the machine.

# Sets $java: $TOKENROUTE_JAVA, else the bundled jlink image, unpacked once per archive content into /tmp.
bundle_java() {
  if [ -n "${TOKENROUTE_JAVA:-}" ]; then
    java=$TOKENROUTE_JAVA
    return
  fi
  local jre_dir
  jre_dir="/tmp/tokenroute-jre-$(sha256sum "$bundle/jre.tar.xz" | cut -c 1-16)"
  if [ ! -x "$jre_dir/jre/bin/java" ]; then
    rm -rf "$jre_dir.partial" && mkdir -p "$jre_dir.partial"
    tar -C "$jre_dir.partial" -xJf "$bundle/jre.tar.xz" || { say "cannot unpack $bundle/jre.tar.xz"; exit 2; }
    rm -rf "$jre_dir" && mv "$jre_dir.partial" "$jre_dir"
  fi
  java="$jre_dir/jre/bin/java"
}

# JavaCPP's libjnicudart.so needs libcuda.so.1 (driver) and libcudart.so.13 from the system: puts the folder of the
# latter on LD_LIBRARY_PATH when the loader does not know it (the CUDA toolkit, or the nvidia-* Python wheels).
bundle_cudart() {
  ldconfig -p 2>/dev/null | grep -q 'libcudart\.so\.13 ' && return
  local dir
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
             $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | xargs -n 1 -I{} \
               find {}/nvidia -maxdepth 3 -name 'libcudart.so.13*' -printf '%h\n' 2>/dev/null | sort -u); do
    if ls "$dir"/libcudart.so.13* >/dev/null 2>&1; then
      export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      return
    fi
  done
}

# Runs a bench main class of the bundle's jars with the JVM options every bench needs: bundle_bench MAIN_CLASS ARG...
bundle_bench() {
  local classpath
  classpath=$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console-standalone | tr '\n' ':')
  "$java" --add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED \
    "-Dorg.bytedeco.javacpp.cachedir=/tmp/tokenroute-javacpp-$(id -u)" -Xmx8g -cp "$classpath" "$@"
}
