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

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.Objects;
import java.util.Optional;

/**
 * Who besides the ranks' own user may map an {@code shm} group file (docs/contract.md §8). A group file holds every
 * token routed through the group, so by default ({@link #ownerOnly()}) nobody else may: the file is created 0600 and
 * its new directories 0700 whatever the umask, and a rank refuses to join a file owned by another user or open to
 * its group or others.
 *
 * <p>{@link #sharedWithGroup} is for a job whose ranks run as different users of one Unix group: files are created
 * 0660 and directories 0770 with that group, and a rank joins a file of another owner when it carries that group
 * (only the group's members, or root, can give a file a group). Every rank of such a job passes the same access.
 */
public final class ShmAccess {
    private static final ShmAccess OWNER_ONLY = new ShmAccess(null);

    private final String unixGroup;

    private ShmAccess(String unixGroup) {
        this.unixGroup = unixGroup;
    }

    /** Only the user the ranks run as may open the group file: the default. */
    public static ShmAccess ownerOnly() {
        return OWNER_ONLY;
    }

    /**
     * The members of Unix group {@code unixGroup} may open the group file too. The joining user must be a member of
     * it (to give new files that group); the name is resolved when a rank joins.
     *
     * @param unixGroup a group name (or numeric gid) of this host
     */
    public static ShmAccess sharedWithGroup(String unixGroup) {
        Objects.requireNonNull(unixGroup, "unixGroup");
        if (unixGroup.isBlank()) {
            throw new IllegalArgumentException("unixGroup must name a Unix group, got '" + unixGroup + "'");
        }
        return new ShmAccess(unixGroup);
    }

    /** The Unix group admitted besides the owner; empty for {@link #ownerOnly()}. */
    public Optional<String> unixGroup() {
        return Optional.ofNullable(unixGroup);
    }

    /** The group as a principal, or null for owner-only access. */
    GroupPrincipal groupPrincipal() throws IOException {
        if (unixGroup == null) {
            return null;
        }
        try {
            return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(unixGroup);
        } catch (UserPrincipalNotFoundException e) {
            throw new IOException("there is no Unix group '" + unixGroup + "' on this host", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ShmAccess other && Objects.equals(unixGroup, other.unixGroup);
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(unixGroup);
    }

    @Override
    public String toString() {
        return unixGroup == null ? "ShmAccess[owner only]" : "ShmAccess[owner and group " + unixGroup + "]";
    }
}
