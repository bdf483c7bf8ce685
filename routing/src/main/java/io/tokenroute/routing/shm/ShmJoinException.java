package io.tokenroute.routing.shm;

import io.tokenroute.TokenRouteException;

import java.nio.file.Path;

/**
 * Joining an {@code shm} group failed before the rank took part in any operation: the group file is not private to
 * this user (owned by another user, open to its group or others, a link: the message names the file, its owner and
 * mode; see {@link ShmAccess}), it was made for another configuration, the rank is held by a live process, the file is left over from a dead group, or not every rank
 * attached within the join timeout ({@link #missingRanks()} lists those that did not). Nothing was published; the
 * process's mapping was released.
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
