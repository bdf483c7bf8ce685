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
 * Elastic expert-parallel routing: the rank API ({@link io.tokenroute.routing.ElasticBuffer}), one way to open a
 * group on any transport ({@link io.tokenroute.routing.ElasticGroup#open}), expert placement, and the transports
 * ({@code local}, {@code shm}, {@code cuda-local}, {@code nvshmem}). The protocol, the symmetric-memory SPI the
 * transports share and the host kernels stay inside the module; the job secret of multi-process groups is API; the
 * multi-process launcher and fault injector are for the project's own demo and tests.
 */
module io.tokenroute.routing {
    requires transitive io.tokenroute.arrow;
    requires transitive io.tokenroute.device;
    requires jdk.incubator.vector;
    requires jdk.unsupported;

    exports io.tokenroute.routing;
    exports io.tokenroute.routing.placement;
    exports io.tokenroute.routing.local;
    exports io.tokenroute.routing.shm;
    exports io.tokenroute.routing.cuda;
    exports io.tokenroute.routing.nvshmem;
    exports io.tokenroute.routing.security;
    exports io.tokenroute.routing.launch to
            io.tokenroute.examples;
}
