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
 * Zero-copy hand-off of record batches through the Arrow C Data Interface (host,
 * {@link io.tokenroute.arrow.cdata.HostExport}) and the Arrow C Device Data Interface (any memory,
 * {@link io.tokenroute.arrow.cdata.DeviceExport}), with readers of the C structs
 * ({@link io.tokenroute.arrow.cdata.ArrowArrayView}, {@link io.tokenroute.arrow.cdata.DeviceArrayView}).
 *
 * <p>Ownership in one line: the producer closes its {@code Exported*} object after the consumer imported; the consumer
 * releases what it imported; whoever holds a struct with a non-NULL {@code release} is the one who must call it, once.
 */
package io.tokenroute.arrow.cdata;
