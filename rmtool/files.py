"""Reading user-named files with a size bound (inputs are untrusted)."""

from __future__ import annotations

from rmtool.errors import InputFileError, RmtoolError


def read_bounded(path: str, limit: int, what: str,
                 error: type[RmtoolError] = InputFileError) -> bytes:
    """The bytes of ``path``; ``error`` if it cannot be read or exceeds ``limit`` bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise error(f"{what} {path} is larger than {limit} bytes")
    return data
