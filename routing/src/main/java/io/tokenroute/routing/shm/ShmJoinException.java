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
package io.tokenroute.routing.shm;

import io.tokenroute.TokenRouteException;
import java.nio.file.Path;

/**
 * Joining an {@code shm} group failed before the rank took part in any operation: the group file is not private to
 * this user (owned by another user, open to its group or others, a link: the message names the file, its owner and
 * mode; see {@link ShmAccess}), it was made for another configuration, the rank is held by a live process, the file is
 * left over from a dead group, or not every rank attached within the join timeout ({@link #missingRanks()} lists those
 * that did not). Nothing was published; the process's mapping was released.
 */
public final class ShmJoinException extends TokenRouteException {
    private static final long serialVersionUID = 1L;
    private final transient Path groupFile;
    private final int[] missingRanks;

    ShmJoinException(Path groupFile, String message) {
        this(groupFile, message, new int[0], null);
    }

    ShmJoinException(Path groupFile, String message, Throwable cause) {
        this(groupFile, message, new int[0], cause);
    }

    ShmJoinException(Path groupFile, String message, int[] missingRanks, Throwable cause) {
        super(message, cause);
        this.groupFile = groupFile;
        this.missingRanks = missingRanks.clone();
    }

    /** The group file the rank tried to join. */
    public Path groupFile() {
        return groupFile;
    }

    /** The ranks that had not attached when the join timed out, ascending; empty for other failures. */
    public int[] missingRanks() {
        return missingRanks.clone();
    }
}
