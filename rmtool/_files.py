"""Files named by the user: bounded reads of untrusted inputs, atomic symlink-safe writes.

Every input rmtool parses (event logs, tokens, CoRIMs, keys, DTBs, configs, images) is read
through ``open_regular`` / ``read_bounded``: only regular files (or ``-`` for standard
input where a command allows it), never a device, FIFO, socket or directory, and never more
than the cap of its kind. A FIFO is opened non-blocking so that naming one cannot hang
rmtool, and ``/dev/zero`` is refused before a byte is read.

Every output goes through ``write_atomic`` / ``atomic_output``: a temporary file created
exclusively (``O_CREAT | O_EXCL``, random name, the output's mode less the umask) in the
target's directory is written, flushed and fsynced, then renamed over the target (rename(2),
POSIX: atomic within a file system), and the directory is fsynced. The rename replaces a
symlink planted at the target (dangling or not) instead of writing through it, and a hard
link at the target keeps the old content; a failure (disk full, ``ulimit -f``: Python
ignores SIGXFSZ, so the write fails with EFBIG) leaves the previous target untouched and no
temporary file behind. A target that is a directory, device, FIFO or socket (or a symlink to
one: ``/dev/null``, ``/dev/stdout``) is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from rmtool.errors import InputFileError, RmtoolError

KiB, MiB = 1 << 10, 1 << 20

#: Size caps per kind of input (bytes). A real input of each kind is far smaller.
LIMITS: dict[str, int] = {
    "event log": 64 * MiB,
    "token": 1 * MiB,
    "corim": 16 * MiB,
    "key": 64 * KiB,
    "json": 16 * MiB,
    "dtb": 16 * MiB,
    "config": 1 * MiB,
    "checksum file": 16 * MiB,
}


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str,
                 error: type[RmtoolError] = InputFileError) -> int:
    """A read-only descriptor of ``path`` (symlinks followed), which must be a regular file;
    ``error`` naming ``what`` otherwise. The caller closes it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"cannot read {what} {os.fspath(path)}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {os.fspath(path)} is {_kind_of(st.st_mode)}; "
                        f"rmtool reads only regular files")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: str | os.PathLike[str], limit: int, what: str,
                 error: type[RmtoolError] = InputFileError, *,
                 allow_stdin: bool = False) -> bytes:
    """The bytes of the regular file ``path`` (or of standard input for ``-`` when
    ``allow_stdin``); ``error`` if it cannot be read, is not a regular file, or holds more
    than ``limit`` bytes. At most ``limit + 1`` bytes are ever read."""
    if allow_stdin and os.fspath(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise error(f"{what} on standard input is larger than {limit} bytes")
        return data
    fd = open_regular(path, what, error)
    try:
        with os.fdopen(fd, "rb", closefd=True) as f:
            if os.fstat(f.fileno()).st_size > limit:
                raise error(f"{what} {os.fspath(path)} is larger than {limit} bytes")
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {os.fspath(path)}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {os.fspath(path)} is larger than {limit} bytes")
    return data


def load_json_bounded(path: str | Path, limit: int, error: type[RmtoolError]) -> Any:
    """The parsed JSON document at ``path``; ``error`` if it is too large or not JSON
    (``InputFileError`` if it cannot be read or is not a regular file)."""
    data = read_bounded(path, limit, "JSON file")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not JSON: {exc}") from None
    except RecursionError:
        raise error(f"{path}: JSON nested too deeply") from None


def _target_error(path: str) -> OSError | None:
    """Why ``path`` cannot be an output, before anything is written: it is (or a symlink
    there points at) a directory, a device, a FIFO or a socket. A symlink to a regular
    file, or a dangling one, is fine: the rename replaces the link itself."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # absent, dangling symlink, or a problem the write itself will report
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    # /dev/null, /dev/stdout, a FIFO: renaming over it would replace the device node (as
    # root) or fail on the directory's permissions; say what is wrong instead.
    return OSError(None, f"it is {_kind_of(st.st_mode)}; rmtool writes outputs only as "
                         f"regular files", path)


def _create_temp(path: str, mode: int) -> tuple[int, str]:
    """An exclusively created (``O_EXCL``: never an existing file or symlink) file beside
    ``path``, with permissions ``mode`` less the umask, as ``open`` would create it."""
    directory, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        # the name is short whatever the target's length (NAME_MAX is 255 bytes)
        tmp = os.path.join(directory, f".{name[:32]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, mode & 0o777), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", path)


def _default_error(path: str, exc: OSError) -> RmtoolError:
    return InputFileError(f"cannot write {path}: {exc.strerror or exc}")


#: Turns the ``OSError`` of a failed write of ``path`` into the error rmtool reports.
WriteError = Callable[[str, OSError], RmtoolError]


@overload
def atomic_output(path: str | os.PathLike[str], *, text: Literal[False] = ...,
                  mode: int = ..., error: WriteError = ...
                  ) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_output(path: str | os.PathLike[str], *, text: Literal[True],
                  mode: int = ..., error: WriteError = ...
                  ) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_output(path: str | os.PathLike[str], *, text: bool = False, mode: int = 0o644,
                  error: WriteError = _default_error
                  ) -> contextlib.AbstractContextManager[IO[Any]]:
    """A file to write ``path`` through (text: UTF-8, newlines as written). ``path``
    appears, with permissions ``mode`` less the umask (not those of the file it
    replaces), only if the ``with`` block completes; otherwise it is left as it was and
    no temporary file remains. A failed write raises ``error(path, oserror)``
    (``InputFileError`` "cannot write PATH: REASON" by default); other exceptions of
    the block pass through. See the module docstring."""
    return _atomic_output(os.fspath(path), text, mode, error)


@contextlib.contextmanager
def _atomic_output(path: str, text: bool, mode: int, error: WriteError) -> Iterator[IO[Any]]:
    problem = _target_error(path)
    if problem is not None:
        raise error(path, problem)
    try:
        fd, tmp = _create_temp(path, mode)
    except OSError as exc:
        raise error(path, exc) from None
    try:
        f: IO[Any] = (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
                      else os.fdopen(fd, "wb"))
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError, ValueError):
            f.close()  # closes the descriptor even when its final flush fails
        _unlink_quietly(tmp)
        # an OSError of this file (write, flush, fsync, rename: EFBIG under ulimit -f,
        # ENOSPC, EIO) is reported for ``path``; one of another file the block touched
        # passes through as it is
        if isinstance(exc, OSError) and exc.filename in (None, tmp, path):
            raise error(path, exc) from None
        raise
    with contextlib.suppress(OSError):  # the rename itself is durable once this returns
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644,
                 error: WriteError = _default_error) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically (``atomic_output``):
    the whole of ``data`` at ``path``, or ``path`` unchanged and ``error`` raised."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path, mode=mode, error=error) as f:
        f.write(payload)
