"""Bounded CBOR decoding for untrusted attestation material (RFC 8949 §3, §5.3).

Every CBOR message (a token collection, a COSE_Sign1, a claims map, a COSE_Key) is
decoded on its own: first an iterative well-formedness scan that bounds size, nesting
depth, item count and every declared length against the bytes actually present, then
a fresh cbor2 decoder on the same bytes. The scan runs in constant stack space, so
deep nesting, huge declared lengths and truncation become one ``TokenError`` with the
byte offset instead of a recursion error or a large allocation. The scan also rejects
maps that name a key twice (RFC 8949 §5.6), at any depth, since cbor2 silently keeps the
last value. This is the one decoding policy of ``rmtool.verify``: tokens (``TOKEN``) and
CoRIMs (``CORIM``, via ``corim.model.loads``) differ only in the ``Profile`` they pass
(bounds, indefinite lengths, map key types, error class).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from rmtool.errors import CorimError, RmtoolError, TokenError

MAX_MESSAGE = 1 << 20  # a CCA token is a few KiB; 1 MiB is far beyond any real one
MAX_DEPTH = 16  # deepest real nesting: collection > CMW > claims > sw-components > map
MAX_ITEMS = 1 << 16

# Shared-value tags (28/29) would let a message alias or loop its own structure; the
# stringref tags (25/256, IANA CBOR tags registry) let a key be written as a back-reference
# that a per-key scan cannot resolve, so two equal keys would escape the duplicate check.
_FORBIDDEN_TAGS = frozenset({25, 28, 29, 256})
_BREAK = 0xFF


@dataclass(frozen=True)
class Limits:
    """Bounds of one scan: message size, nesting depth, item count, indefinite lengths."""

    max_message: int = MAX_MESSAGE
    max_depth: int = MAX_DEPTH
    max_items: int = MAX_ITEMS
    allow_indefinite: bool = False  # RFC 8949 §3.2.2-3.2.3; never in a CCA token
    # Map keys must be integers or text strings (COSE labels, RFC 9052 §1.5; CWT/EAT claim
    # keys, RFC 8392 §3). A float 10.0, a bool or a bignum/decimal tag would otherwise be
    # read as the integer key 10 by a Python dict lookup, and as another key by a verifier.
    int_or_text_keys: bool = False


TOKEN_LIMITS = Limits(int_or_text_keys=True)
# CoRIMs (draft-ietf-rats-corim) are larger and nest deeper than tokens; indefinite lengths
# are valid CBOR that CoRIM does not forbid, and CoMID map keys are not only int/text.
MAX_CORIM_SIZE = 16 * 1024 * 1024
MAX_CORIM_NESTING = 64
CORIM_LIMITS = Limits(max_message=MAX_CORIM_SIZE, max_depth=MAX_CORIM_NESTING,
                      max_items=1 << 22, allow_indefinite=True)


@dataclass(frozen=True)
class Profile:
    """What a kind of message is decoded under: its bounds and the error it raises."""

    limits: Limits
    error: type[RmtoolError]


TOKEN = Profile(TOKEN_LIMITS, TokenError)
CORIM = Profile(CORIM_LIMITS, CorimError)


class _Frame:
    """An open container: items expected (None: indefinite), items seen, map keys seen."""

    __slots__ = ("chunks_of", "done", "is_map", "key_start", "keys", "total")

    def __init__(self, total: int | None, is_map: bool, chunks_of: int | None = None) -> None:
        self.total = total
        self.done = 0
        self.is_map = is_map
        self.chunks_of = chunks_of  # major type of an indefinite-length string's chunks
        self.key_start = 0
        self.keys: set[Any] | None = set() if is_map else None


def _freeze(obj: Any) -> Any:
    """A hashable identity of a decoded key, equal exactly when Python dict keys collide."""
    if isinstance(obj, cbor2.CBORTag):
        return ("tag", obj.tag, _freeze(obj.value))
    if isinstance(obj, Mapping):
        return ("map", frozenset((_freeze(k), _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return ("array", tuple(_freeze(v) for v in obj))
    hash(obj)
    return obj


def _key_identity(raw: bytes) -> Any:
    """What a decoder makes of the encoded key ``raw`` (two keys collide when equal)."""
    major, info = raw[0] >> 5, raw[0] & 0x1F
    if major in (0, 1) and info < 28:
        arg = info if info < 24 else int.from_bytes(raw[1:], "big")
        return arg if major == 0 else -1 - arg
    if major in (2, 3) and info < 28:  # definite-length string: its content is the key
        content = raw[1 if info < 24 else 1 + (1 << (info - 24)):]
        if major == 2:
            return content
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return ("raw", raw)
    try:
        return _freeze(cbor2.loads(raw))
    except Exception:  # undecodable here: cbor2 reports it when the whole item is decoded
        return ("raw", raw)


def _key_name(key: Any, raw: bytes) -> str:
    """The key as a user reads it: 10, "text", h'0102', else its encoding in hex."""
    if isinstance(key, str):
        return json.dumps(key)
    if isinstance(key, bytes):
        return f"h'{key.hex()}'"
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    return f"encoded as {raw[:32].hex()}{'...' if len(raw) > 32 else ''}"


def _head(data: bytes, pos: int, what: str, error: type[RmtoolError],
          allow_indefinite: bool) -> tuple[int, int, int, int]:
    """Decode one initial byte + argument: (major, info, argument, next position)."""
    if pos >= len(data):
        raise error(f"{what}: truncated CBOR (item expected)", offset=pos)
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info > 27:
        if info == 31:
            if not allow_indefinite:
                raise error(f"{what}: indefinite-length CBOR item not allowed", offset=pos)
            if major in (0, 1, 6):
                raise error(f"{what}: CBOR major type {major} cannot be indefinite",
                            offset=pos)
            if major == 7:
                raise error(f"{what}: CBOR break outside an indefinite-length item",
                            offset=pos)
            return major, info, 0, pos + 1
        raise error(f"{what}: reserved CBOR additional information {info}", offset=pos)
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        raise error(f"{what}: truncated CBOR (item header)", offset=pos)
    return major, info, int.from_bytes(data[pos + 1:end], "big"), end


def _finish(stack: list[_Frame], data: bytes, pos: int, what: str,
            error: type[RmtoolError], int_or_text_keys: bool = False) -> None:
    """One item ended at ``pos``: count it in its container(s), checking map keys."""
    while stack:
        frame = stack[-1]
        if frame.keys is not None and frame.done % 2 == 0:
            raw = data[frame.key_start:pos]
            if int_or_text_keys and raw[0] >> 5 not in (0, 1, 3):
                raise error(f"{what}: CBOR map key encoded as {raw[:16].hex()} is not an "
                            "integer or text string (RFC 9052 §1.5, RFC 8392 §3)",
                            offset=frame.key_start)
            key = _key_identity(raw)
            if key in frame.keys:
                raise error(f"{what}: duplicate CBOR map key {_key_name(key, raw)} (a map may "
                            "name each key once)", offset=frame.key_start)
            frame.keys.add(key)
        frame.done += 1
        if frame.total is not None and frame.done == frame.total:
            stack.pop()
            continue
        return


def scan(data: bytes, what: str = "token", *, max_depth: int = MAX_DEPTH,
         max_items: int = MAX_ITEMS, limits: Limits | None = None,
         error: type[RmtoolError] = TokenError) -> None:
    """Check that ``data`` is exactly one well-formed, bounded CBOR item.

    Every map is checked for duplicate keys at any depth (RFC 8949 §5.6: a decoder that
    keeps the last value would see another message than one that keeps the first), with
    keys compared as decoded (``10`` and a non-preferred ``0x180a`` are the same key).
    Problems raise ``error`` (``TokenError`` unless the caller decodes something else).
    """
    lim = limits or Limits(max_depth=max_depth, max_items=max_items)
    if len(data) > lim.max_message:
        raise error(f"{what}: {len(data)} bytes exceeds the {lim.max_message}-byte limit")
    if not data:
        raise error(f"{what}: empty input", offset=0)
    stack: list[_Frame] = []
    pos = 0
    items = 0
    while True:
        start = pos
        top = stack[-1] if stack else None
        if top is not None and top.total is None and pos < len(data) and data[pos] == _BREAK:
            if top.is_map and top.done % 2:
                raise error(f"{what}: indefinite-length CBOR map ends after a key",
                            offset=start)
            stack.pop()
            pos += 1
            _finish(stack, data, pos, what, error, lim.int_or_text_keys)
            if not stack:
                break
            continue
        major, info, arg, pos = _head(data, pos, what, error, lim.allow_indefinite)
        items += 1
        if items > lim.max_items:
            raise error(f"{what}: more than {lim.max_items} CBOR items", offset=start)
        if top is not None and top.chunks_of is not None and (major != top.chunks_of
                                                               or info == 31):
            raise error(f"{what}: indefinite-length string chunk of the wrong type",
                        offset=start)
        if top is not None and top.keys is not None and top.done % 2 == 0:
            top.key_start = start
        remaining = len(data) - pos
        frame: _Frame | None = None
        if info == 31:
            frame = _Frame(None, major == 5, major if major in (2, 3) else None)
        elif major in (2, 3):
            if arg > remaining:
                raise error(f"{what}: CBOR string of {arg} bytes but only {remaining} "
                            "remain", offset=start)
            pos += arg
        elif major in (4, 5):
            count = arg if major == 4 else 2 * arg
            if count > remaining:
                raise error(f"{what}: CBOR container declares {count} items but only "
                            f"{remaining} bytes remain", offset=start)
            if count:
                frame = _Frame(count, major == 5)
        elif major == 6:
            if arg in _FORBIDDEN_TAGS:
                raise error(f"{what}: CBOR aliasing tag {arg} (shared value or string reference) "
                            "not allowed", offset=start)
            frame = _Frame(1, False)
        if frame is not None:
            stack.append(frame)
            if len(stack) > lim.max_depth:
                raise error(f"{what}: CBOR nesting deeper than {lim.max_depth}",
                            offset=start)
            continue
        _finish(stack, data, pos, what, error, lim.int_or_text_keys)
        if not stack:
            break
    if pos != len(data):
        raise error(f"{what}: {len(data) - pos} trailing bytes after the CBOR item",
                    offset=pos)


def decode(data: bytes, what: str, profile: Profile = TOKEN, *, outer: bytes | None = None,
           field: str | None = None) -> Any:
    """Scan ``data`` under ``profile``, then decode it with a fresh cbor2 decoder.

    ``outer``: the message ``data`` is nested in (a bstr-wrapped payload, claims map or
    CoMID), so that a scan error's offset is an offset into ``outer``. ``field`` names
    the field in the error raised when cbor2 rejects what the scan let through (a
    malformed tag content, invalid UTF-8)."""
    error = profile.error
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what}: expected a byte string, got {type(data).__name__}")
    raw = bytes(data)
    try:
        scan(raw, what, limits=profile.limits, error=error)
    except RmtoolError as exc:
        base = outer.find(raw) if outer is not None and outer is not data else -1
        if exc.offset is not None and base > 0:
            exc.offset += base
        raise
    try:
        obj = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types (decode, value, overflow)
        raise error(f"{what}: undecodable CBOR: {exc}", field=field) from None
    return thaw(obj, max_depth=profile.limits.max_depth, error=error)


def loads(data: bytes, what: str = "token") -> Any:
    """A token message (``TOKEN`` profile); errors are ``TokenError``."""
    return decode(data, what, TOKEN)


def thaw(obj: Any, depth: int = 0, *, max_depth: int = MAX_DEPTH,
         error: type[RmtoolError] = TokenError) -> Any:
    """Plain dict/list for the immutable containers cbor2 builds inside tags.

    Depth is already bounded by ``scan`` (one level per container or tag, as here); map
    keys stay as decoded (hashable).
    """
    if depth > max_depth:
        raise error(f"CBOR data nested more than {max_depth} levels", field="nesting")
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, thaw(obj.value, depth + 1, max_depth=max_depth,
                                           error=error))
    if isinstance(obj, Mapping):
        return {k: thaw(v, depth + 1, max_depth=max_depth, error=error)
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [thaw(v, depth + 1, max_depth=max_depth, error=error) for v in obj]
    return obj


def unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook: a JSON object naming a key twice is an error (RFC 8259
    §4 leaves it to the parser; Python keeps the last, other tools the first)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate JSON object key {json.dumps(key)[:60]}")
        out[key] = value
    return out


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (canonical integer/length encodings) for signing and building."""
    return cbor2.dumps(obj)
