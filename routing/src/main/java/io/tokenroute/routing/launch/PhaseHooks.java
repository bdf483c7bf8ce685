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
package io.tokenroute.routing.launch;

import io.tokenroute.routing.BufferConfig;
import java.util.Objects;

/**
 * Attaches a {@link PhaseListener} to a {@link BufferConfig}: fault injection and test ordering only, so it is not a
 * setting of the public configuration ({@code BufferConfig.Builder} has none) and this package is exported to the
 * project's own demo alone. A transport reads the listener with {@link #listenerOf}.
 */
public final class PhaseHooks {
    /** How this package reaches the configuration's hidden field; {@link BufferConfig} installs it when loaded. */
    public interface ConfigAccess {
        PhaseListener listenerOf(BufferConfig config);

        BufferConfig withListener(BufferConfig config, PhaseListener listener);
    }

    private static volatile ConfigAccess access;

    private PhaseHooks() {}

    /** Called once by {@link BufferConfig}'s static initialiser; a second call is refused. */
    public static synchronized void install(ConfigAccess configAccess) {
        if (access != null) {
            throw new IllegalStateException("the configuration access is installed already");
        }
        access = Objects.requireNonNull(configAccess, "configAccess");
    }

    /** {@code config} with {@code listener} hearing every phase of every rank opened with it. */
    public static BufferConfig listening(BufferConfig config, PhaseListener listener) {
        return access.withListener(config, Objects.requireNonNull(listener, "listener"));
    }

    /** The listener attached to {@code config}; {@link PhaseListener#NONE} unless {@link #listening} set one. */
    public static PhaseListener listenerOf(BufferConfig config) {
        return access.listenerOf(config);
    }
}
