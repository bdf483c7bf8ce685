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
package io.tokenroute.routing.testkit;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.PeerTimeoutException;
import java.util.Arrays;
import java.util.Set;

/** What a non-elastic survivor's {@link PeerTimeoutException} must say, and that the buffer then refuses work. */
public final class NonElasticFailure {
    private NonElasticFailure() {}

    /**
     * Checks that {@code e} names silent peers other than this rank, its phase and "peer rank" in its message, and
     * that {@code buffer} refuses a barrier until {@code cleanBuffer()} (saying so); adds the named peers to
     * {@code named} (shared by the survivors, so a test can check that some survivor named the stopped rank).
     */
    public static void assertReported(PeerTimeoutException e, ElasticBuffer buffer, Set<Integer> named) {
        assertTrue(e.peers().length > 0 && Arrays.stream(e.peers()).noneMatch(p -> p == buffer.rank()), e.getMessage());
        assertTrue(e.getMessage().contains("phase " + e.phase()), e.getMessage());
        assertTrue(e.getMessage().contains("peer rank"), e.getMessage());
        Arrays.stream(e.peers()).forEach(named::add);
        IllegalStateException refused = assertThrows(IllegalStateException.class, buffer::barrier);
        assertTrue(refused.getMessage().contains("cleanBuffer"), refused.getMessage());
    }
}
