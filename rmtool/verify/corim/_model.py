"""CoRIM / CoMID envelope decoding shared by show, lint, compare and submit.

Follows draft-ietf-rats-corim (signed-corim = #6.18(COSE_Sign1), tagged-unsigned-corim-map =
#6.501(corim-map), tagged-concise-mid-tag = #6.506(bytes .cbor concise-mid-tag)) and also
reads the older encodings still found in the wild: an untagged corim-map, a CoMID tag whose
content is a map instead of a byte string, a profile given as an array or plain text, and a
bare (untagged) concise-mid-tag.  Everything here is pure: bytes in, plain Python out; every
problem is a :class:`rmtool.errors.CorimError` naming the field (and offset when known).
Every CBOR item is first pre-scanned by :func:`rmtool.verify._cbor.scan` (bounds, and
no map naming a key twice, RFC 8949 §5.6).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import cbor2

from rmtool import _hashalgo as hashalgo
from rmtool.errors import CorimError
from rmtool.verify import _cbor as cbor
from rmtool.verify import cose

# Bounds for hostile input: the CoRIM profile of the one decoding policy (rmtool.verify._cbor).
MAX_CORIM_SIZE = cbor.MAX_CORIM_SIZE
MAX_TAGS = 1024
MAX_NESTING = cbor.MAX_CORIM_NESTING

# CBOR tags (draft-ietf-rats-corim, cbor-tags.txt; RFC 9052; RFC 8949).
TAG_COSE_SIGN1 = 18
TAG_URI = 32
TAG_UUID = 37
TAG_OID = 111
TAG_UNSIGNED_CORIM = 501
TAG_COSWID = 505
TAG_COMID = 506
TAG_COTL = 508
TAG_UEID = 550
TAG_BYTES = 560

TAG_NAMES = {TAG_COSWID: "coswid", TAG_COMID: "comid", 507: "cobom", TAG_COTL: "cotl"}

# entity-map keys and role names (draft-ietf-rats-corim: entity-map, corim-role-type-choice,
# comid-role-type-choice), for showing entities in words.
ENTITY_KEYS = {0: "entity-name", 1: "reg-id", 2: "roles"}
CORIM_ROLE_NAMES = {1: "manifest-creator", 2: "manifest-signer"}
COMID_ROLE_NAMES = {0: "tag-creator", 1: "creator", 2: "maintainer"}

# COSE header labels (RFC 9052, RFC 9360) and the CoRIM ones (draft-ietf-rats-corim).
COSE_ALG = 1
COSE_CONTENT_TYPE = 3
COSE_KID = 4
COSE_X5CHAIN = 33
CORIM_META = 8
CWT_CLAIMS = 15
CORIM_CONTENT_TYPE = "application/rim+cbor"

COSE_ALG_NAMES = {-7: "ES256", -35: "ES384", -36: "ES512", -8: "EdDSA", -37: "PS256",
                  -38: "PS384", -39: "PS512", -257: "RS256"}

# Named Information Hash Algorithm Registry ids used in CoMID digests, for the Realm Hash
# Algorithms (views of rmtool._hashalgo, by digest size). A text alg is matched in lower
# case against the registry name ("sha-256") or rmtool's name ("sha256").
HASH_ALG_IDS = {a.name: a.ni_id for a in hashalgo.REALM if a.ni_id is not None}
HASH_ALG_BY_ID = {v: k for k, v in HASH_ALG_IDS.items()}
HASH_ALG_BY_TEXT = {**{a.ni_name: a.name for a in hashalgo.REALM if a.ni_name is not None},
                    **{a.name: a.name for a in hashalgo.REALM}}
HASH_SIZES = {a.name: a.size for a in hashalgo.REALM}
HASH_BY_SIZE = {v: k for k, v in HASH_SIZES.items()}


@dataclass
class ComidTag:
    """One CoMID found in a CoRIM (or a bare CoMID)."""

    index: int
    comid: Mapping[Any, Any]
    raw: bytes | None          # the encoded concise-mid-tag when it was byte-string wrapped
    encoding: str              # "bstr" (current), "map" (older draft) or "bare"


@dataclass
class DecodedCorim:
    """The layers of a CoRIM file, outermost first."""

    kind: str                          # "signed-corim", "unsigned-corim" or "comid"
    corim: Mapping[Any, Any] | None    # corim-map (None for a bare CoMID)
    corim_tagged: bool                 # corim-map was inside #6.501
    comids: list[ComidTag] = field(default_factory=list)
    other_tags: list[tuple[int, int | None]] = field(default_factory=list)  # (index, tag)
    protected: Mapping[Any, Any] | None = None
    protected_raw: bytes | None = None
    unprotected: Mapping[Any, Any] | None = None
    payload_raw: bytes | None = None
    signature: bytes | None = None


def loads(data: bytes, what: str, outer: bytes | None = None) -> Any:
    """Decode one CBOR item under the CoRIM profile; any problem is a CorimError.

    ``outer``: the file ``data`` is nested in (a bstr-wrapped payload or CoMID), so that a
    scan error's offset is a file offset."""
    return cbor.decode(data, what, cbor.CORIM, outer=outer, field=what)


