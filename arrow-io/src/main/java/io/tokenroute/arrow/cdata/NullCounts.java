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
package io.tokenroute.arrow.cdata;

/**
 * How an export fills the {@code null_count} field of every exported {@code ArrowArray}.
 *
 * <p>Arrow Java's own exporter always counts nulls by scanning each validity bitmap. For a token batch the largest
 * bitmap is the one of the {@code hidden} elements: {@code n × H} bits, 1/16 of a bf16 hidden buffer (16 MiB for a
 * 256 MiB batch), so the scan makes export cost grow with the batch. Token batches never hold nulls, which lets them
 * skip it.
 */
public enum NullCounts {
    /** Count nulls by reading every validity bitmap: exact for any batch, cost proportional to the batch's length. */
    SCAN,
    /**
     * The caller guarantees the batch holds no nulls: every {@code null_count} is written as 0 without reading a
     * bitmap, so the cost of an export does not depend on the batch's size. Exporting a batch that does hold nulls
     * this way hands consumers wrong data.
     */
    KNOWN_ZERO
}
