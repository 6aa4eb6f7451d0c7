"""Files named by the user: bounded reads of untrusted inputs, atomic symlink-safe writes.

Every input rmtool parses (event logs, tokens, CoRIMs, keys, DTBs, configs, images) is read
through ``open_regular`` / ``read_bounded``: only regular files (or ``-`` for standard
input where a command allows it), never a device, FIFO, socket or directory, and never more
than the cap of its kind. A FIFO is opened non-blocking so that naming one cannot hang
rmtool, and ``/dev/zero`` is refused before a byte is read.

Every output goes through ``write_atomic`` / ``atomic_output``: a temporary file created
exclusively (``O_EXCL``, mode 0600) in the target's directory is written, flushed and
fsynced, then renamed over the target. The rename replaces a symlink planted at the target
instead of writing through it, and a failure (disk full, ``ulimit -f``) leaves the previous
target untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
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


@overload
def atomic_output(path: str | os.PathLike[str], *, text: Literal[False] = ...,
                  mode: int = ...) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_output(path: str | os.PathLike[str], *, text: Literal[True],
                  mode: int = ...) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_output(path: str | os.PathLike[str], *, text: bool = False,
                  mode: int = 0o644) -> contextlib.AbstractContextManager[IO[Any]]:
    """A file to write ``path`` through: it appears at ``path`` (permissions ``mode``,
    less the umask) only if the ``with`` block completes; see the module docstring."""
    return _atomic_output(os.fspath(path), text, mode)


@contextlib.contextmanager
def _atomic_output(path: str, text: bool, mode: int) -> Iterator[IO[Any]]:
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        raise InputFileError(f"cannot write {path}: it is a directory")
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            wrapper = io.TextIOWrapper(raw, encoding="utf-8", newline="") if text else None
            yield wrapper if wrapper is not None else raw
            if wrapper is not None:
                wrapper.flush()
                wrapper.detach()
            raw.flush()
            os.fsync(raw.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(raw.fileno(), mode & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *,
                 mode: int = 0o644) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically (``atomic_output``)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path, mode=mode) as f:
        f.write(payload)
