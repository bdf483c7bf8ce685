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

import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.routing.ElasticGroup.Capability;
import java.util.Set;

/**
 * Gates a shared test on what the transport under test does ({@link
 * io.tokenroute.routing.ElasticGroup#capabilities()}), so a transport that lacks a behaviour skips the test that relies
 * on it, with the reason, instead of failing or losing the assertion on the transports that have it.
 */
public final class Capabilities {
    private Capabilities() {}

    /** Skips unless the transport has {@code needed}; {@code why} says what the test relies on. */
    public static void require(Set<Capability> have, Capability needed, String why) {
        assumeTrue(have.contains(needed), "the transport lacks " + needed + ", and " + why);
    }

    /** Skips if the transport has {@code present}: the test is about transports without it. */
    public static void requireLacking(Set<Capability> have, Capability present, String why) {
        assumeFalse(have.contains(present), "the transport has " + present + ", and " + why);
    }
}