def is_map(obj: Any) -> TypeGuard[Mapping[Any, Any]]:
    return isinstance(obj, Mapping)


def is_tag(obj: Any, number: int | None = None) -> TypeGuard[cbor2.CBORTag]:
    return isinstance(obj, cbor2.CBORTag) and (number is None or obj.tag == number)


def decode(data: bytes) -> DecodedCorim:
    """Peel the envelope: signed CoRIM, unsigned CoRIM (tagged or not) or bare CoMID."""
    top = loads(data, "file")
    if is_tag(top, TAG_COSE_SIGN1) or (isinstance(top, list) and len(top) == 4
                                         and isinstance(top[0], bytes)):
        return _decode_signed(top.value if is_tag(top) else top, data)
    if is_tag(top, TAG_UNSIGNED_CORIM):
        if not is_map(top.value):
            raise CorimError("tagged-unsigned-corim-map #6.501 does not hold a map",
                             field="corim-map", offset=0)
        return _decode_unsigned(top.value, data, tagged=True)
    if is_tag(top, TAG_COMID):
        inner = _comid_content(top.value, "tag 506", 0, data)
        return DecodedCorim(kind="comid", corim=None, corim_tagged=False, comids=[inner])
    if is_tag(top):
        raise CorimError(f"unexpected CBOR tag {top.tag} at the top level (expected 18, 501 or "
                         "a CoMID map)", field="file", offset=0)
    if is_map(top):
        if _looks_like_comid(top):
            return DecodedCorim(kind="comid", corim=None, corim_tagged=False,
                                comids=[ComidTag(0, top, data, "bare")])
        if 0 in top and isinstance(top.get(1), list):
            return _decode_unsigned(top, data, tagged=False)
    raise CorimError("not a CoRIM or CoMID: expected #6.18, #6.501 or a map with "
                     "tag-identity (1) and triples (4)", field="file", offset=0)


def _looks_like_comid(top: Mapping[Any, Any]) -> bool:
    return is_map(top.get(1)) and is_map(top.get(4))


def _decode_signed(obj: Any, src: bytes) -> DecodedCorim:
    sign1 = cose.parse_sign1(obj, "COSE_Sign1", cbor.CORIM, outer=src)
    protected_raw, protected = sign1.protected_bytes, sign1.protected
    unprotected, payload, signature = sign1.unprotected, sign1.payload, sign1.signature
    inner = loads(payload, "payload", src)
    if is_tag(inner, TAG_UNSIGNED_CORIM) and is_map(inner.value):
        dec = _decode_unsigned(inner.value, src, tagged=True)
    elif is_map(inner) and 0 in inner and 1 in inner:
        dec = _decode_unsigned(inner, src, tagged=False)
    else:
        raise CorimError("signed CoRIM payload is not a corim-map", field="payload")
    dec.kind = "signed-corim"
    dec.protected = protected
    dec.protected_raw = protected_raw
    dec.unprotected = unprotected
    dec.payload_raw = payload
    dec.signature = signature
    return dec


