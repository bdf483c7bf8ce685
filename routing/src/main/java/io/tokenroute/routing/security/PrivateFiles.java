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
package io.tokenroute.routing.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Files that only their owner may read or write (or, where asked, the members of one named Unix group): {@code shm}
 * group files and their directories, and job-secret files. Permissions are set explicitly after creation and read
 * back, so the process umask never widens (or silently narrows) them; a file system without POSIX permissions is
 * refused rather than trusted.
 *
 * <p>The rules a file must pass ({@link #requirePrivate}): a regular file; owned by the user this process runs as
 * (its effective uid), or, when shared with a group, carrying that group (only its members or root can give a file a
 * group, so a foreign owner is then a member of it); no permission for others; group permissions only for the
 * shared group.
 */
public final class PrivateFiles {
    private static final Set<PosixFilePermission> OWNER_FILE = Set.copyOf(PosixFilePermissions.fromString("rw-------"));
    private static final Set<PosixFilePermission> OWNER_DIRECTORY =
            Set.copyOf(PosixFilePermissions.fromString("rwx------"));
    private static final Set<PosixFilePermission> GROUP_FILE = Set.copyOf(PosixFilePermissions.fromString("rw-rw----"));
    private static final Set<PosixFilePermission> GROUP_DIRECTORY =
            Set.copyOf(PosixFilePermissions.fromString("rwxrwx---"));
    private static final Set<PosixFilePermission> GROUP_BITS = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE);
    private static final Set<PosixFilePermission> OTHERS_BITS = EnumSet.of(
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final LinkOption[] NO_FOLLOW = {LinkOption.NOFOLLOW_LINKS};
    private static final LinkOption[] FOLLOW = {};

    private static volatile UserPrincipal currentUser;

    private PrivateFiles() {}

    /**
     * The user this process runs as: its effective uid (from {@code /proc/self/status}, so a uid without a passwd
     * entry, common in containers, works too), else the {@code user.name} property.
     *
     * @throws IOException if neither names a user
     */
    public static UserPrincipal currentUser() throws IOException {
        UserPrincipal user = currentUser;
        if (user == null) {
            UserPrincipalLookupService users = FileSystems.getDefault().getUserPrincipalLookupService();
            String uid = effectiveUid();
            String name = System.getProperty("user.name");
            user = users.lookupPrincipalByName(uid != null ? uid : name);
            try {
                UserPrincipal named = users.lookupPrincipalByName(name);
                if (named.equals(user)) {
                    user = named; // the same uid, with its name for messages
                }
            } catch (IOException | RuntimeException noSuchName) {
                // a uid without a passwd entry keeps its number
            }
            currentUser = user;
        }
        return user;
    }

    /** The second field of the {@code Uid:} line of {@code /proc/self/status}, or null without procfs. */
    private static String effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.US_ASCII)) {
                if (line.startsWith("Uid:")) {
                    String[] ids = line.substring(4).trim().split("\\s+");
                    return ids.length > 1 ? ids[1] : null;
                }
            }
        } catch (IOException | RuntimeException e) {
            // no procfs: fall back to the user name
        }
        return null;
    }

    /**
     * Checks that {@code file} is private to this process's user: a regular file it owns, with no permission for its
     * group or others. Symbolic links are followed only when {@code followLinks} (the target is checked then).
     *
     * @param what what the file is, for the message (e.g. "job secret file")
     * @return the file's attributes as checked
     * @throws java.nio.file.NoSuchFileException if there is no such file
     * @throws AccessDeniedException naming the file, its owner, group and mode and each rule it breaks
     */
    public static PosixFileAttributes requirePrivate(Path file, String what, boolean followLinks) throws IOException {
        return requirePrivate(file, what, null, followLinks);
    }

    /**
     * {@link #requirePrivate(Path, String, boolean)}, where a file carrying group {@code sharedWith} (if not null) may
     * also be owned by another user and give its group read and write permission.
     */
    public static PosixFileAttributes requirePrivate(
            Path file, String what, GroupPrincipal sharedWith, boolean followLinks) throws IOException {
        PosixFileAttributes attrs = attributes(file, followLinks);
        List<String> problems = new ArrayList<>();
        UserPrincipal me = currentUser();
        boolean groupTrusted = sharedWith != null && sharedWith.equals(attrs.group());
        if (!attrs.isRegularFile()) {
            problems.add("it is not a regular file (" + kind(attrs) + ")");
        }
        if (!attrs.owner().equals(me) && !groupTrusted) {
            problems.add("it belongs to another user than the one this process runs as (" + me.getName() + ")"
                    + (sharedWith == null ? "" : " and not to group " + sharedWith.getName()));
        }
        if (attrs.permissions().stream().anyMatch(OTHERS_BITS::contains)) {
            problems.add("other users may "
                    + access(attrs.permissions(), PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE)
                    + " it");
        }
        if (!groupTrusted && attrs.permissions().stream().anyMatch(GROUP_BITS::contains)) {
            problems.add("its group " + attrs.group().getName() + " may "
                    + access(attrs.permissions(), PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE)
                    + " it");
        }
        if (!problems.isEmpty()) {
            throw new AccessDeniedException(
                    file.toString(), null, what + " refused (" + describe(attrs) + "): " + String.join("; ", problems));
        }
        return attrs;
    }

    /** Owner, group and mode of a file, e.g. {@code owner nobody, group nogroup, mode 0644 (rw-r--r--)}. */
    static String describe(PosixFileAttributes attrs) {
        return "owner " + attrs.owner().getName() + ", group " + attrs.group().getName() + ", mode "
                + octal(attrs.permissions()) + " (" + PosixFilePermissions.toString(attrs.permissions()) + ")";
    }

    /** The permission bits as 4 octal digits, e.g. {@code 0600}. */
    static String octal(Set<PosixFilePermission> permissions) {
        int mode = 0;
        for (PosixFilePermission p : permissions) {
            mode |= 1 << (8 - p.ordinal()); // OWNER_READ (ordinal 0) is 0400 ... OTHERS_EXECUTE (8) is 0001
        }
        return String.format("0%03o", mode);
    }

    private static String access(
            Set<PosixFilePermission> permissions, PosixFilePermission read, PosixFilePermission write) {
        boolean r = permissions.contains(read);
        boolean w = permissions.contains(write);
        return r && w ? "read and write" : r ? "read" : w ? "write" : "execute";
    }

    private static String kind(PosixFileAttributes attrs) {
        return attrs.isSymbolicLink() ? "a symbolic link" : attrs.isDirectory() ? "a directory" : "a special file";
    }

    private static PosixFileAttributes attributes(Path path, boolean followLinks) throws IOException {
        LinkOption[] options = followLinks ? FOLLOW : NO_FOLLOW;
        if (Files.getFileAttributeView(path, PosixFileAttributeView.class, options) == null) {
            throw new AccessDeniedException(
                    path.toString(),
                    null,
                    "the file system has no POSIX permissions, so" + " it cannot be kept private");
        }
        return Files.readAttributes(path, PosixFileAttributes.class, options);
    }

    // ------------------------------------------------------------------------------------------------ creating

    /** The permissions to create a private file or directory with, for {@link java.nio.file.Files#createFile}. */
    public static FileAttribute<Set<PosixFilePermission>> permissionsAttribute(
            boolean directory, GroupPrincipal sharedWith) {
        return PosixFilePermissions.asFileAttribute(permissions(directory, sharedWith));
    }

    private static Set<PosixFilePermission> permissions(boolean directory, GroupPrincipal sharedWith) {
        if (sharedWith == null) {
            return directory ? OWNER_DIRECTORY : OWNER_FILE;
        }
        return directory ? GROUP_DIRECTORY : GROUP_FILE;
    }

    /**
     * Gives a file or directory this process just created its private permissions (0600 / 0700, or 0660 / 0770 and
     * group {@code sharedWith}) whatever the umask did, and reads them back.
     *
     * @throws AccessDeniedException if the file system did not keep them (or the group could not be set: this
     *     process's user must be a member of it)
     */
    public static void restrict(Path path, boolean directory, GroupPrincipal sharedWith) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(path, PosixFileAttributeView.class, NO_FOLLOW);
        if (view == null) {
            throw new AccessDeniedException(
                    path.toString(),
                    null,
                    "the file system has no POSIX permissions, so" + " it cannot be kept private");
        }
        Set<PosixFilePermission> wanted = permissions(directory, sharedWith);
        if (sharedWith != null) {
            view.setGroup(sharedWith);
        }
        view.setPermissions(wanted);
        PosixFileAttributes attrs = view.readAttributes();
        if (!attrs.permissions().equals(wanted) || (sharedWith != null && !sharedWith.equals(attrs.group()))) {
            throw new AccessDeniedException(
                    path.toString(),
                    null,
                    "the file system did not keep mode "
                            + octal(wanted) + (sharedWith == null ? "" : " and group " + sharedWith.getName()) + " ("
                            + describe(attrs) + ")");
        }
    }

    /**
     * Creates {@code dir} and any missing parents with private permissions ({@link #restrict}); directories that
     * already exist are left as they are (e.g. {@code /dev/shm}). Another process creating one at the same time is
     * fine.
     */
    public static void createDirectories(Path dir, GroupPrincipal sharedWith) throws IOException {
        Deque<Path> missing = new ArrayDeque<>();
        for (Path p = dir.toAbsolutePath(); p != null && !Files.exists(p, NO_FOLLOW); p = p.getParent()) {
            missing.push(p);
        }
        while (!missing.isEmpty()) {
            Path p = missing.pop();
            try {
                Files.createDirectory(p, permissionsAttribute(true, sharedWith));
            } catch (FileAlreadyExistsException raced) {
                continue; // made by a peer at the same moment: its creator restricts it
            }
            restrict(p, true, sharedWith);
        }
    }
}
