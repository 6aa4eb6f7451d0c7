"""Bounded CBOR decoding for untrusted attestation material (RFC 8949 §3, §5.3).

Every CBOR message (a token collection, a COSE_Sign1, a claims map, a COSE_Key) is
decoded on its own: first an iterative well-formedness scan that bounds size, nesting
depth, item count and every declared length against the bytes actually present, then
a fresh cbor2 decoder on the same bytes. The scan runs in constant stack space, so
deep nesting, huge declared lengths and truncation become one ``TokenError`` with the
byte offset instead of a recursion error or a large allocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2

from rmtool.errors import TokenError

MAX_MESSAGE = 1 << 20  # a CCA token is a few KiB; 1 MiB is far beyond any real one
MAX_DEPTH = 16  # deepest real nesting: collection > CMW > claims > sw-components > map
MAX_ITEMS = 1 << 16

# Shared-value tags (28/29) would let a message alias or loop its own structure.
_FORBIDDEN_TAGS = frozenset({28, 29})


def _head(data: bytes, pos: int, what: str) -> tuple[int, int, int, int]:
    """Decode one initial byte + argument: (major, info, argument, next position)."""
    if pos >= len(data):
        raise TokenError(f"{what}: truncated CBOR (item expected)", offset=pos)
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info > 27:
        if info == 31:
            raise TokenError(f"{what}: indefinite-length CBOR item not allowed", offset=pos)
        raise TokenError(f"{what}: reserved CBOR additional information {info}", offset=pos)
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        raise TokenError(f"{what}: truncated CBOR (item header)", offset=pos)
    return major, info, int.from_bytes(data[pos + 1:end], "big"), end


def scan(data: bytes, what: str = "token", *, max_depth: int = MAX_DEPTH,
         max_items: int = MAX_ITEMS) -> None:
    """Check that ``data`` is exactly one well-formed, bounded CBOR item."""
    if len(data) > MAX_MESSAGE:
        raise TokenError(f"{what}: {len(data)} bytes exceeds the {MAX_MESSAGE}-byte limit")
    if not data:
        raise TokenError(f"{what}: empty input", offset=0)
    stack: list[int] = []  # items still expected by each open container
    pos = 0
    items = 0
    while True:
        start = pos
        major, info, arg, pos = _head(data, pos, what)
        items += 1
        if items > max_items:
            raise TokenError(f"{what}: more than {max_items} CBOR items", offset=start)
        remaining = len(data) - pos
        count = 0
        if major in (2, 3):
            if arg > remaining:
                raise TokenError(f"{what}: CBOR string of {arg} bytes but only {remaining} "
                                 "remain", offset=start)
            pos += arg
        elif major == 4:
            count = arg
        elif major == 5:
            count = 2 * arg
        elif major == 6:
            if arg in _FORBIDDEN_TAGS:
                raise TokenError(f"{what}: CBOR shared-value tag {arg} not allowed",
                                 offset=start)
            count = 1
        if major in (4, 5) and count > remaining:
            raise TokenError(f"{what}: CBOR container declares {count} items but only "
                             f"{remaining} bytes remain", offset=start)
        if count:
            stack.append(count)
            if len(stack) > max_depth:
                raise TokenError(f"{what}: CBOR nesting deeper than {max_depth}", offset=start)
            continue
        while stack:
            stack[-1] -= 1
            if stack[-1]:
                break
            stack.pop()
        if not stack:
            break
    if pos != len(data):
        raise TokenError(f"{what}: {len(data) - pos} trailing bytes after the CBOR item",
                         offset=pos)


def loads(data: bytes, what: str = "token") -> Any:
    """Scan, then decode ``data`` with a fresh cbor2 decoder; errors become TokenError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TokenError(f"{what}: expected a byte string, got {type(data).__name__}")
    raw = bytes(data)
    scan(raw, what)
    try:
        obj = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types (decode, value, overflow)
        raise TokenError(f"{what}: undecodable CBOR: {exc}") from None
    return thaw(obj)


def thaw(obj: Any, depth: int = 0) -> Any:
    """Plain dict/list for the immutable containers cbor2 builds inside tags.

    Depth is already bounded by ``scan``; map keys stay as decoded (hashable).
    """
    if depth > 2 * MAX_DEPTH:
        raise TokenError("CBOR nesting too deep")
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, thaw(obj.value, depth + 1))
    if isinstance(obj, Mapping):
        return {k: thaw(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [thaw(v, depth + 1) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (canonical integer/length encodings) for signing and building."""
    return cbor2.dumps(obj)
