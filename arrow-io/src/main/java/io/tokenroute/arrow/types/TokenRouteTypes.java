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
package io.tokenroute.arrow.types;

import org.apache.arrow.vector.types.pojo.ExtensionTypeRegistry;

/** Registers TokenRoute's extension types with Arrow Java so IPC readers and C Data import recognise them. */
public final class TokenRouteTypes {
    static {
        ExtensionTypeRegistry.register(BFloat16Type.INSTANCE);
        ExtensionTypeRegistry.register(Float8E4M3Type.INSTANCE);
        ExtensionTypeRegistry.register(Ue8m0Type.INSTANCE);
    }

    private TokenRouteTypes() {}

    /** Ensures the registration ran; cheap and idempotent. */
    public static void register() {
        // The static initializer does the work exactly once.
    }
}
