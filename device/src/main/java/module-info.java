/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
/**
 * CUDA through the JavaCPP presets: devices, streams, events and device buffers owned by Arrow allocators, the
 * routing kernels' library and its ABI check, and NVSHMEM (symmetric memory across processes and hosts).
 */
module io.tokenroute.device {
    requires transitive io.tokenroute.arrow;
    requires transitive org.bytedeco.javacpp;
    requires transitive org.bytedeco.cuda;

    exports io.tokenroute.device;
    exports io.tokenroute.device.nvshmem;
}