def _decode_unsigned(corim: Mapping[Any, Any], src: bytes, *, tagged: bool) -> DecodedCorim:
    tags = corim.get(1)
    if not isinstance(tags, list):
        raise CorimError("corim-map tags (1) is missing or not an array", field="corim.tags")
    if len(tags) > MAX_TAGS:
        raise CorimError(f"corim-map has {len(tags)} tags, more than {MAX_TAGS}",
                         field="corim.tags")
    dec = DecodedCorim(kind="unsigned-corim", corim=corim, corim_tagged=tagged)
    for i, t in enumerate(tags):
        if is_tag(t, TAG_COMID):
            dec.comids.append(_comid_content(t.value, f"corim.tags[{i}]", i, src))
        elif is_tag(t):
            dec.other_tags.append((i, t.tag))
        elif isinstance(t, bytes):
            # Oldest drafts: bstr-wrapped tags with the CBOR tag inside the bytes.
            inner = loads(t, f"corim.tags[{i}]", src)
            if is_tag(inner, TAG_COMID):
                dec.comids.append(_comid_content(inner.value, f"corim.tags[{i}]", i, src))
            else:
                dec.other_tags.append((i, inner.tag if is_tag(inner) else None))
        else:
            dec.other_tags.append((i, None))
    return dec


def _comid_content(value: Any, where: str, index: int, src: bytes) -> ComidTag:
    if isinstance(value, bytes):
        comid = loads(value, where, src)
        if not is_map(comid):
            raise CorimError("CoMID is not a map", field=where)
        return ComidTag(index, comid, value, "bstr")
    if is_map(value):
        return ComidTag(index, value, None, "map")
    raise CorimError("CoMID tag 506 holds neither a byte string nor a map", field=where)


def profile_text(profile: Any) -> str | None:
    """The corim-map profile as text, whatever its encoding (URI, OID, array, text)."""
    if profile is None:
        return None
    if is_tag(profile, TAG_URI) and isinstance(profile.value, str):
        return str(profile.value)
    if is_tag(profile, TAG_OID) and isinstance(profile.value, bytes):
        return "oid:" + profile.value.hex()
    if isinstance(profile, str):
        return profile
    if isinstance(profile, list) and profile:
        return profile_text(profile[0])
    return repr(profile)


def profile_encoding(profile: Any) -> str:
    if profile is None:
        return "absent"
    if is_tag(profile, TAG_URI):
        return "uri"
    if is_tag(profile, TAG_OID):
        return "oid"
    if isinstance(profile, list):
        return "array (older draft)"
    if isinstance(profile, str):
        return "untagged text (older draft)"
    return "unknown"


def to_jsonable(obj: Any, depth: int = 0) -> Any:
    """CBOR data as JSON: bytes -> lower-case hex, tags -> {"tag", "value"}, times -> ISO."""
    if depth > MAX_NESTING:
        raise CorimError("CBOR data nested too deeply", field="nesting")
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, cbor2.CBORTag):
        return {"tag": obj.tag, "value": to_jsonable(obj.value, depth + 1)}
    if isinstance(obj, uuid.UUID):
        return {"tag": TAG_UUID, "value": str(obj)}
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    if is_map(obj):
        return {str(k) if not isinstance(k, (str, int)) else k: to_jsonable(v, depth + 1)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple, frozenset, set)):
        return [to_jsonable(v, depth + 1) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


def tagged_bytes_value(obj: Any) -> bytes | None:
    """The bytes of a #6.560 tagged-bytes, else None."""
    if is_tag(obj, TAG_BYTES) and isinstance(obj.value, bytes):
        return bytes(obj.value)
    return None


def id_type(obj: Any) -> str:
    """Type name of a class-id / instance-id value, as Veraison names it."""
    if is_tag(obj, TAG_BYTES):
        return "bytes"
    if isinstance(obj, uuid.UUID) or is_tag(obj, TAG_UUID):
        return "uuid"
    if is_tag(obj, TAG_UEID):
        return "ueid"
    if is_tag(obj, TAG_OID):
        return "oid"
    if is_tag(obj):
        return f"tag {obj.tag}"
    if isinstance(obj, bytes):
        return "untagged bytes"
    if isinstance(obj, str):
        return "string"
    if isinstance(obj, int):
        return "uint" if obj >= 0 else "int"
    return type(obj).__name__


def hash_algo_name(alg: Any) -> str | None:
    """rmtool hash name ("sha256", ...) for a digest alg (IANA id or text), else None."""
    if isinstance(alg, int) and not isinstance(alg, bool):
        return HASH_ALG_BY_ID.get(alg)
    if isinstance(alg, str):
        return HASH_ALG_BY_TEXT.get(alg.lower())
    return None
