"""Veraison cocli JSON templates (CoMID, CoRIM, signer meta) to the CBOR data model.

Follows the JSON forms accepted by ``cocli comid create`` / ``cocli corim create`` and the
veraison/corim Go types' JSON tags (``tag-identity``, ``entities``, ``triples.reference-values``
with ``environment`` {``class`` {``id`` {type, value}, vendor, model}, ``instance``} and
``measurements`` [{``key``, ``value`` {digests, raw-value, integrity-registers, name}}];
CoRIM ``corim-id``, ``profile``, ``validity``, ``entities``; meta ``signer`` / ``validity``).
The reference tool realm-measurements writes the same CoMID JSON (``src/realm_comid.rs``),
with ``integrity-registers`` holding ``"sha-256;<base64 of a 64-byte slot>"`` strings.

Output maps use the integer keys of draft-ietf-rats-corim so that one extractor reads CBOR and
JSON alike.  Malformed members raise :class:`rmtool.errors.CorimError` naming the JSON path.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any

import cbor2

from rmtool import _hashalgo as hashalgo
from rmtool.errors import CorimError
from rmtool.verify.corim._model import (
    TAG_BYTES,
    TAG_OID,
    TAG_UEID,
    TAG_URI,
    TAG_UUID,
)

MAX_JSON_ITEMS = 4096

COMID_ROLES = {"tagCreator": 0, "creator": 1, "maintainer": 2}
CORIM_ROLES = {"manifestCreator": 1, "manifestSigner": 2}
# Named Information Hash Algorithm Registry text (matched in lower case) -> id: every row
# of rmtool._hashalgo that has one.
DIGEST_ALG_TEXT = {a.ni_name: a.ni_id for a in hashalgo.NAMED_INFORMATION
                   if a.ni_name is not None and a.ni_id is not None}


def is_comid_template(obj: Any) -> bool:
    return isinstance(obj, Mapping) and ("tag-identity" in obj or "triples" in obj)


def b64decode(text: Any, where: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    if not isinstance(text, str):
        raise CorimError("expected a base64 string", field=where)
    s = text.strip()
    s += "=" * (-len(s) % 4)
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s)
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise CorimError(f"invalid base64 {text[:40]!r}", field=where) from None


def _uuid_bytes(text: Any, where: str) -> bytes:
    try:
        return uuid.UUID(str(text)).bytes
    except ValueError:
        raise CorimError(f"invalid UUID {text!r}", field=where) from None


def _id_or_text(value: Any, where: str) -> bytes | str:
    """A tag-id / corim-id: a UUID string becomes uuid-type bytes, any other text stays."""
    if not isinstance(value, str) or not value:
        raise CorimError("expected a non-empty string", field=where)
    try:
        return uuid.UUID(value).bytes if len(value) == 36 else value
    except ValueError:
        return value


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CorimError("expected a JSON object", field=where)
    return value


def _arr(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CorimError("expected a JSON array", field=where)
    if len(value) > MAX_JSON_ITEMS:
        raise CorimError(f"more than {MAX_JSON_ITEMS} items", field=where)
    return value


def _int(value: Any, where: str) -> int:
    try:
        n = int(str(value), 10)
    except ValueError:
        raise CorimError(f"expected a non-negative integer, got {str(value)[:20]!r}",
                         field=where) from None
    if n < 0 or n >= 1 << 64:
        raise CorimError(f"integer {n} out of range", field=where)
    return n


def _time(value: Any, where: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise CorimError("expected an RFC 3339 time string", field=where)
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CorimError(f"invalid RFC 3339 time {value!r}", field=where) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return t


def validity_from_json(obj: Any, where: str) -> dict[int, Any]:
    v = _obj(obj, where)
    out: dict[int, Any] = {}
    if "not-before" in v:
        out[0] = _time(v["not-before"], f"{where}.not-before")
    if "not-after" not in v:
        raise CorimError("validity needs not-after", field=f"{where}.not-after")
    out[1] = _time(v["not-after"], f"{where}.not-after")
    return out


def entities_from_json(obj: Any, where: str, roles: Mapping[str, int]) -> list[dict[int, Any]]:
    out: list[dict[int, Any]] = []
    for i, e in enumerate(_arr(obj, where)):
        w = f"{where}[{i}]"
        ent = _obj(e, w)
        name = ent.get("name")
        if not isinstance(name, str) or not name:
            raise CorimError("entity needs a name", field=f"{w}.name")
        m: dict[int, Any] = {0: name}
        if "regid" in ent:
            m[1] = cbor2.CBORTag(TAG_URI, str(ent["regid"]))
        rl = []
        for j, r in enumerate(_arr(ent.get("roles", []), f"{w}.roles")):
            if r not in roles:
                raise CorimError(f"unknown role {r!r} (expected one of {', '.join(roles)})",
                                 field=f"{w}.roles[{j}]")
            rl.append(roles[r])
        if not rl:
            raise CorimError("entity needs at least one role", field=f"{w}.roles")
        m[2] = rl
        out.append(m)
    return out


def profile_from_json(obj: Any, where: str) -> Any:
    if isinstance(obj, str):
        return cbor2.CBORTag(TAG_URI, obj)
    p = _obj(obj, where)
    if p.get("type") == "uri":
        return cbor2.CBORTag(TAG_URI, str(p.get("value")))
    if p.get("type") == "oid":
        return cbor2.CBORTag(TAG_OID, _oid_bytes(p.get("value"), f"{where}.value"))
    raise CorimError("profile type must be uri or oid", field=f"{where}.type")


def _oid_bytes(text: Any, where: str) -> bytes:
    """Dotted OID text to its BER content octets (RFC 9090)."""
    try:
        arcs = [int(a) for a in str(text).split(".")]
    except ValueError:
        raise CorimError(f"invalid OID {text!r}", field=where) from None
    if len(arcs) < 2 or arcs[0] > 2 or any(a < 0 for a in arcs):
        raise CorimError(f"invalid OID {text!r}", field=where)
    out = bytearray()
    for n in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def corim_fields_from_json(obj: Any) -> dict[int, Any]:
    """corim-map members (id 0, profile 3, rim-validity 4, entities 5) of a CoRIM template."""
    t = _obj(obj, "corim")
    out: dict[int, Any] = {}
    if "corim-id" in t:
        out[0] = _id_or_text(t["corim-id"], "corim-id")
    if "profile" in t:
        out[3] = profile_from_json(t["profile"], "profile")
    if "validity" in t:
        out[4] = validity_from_json(t["validity"], "validity")
    if "entities" in t:
        out[5] = entities_from_json(t["entities"], "entities", CORIM_ROLES)
    return out


def meta_from_json(obj: Any) -> dict[int, Any]:
    """corim-meta-map from a cocli meta JSON {"signer": {name, uri}, "validity": {...}}."""
    t = _obj(obj, "meta")
    s = _obj(t.get("signer"), "signer")
    name = s.get("name")
    if not isinstance(name, str) or not name:
        raise CorimError("signer needs a name", field="signer.name")
    signer: dict[int, Any] = {0: name}
    if "uri" in s:
        signer[1] = cbor2.CBORTag(TAG_URI, str(s["uri"]))
    out: dict[int, Any] = {0: signer}
    if "validity" in t:
        out[1] = validity_from_json(t["validity"], "validity")
    return out


def _typed_id(obj: Any, where: str) -> Any:
    """class-id / instance-id / group-id {"type", "value"} to its tagged CBOR form."""
    t = _obj(obj, where)
    kind, value = t.get("type"), t.get("value")
    if kind == "bytes":
        return cbor2.CBORTag(TAG_BYTES, b64decode(value, f"{where}.value"))
    if kind == "uuid":
        return cbor2.CBORTag(TAG_UUID, _uuid_bytes(value, f"{where}.value"))
    if kind == "ueid":
        return cbor2.CBORTag(TAG_UEID, b64decode(value, f"{where}.value"))
    if kind == "oid":
        return cbor2.CBORTag(TAG_OID, _oid_bytes(value, f"{where}.value"))
    if kind in ("psa.impl-id", "cca.impl-id"):
        return cbor2.CBORTag(600, b64decode(value, f"{where}.value"))
    raise CorimError(f"unsupported id type {kind!r}", field=f"{where}.type")


def environment_from_json(obj: Any, where: str) -> dict[int, Any]:
    e = _obj(obj, where)
    env: dict[int, Any] = {}
    if "class" in e:
        c = _obj(e["class"], f"{where}.class")
        cls: dict[int, Any] = {}
        if "id" in c:
            cls[0] = _typed_id(c["id"], f"{where}.class.id")
        for key, num in (("vendor", 1), ("model", 2)):
            if key in c:
                cls[num] = str(c[key])
        for key, num in (("layer", 3), ("index", 4)):
            if key in c:
                cls[num] = _int(c[key], f"{where}.class.{key}")
        env[0] = cls
    if "instance" in e:
        env[1] = _typed_id(e["instance"], f"{where}.instance")
    if "group" in e:
        env[2] = _typed_id(e["group"], f"{where}.group")
    return env


def digest_from_json(obj: Any, where: str) -> list[Any]:
    """ "sha-256;<base64>" or [alg, <base64>] to [alg-id, bytes]."""
    if isinstance(obj, str):
        alg, sep, b64 = obj.replace(":", ";", 1).partition(";")
        if not sep or alg.lower() not in DIGEST_ALG_TEXT:
            raise CorimError(f"digest {obj[:40]!r} is not '<alg>;<base64>'", field=where)
        return [DIGEST_ALG_TEXT[alg.lower()], b64decode(b64, where)]
    pair = _arr(obj, where)
    if len(pair) != 2:
        raise CorimError("digest must be [alg, value]", field=where)
    alg_v: Any = pair[0]
    if isinstance(alg_v, str):
        if alg_v.lower() not in DIGEST_ALG_TEXT:
            raise CorimError(f"unknown digest algorithm {alg_v!r}", field=where)
        alg_v = DIGEST_ALG_TEXT[alg_v.lower()]
    if not isinstance(alg_v, int):
        raise CorimError("digest algorithm must be an integer or a name", field=where)
    return [alg_v, b64decode(pair[1], f"{where}[1]")]


def mval_from_json(obj: Any, where: str) -> dict[int, Any]:
    v = _obj(obj, where)
    out: dict[int, Any] = {}
    if "digests" in v:
        out[2] = [digest_from_json(d, f"{where}.digests[{i}]")
                  for i, d in enumerate(_arr(v["digests"], f"{where}.digests"))]
    if "raw-value" in v:
        rv = _obj(v["raw-value"], f"{where}.raw-value")
        if rv.get("type") != "bytes":
            raise CorimError("raw-value type must be bytes", field=f"{where}.raw-value.type")
        out[4] = cbor2.CBORTag(TAG_BYTES, b64decode(rv.get("value"), f"{where}.raw-value"))
    if "name" in v:
        out[11] = str(v["name"])
    if "integrity-registers" in v:
        regs: dict[Any, Any] = {}
        for name, reg in _obj(v["integrity-registers"], f"{where}.integrity-registers").items():
            w = f"{where}.integrity-registers.{name}"
            r = _obj(reg, w)
            key: Any = _int(name, w) if r.get("key-type") == "uint" else name
            regs[key] = [digest_from_json(d, f"{w}.value[{i}]")
                         for i, d in enumerate(_arr(r.get("value"), f"{w}.value"))]
        out[14] = regs
    return out


def measurement_from_json(obj: Any, where: str) -> dict[int, Any]:
    m = _obj(obj, where)
    out: dict[int, Any] = {}
    if "key" in m:
        k = _obj(m["key"], f"{where}.key")
        kind, value = k.get("type"), k.get("value")
        if kind in ("string", "text"):
            out[0] = str(value)
        elif kind == "uint":
            out[0] = _int(value, f"{where}.key.value")
        elif kind == "uuid":
            out[0] = cbor2.CBORTag(TAG_UUID, _uuid_bytes(value, f"{where}.key.value"))
        else:  # profile-specific key types (psa.refval-id, ...): kept as text
            out[0] = f"{kind}:{json.dumps(value, sort_keys=True)}"
    out[1] = mval_from_json(m.get("value", {}), f"{where}.value")
    return out


def comid_from_json(obj: Any) -> dict[int, Any]:
    """A cocli CoMID JSON document as a concise-mid-tag map (reference triples only)."""
    t = _obj(obj, "comid")
    out: dict[int, Any] = {}
    if "lang" in t:
        out[0] = str(t["lang"])
    ti = _obj(t.get("tag-identity", {}), "tag-identity")
    ident: dict[int, Any] = {}
    if "id" in ti:
        ident[0] = _id_or_text(ti["id"], "tag-identity.id")
    if "version" in ti:
        ident[1] = _int(ti["version"], "tag-identity.version")
    out[1] = ident
    if "entities" in t:
        out[2] = entities_from_json(t["entities"], "entities", COMID_ROLES)
    triples: dict[int, Any] = {}
    tr = _obj(t.get("triples", {}), "triples")
    if "reference-values" in tr:
        refs = []
        for i, rv in enumerate(_arr(tr["reference-values"], "triples.reference-values")):
            w = f"triples.reference-values[{i}]"
            r = _obj(rv, w)
            env = environment_from_json(r.get("environment", {}), f"{w}.environment")
            meas = [measurement_from_json(m, f"{w}.measurements[{j}]")
                    for j, m in enumerate(_arr(r.get("measurements", []), f"{w}.measurements"))]
            refs.append([env, meas])
        triples[0] = refs
    out[4] = triples
    return out
