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

import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Calls a C struct's {@code release} callback only while it is set. The C Data Interface marks a released or moved
 * struct with {@code release == NULL}; calling through NULL would crash, and releasing twice would free twice.
 */
final class CRelease {
    /**
     * Offset of {@code release} in {@code struct ArrowSchema}: after format, name, metadata, flags, n_children,
     * children and dictionary, 8 bytes each.
     */
    static final int SCHEMA_RELEASE_OFFSET = 56;

    private CRelease() {}

    /** Releases the {@code ArrowArray} (or {@code ArrowDeviceArray}) at {@code address} unless it already was. */
    static void releaseArray(long address) {
        if (MemoryUtil.getLong(address + ArrowArrayView.RELEASE_OFFSET) != 0) {
            ArrowArray.wrap(address).release();
        }
    }

    /** Releases the {@code ArrowSchema} at {@code address} unless it already was. */
    static void releaseSchema(long address) {
        if (MemoryUtil.getLong(address + SCHEMA_RELEASE_OFFSET) != 0) {
            ArrowSchema.wrap(address).release();
        }
    }
}
