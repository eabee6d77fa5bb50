# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root reads and writes a file under a user's home without following any link the user controls.

A check-then-act pair of tasks (stat, then copy) leaves a window in which the user swaps ``~/.ssh`` for a link to
``/root/.ssh``; here every step holds a file descriptor instead of a path: the home is opened once (its passwd entry
is root's choice, so it may be followed), each directory below it with O_NOFOLLOW relative to its parent's
descriptor, the file read with O_NOFOLLOW|O_NONBLOCK (a FIFO does not hang the read), and a new file written as a
temporary file created with O_EXCL|O_NOFOLLOW in the directory's descriptor, then renamed over the old one within
that same directory. The directory the descriptor holds is the one that was checked, whatever the path now names.

Standard library only; the sentences name the user and the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence


class UnsafePath(Exception):
    """A path root must not follow or use; the message says which and why."""


_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def split_relative(path: str) -> list[str]:
    """``.ssh/authorized_keys`` -> ['.ssh', 'authorized_keys']; absolute paths, '.', '..' and empty parts refused."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in path:
        raise UnsafePath(f"the path must be relative to the home, with no '.', '..' or empty part: {path!r}")
    return parts


def _owner_ok(st: os.stat_result, uid: int) -> bool:
    return st.st_uid in (uid, 0)


@contextlib.contextmanager
def _fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def open_home(home: str, user: str, uid: int) -> int:
    """A descriptor of the user's home directory (followed: passwd says where it is)."""
    try:
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafePath(f"{user}'s home {home} cannot be opened: {exc.strerror}") from None
    st = os.fstat(fd)
    if not _owner_ok(st, uid):
        os.close(fd)
        raise UnsafePath(f"{user}'s home {home} is owned by another user (uid {st.st_uid}), not by {user} or root")
    return fd


def open_directory(parent: int, name: str, where: str, user: str, uid: int, gid: int,
                   mode: int | None) -> tuple[int, bool]:
    """(descriptor, created) of directory ``name`` below ``parent``, never through a link; created owned by the
    user with ``mode`` when missing and ``mode`` is given (None: a missing directory is an error)."""
    created = False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=parent)
    except FileNotFoundError:
        if mode is None:
            raise
        os.mkdir(name, 0o700, dir_fd=parent)
        created = True
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=parent)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if _is_link(parent, name) else "not a directory"
            raise UnsafePath(f"{user}'s {where} is {kind}: root follows no link a user controls") from None
        raise UnsafePath(f"{user}'s {where} cannot be opened: {exc.strerror}") from None
    st = os.fstat(fd)
    if not _owner_ok(st, uid):
        os.close(fd)
        raise UnsafePath(f"{user}'s {where} is owned by another user (uid {st.st_uid})")
    return fd, created


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def read_file(parent: int, name: str, where: str, user: str, uid: int) -> tuple[bytes | None, os.stat_result | None]:
    """(bytes, stat) of a regular file owned by the user or root with one name only, or (None, None) when missing."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=parent)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{user}'s {where} is a symbolic link: root follows no link a user controls") from None
        raise UnsafePath(f"{user}'s {where} cannot be read: {exc.strerror}") from None
    with _fd(fd):
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{user}'s {where} is not a regular file")
        if not _owner_ok(st, uid):
            raise UnsafePath(f"{user}'s {where} is owned by another user (uid {st.st_uid})")
        if st.st_nlink > 1:
            raise UnsafePath(f"{user}'s {where} has {st.st_nlink} names (a hard link to another file)")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), st


def write_file(parent: int, name: str, data: bytes, uid: int, gid: int, mode: int) -> None:
    """Replace ``name`` in the directory ``parent`` atomically: a new file made there, then renamed over it."""
    for attempt in range(100):
        temp = f".{name}.homelab-{os.getpid()}-{attempt}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=parent)
            break
        except FileExistsError:
            continue
    else:
        raise UnsafePath(f"no temporary name for {name} could be made")
    try:
        with _fd(fd):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=parent)
        raise


def walk(home_fd: int, parts: Sequence[str], user: str, uid: int, gid: int, dir_mode: int | None,
         check_mode: bool) -> tuple[int | None, list[str]]:
    """The descriptor of the directory that holds the file (None in check mode when it would be created) and the
    directories created (or that would be)."""
    created: list[str] = []
    fd = os.dup(home_fd)
    where = "~"
    for part in parts[:-1]:
        where = f"{where}/{part}"
        try:
            child, made = open_directory(fd, part, where, user, uid, gid, None if check_mode else dir_mode)
        except FileNotFoundError:
            if dir_mode is None:
                os.close(fd)
                return None, created
            os.close(fd)
            return None, [*created, where]  # check mode: it and everything below would be made
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        fd = child
        if made:
            created.append(where)
    return fd, created
