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
package io.tokenroute.arrow.internal;

import org.apache.arrow.util.AutoCloseables;

/** Exception-safe closing of composites, shared by the modules (exported to them only). */
public final class Closeables {
    private Closeables() {}

    /**
     * Closes every non-null resource, in order, even when one throws: the first failure is rethrown with the later
     * ones suppressed (Arrow's {@link AutoCloseables#close(AutoCloseable...)}), so a failing close never leaks the
     * rest. Runtime exceptions and errors pass unchanged; a checked one is wrapped in an
     * {@link IllegalStateException}.
     */
    public static void closeAll(AutoCloseable... resources) {
        try {
            AutoCloseables.close(resources);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing failed: " + e.getMessage(), e);
        }
    }
}
