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
package io.tokenroute.routing.cuda;

/**
 * The test-only hooks of a {@link CudaLocalGroup} for tests outside this package (the {@code nvshmem} rank processes):
 * they are package-private in the group so that they stay out of its public API.
 */
public final class CudaTestSupport {
    private CudaTestSupport() {}

    /**
     * Overwrites the hosted ranks' results with the byte 0xA5 before a checked step (see
     * {@code CudaLocalGroup#poisonResults}).
     */
    public static void poisonResults(CudaLocalGroup group) {
        group.poisonResults();
    }
}
