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
 * TokenRoute's Arrow layer: token batches and their schema, the bf16 and fp8 extension types, host and CUDA device
 * memory behind Arrow buffers, the Arrow C Data and C Device Data interfaces, IPC streams, and
 * {@link io.tokenroute.TokenRouteException}, the base of every failure the library reports.
 */
module io.tokenroute.arrow {
    requires transitive org.apache.arrow.memory.core;
    requires transitive org.apache.arrow.vector;
    requires transitive org.apache.arrow.c;

    exports io.tokenroute;
    exports io.tokenroute.arrow.batch;
    exports io.tokenroute.arrow.cdata;
    exports io.tokenroute.arrow.ipc;
    exports io.tokenroute.arrow.memory;
    exports io.tokenroute.arrow.numeric;
    exports io.tokenroute.arrow.stream;
    exports io.tokenroute.arrow.types;
    exports io.tokenroute.arrow.internal to
            io.tokenroute.device,
            io.tokenroute.routing,
            io.tokenroute.examples;
}
