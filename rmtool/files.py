"""Reading user-named files with a size bound (inputs are untrusted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def load_json_bounded(path: str | Path, limit: int, error: type[RmtoolError]) -> Any:
    """The parsed JSON document at ``path``; ``error`` if it is too large or not JSON
    (``InputFileError`` if it cannot be read)."""
    p = Path(path)
    try:
        if p.stat().st_size > limit:
            raise error(f"{p}: larger than {limit} bytes")
        return json.loads(p.read_bytes())
    except OSError as exc:
        raise InputFileError(f"cannot read {p}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{p}: not JSON: {exc}") from None
