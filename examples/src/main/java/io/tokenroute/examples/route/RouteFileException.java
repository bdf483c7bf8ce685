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
package io.tokenroute.examples.route;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file {@link IpcRoute} reads or writes that it cannot use, with the problem worded for the user: the message is
 * {@code FILE: PROBLEM}, e.g. {@code in.arrow: truncated Arrow IPC file: ...} or {@code in.arrow: batch 2, token 5:
 * expert id 12 is outside [0, 8)}.
 */
public final class RouteFileException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String problem;

    /**
     * @param file the file, as the user named it
     * @param problem what is wrong with it, one line
     * @param cause the underlying failure, or null
     */
    public RouteFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
        this.problem = problem;
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** What is wrong with it. */
    public String problem() {
        return problem;
    }
}
