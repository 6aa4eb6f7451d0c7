"""Where two hex values part ways: the first differing byte, for terminal tables and HTML.

Shared by ``compare``'s table, the HTML report (:mod:`rmtool.report`) and the other tables
that show an expected and an actual measurement side by side (issue 17: "differing hex
values show the first differing byte, with full values in JSON"). Values are compared as
bytes: byte *i* of a value is hex digits ``2i`` and ``2i+1`` of its lower-case hex text
(the output format of every rmtool command: lower-case hex without ``0x``).
A value that is a strict prefix of the other differs at the first byte past its end.

Nothing here decides a verdict; it only points at the byte where a human should look.
"""

from __future__ import annotations

from dataclasses import dataclass

ELLIPSIS = "\u2026"


def first_difference(a: bytes, b: bytes) -> int | None:
    """Index of the first byte where A and B differ; ``None`` when they are equal.

    When one is a strict prefix of the other, the index is the shorter one's length
    (the first byte that one lacks)."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else n


@dataclass(frozen=True)
class HexSplit:
    """A value's hex cut around one byte: ``before + "[" + byte + "]" + after``.

    ``byte`` is empty when the differing index lies past the value's end."""

    before: str
    byte: str
    after: str


def split_at(value: bytes, index: int) -> HexSplit:
    """VALUE's lower-case hex cut at byte INDEX (clamped to the value's length)."""
    text = value.hex()
    i = max(0, min(index, len(value))) * 2
    return HexSplit(text[:i], text[i:i + 2], text[i + 2:])


def mark_first_difference(value: bytes, other: bytes | None, *, context: int = 4,
                          tail: int = 4) -> str:
    """VALUE's hex for a terminal table, its first byte differing from OTHER in brackets.

    ``context`` bytes of hex before the differing byte and ``tail`` bytes after it are
    kept, the rest elided with "…": e.g. ``8b9d07a2…[df]5b61…`` (the first 4 bytes are
    always shown so values stay recognisable). Equal values or ``other=None`` give the
    value shortened as ``first 8 bytes…last 4 bytes`` (no brackets); a full value is
    never needed here: JSON keeps it."""
    if other is None:
        return shorten(value)
    idx = first_difference(value, other)
    if idx is None:
        return shorten(value)
    s = split_at(value, idx)
    head_keep = 4 * 2
    before = s.before
    if len(before) > (context + 4) * 2:
        before = before[:head_keep] + ELLIPSIS + before[-context * 2:]
    after = s.after
    if len(after) > tail * 2:
        after = after[:tail * 2] + ELLIPSIS
    byte = s.byte if s.byte else "--"
    return f"{before}[{byte}]{after}"


def marker_line(value: bytes, other: bytes | None) -> str:
    """A line of spaces with ``^^`` under VALUE's first byte differing from OTHER, for a
    full-width hex column; empty when the values are equal or OTHER is ``None``."""
    if other is None:
        return ""
    idx = first_difference(value, other)
    if idx is None:
        return ""
    return " " * (2 * idx) + "^^"


def shorten(value: bytes, head: int = 8, tail: int = 4) -> str:
    """VALUE's hex as ``head bytes…tail bytes`` when longer than ``head + tail`` bytes."""
    if len(value) <= head + tail:
        return value.hex()
    return value[:head].hex() + ELLIPSIS + value[-tail:].hex()
