"""CoRIM for Arm CCA Realms: build, read and describe realm reference values.

Follows the CCA realm endorsement profile ``tag:arm.com,2025:cca_realm#1.0.0``
(draft-ydb-rats-cca-endorsements "Realm Reference Values", as implemented by veraison/corim
``profiles/cca/realm.go`` and consumed by veraison/services ``scheme/arm-cca``):

* one CoMID (#6.506, bstr-wrapped) in a tagged unsigned CoRIM (#6.501) whose profile (3) is
  the tagged URI #6.32("tag:arm.com,2025:cca_realm#1.0.0");
* a reference triple whose environment is ``{class: {class-id: #6.560(RIM)}}`` - the RIM
  identifies the Realm, there is no instance;
* measurement-maps keyed (mkey 0) by the text ``cca.rim``, ``cca.rem0``..``cca.rem3`` holding
  exactly one digest ``[alg, value]`` (alg 1 sha-256, 7 sha-384, 8 sha-512), and ``cca.rpv``
  holding the personalization value as raw-value (4) #6.560(bytes).

It also reads the older ``http://arm.com/cca/realm/1`` encoding (RIM as instance-id, registers
in integrity-registers (14), RPV as raw-value) and the CoMID JSON of cocli and of the
reference tool realm-measurements.  Signing is in :mod:`.sign`, lint in :mod:`.lint`.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from rmtool.errors import CorimError, InputFileError
from rmtool.verify import _cbor as cbor
from rmtool.verify.corim import _comid_json as comid_json
from rmtool.verify.corim._lint import LintFinding, lint
from rmtool.verify.corim._model import (
    COMID_ROLE_NAMES,
    CORIM_ROLE_NAMES,
    COSE_ALG_NAMES,
    ENTITY_KEYS,
    HASH_ALG_IDS,
    HASH_BY_SIZE,
    HASH_SIZES,
    MAX_CORIM_SIZE,
    TAG_BYTES,
    TAG_COMID,
    TAG_UNSIGNED_CORIM,
    TAG_URI,
    ComidTag,
    DecodedCorim,
    decode,
    hash_algo_name,
    id_type,
    is_map,
    is_tag,
    profile_encoding,
    profile_text,
    tagged_bytes_value,
    to_jsonable,
)
from rmtool.verify.corim._model import (
    loads as corim_loads,
)
from rmtool.verify.corim._sign import sign_corim

__all__ = [
    "REALM_PROFILE", "LEGACY_REALM_PROFILE", "RealmReferenceValues", "LintFinding",
    "build_realm_corim", "sign_corim", "load_reference_values", "load_all_reference_values",
    "reference_values_from_bytes", "lint", "describe", "media_type_for",
]

REALM_PROFILE = "tag:arm.com,2025:cca_realm#1.0.0"
LEGACY_REALM_PROFILE = "http://arm.com/cca/realm/1"
MKEY_RIM = "cca.rim"
MKEY_REMS = ("cca.rem0", "cca.rem1", "cca.rem2", "cca.rem3")
MKEY_RPV = "cca.rpv"
REALM_MKEYS = (MKEY_RIM, *MKEY_REMS, MKEY_RPV)
RPV_SIZE = 64
UUID_NAMESPACE = uuid.UUID("6c5b2b0e-52a4-4f0c-9d3e-6f1f2d6a1c01")  # rmtool's own namespace


@dataclass
class RealmReferenceValues:
    """Reference values of one Realm as found in a CoRIM / CoMID (None: not given)."""

    rim: bytes | None = None
    rems: list[bytes | None] = field(default_factory=lambda: [None, None, None, None])
    rpv: bytes | None = None
    hash_algo: str | None = None
    class_id: bytes | None = None        # #6.560 class-id (the RIM in the current profile)
    instance: bytes | None = None        # instance-id bytes (the RIM in the legacy profile)
    vendor: str | None = None
    profile: str | None = None
    encoding: str = "unknown"            # "cca_realm#1.0.0", "legacy realm/1" or "unknown"
    source: str = "cbor"                 # "signed-corim", "unsigned-corim", "comid", "json"
    corim_id: str | None = None
    tag_id: str | None = None
    tag_index: int = 0
    triple_index: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("rim", "rpv", "class_id", "instance"):
            d[k] = d[k].hex() if d[k] is not None else None
        d["rems"] = [r.hex() if r is not None else None for r in self.rems]
        return d


# ---------------------------------------------------------------- extraction

def _id_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes=value))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _first_digest(digests: Any, where: str, rv: RealmReferenceValues) -> tuple[bytes, str | None]:
    if not isinstance(digests, list) or not digests:
        raise CorimError("digests is not a non-empty array", field=where)
    d = digests[0]
    if not isinstance(d, list) or len(d) != 2 or not isinstance(d[1], bytes):
        raise CorimError("digest is not [alg, bytes]", field=where)
    algo = hash_algo_name(d[0])
    value = bytes(d[1])
    size = HASH_SIZES.get(algo or "")
    if size and len(value) > size and not any(value[size:]):
        rv.notes.append(f"{where}: {len(value)}-byte slot truncated to the {size} bytes of {algo}")
        value = value[:size]
    return value, algo


def _set_algo(rv: RealmReferenceValues, algo: str | None, value: bytes) -> None:
    algo = algo or HASH_BY_SIZE.get(len(value))
    if algo and rv.hash_algo is None:
        rv.hash_algo = algo
    elif algo and rv.hash_algo != algo:
        rv.notes.append(f"registers use different hash algorithms ({rv.hash_algo}, {algo})")


def _realm_from_triple(triple: Any, rv: RealmReferenceValues, where: str) -> bool:
    """Fill *rv* from one reference-triple-record; False if it holds no realm values."""
    if not isinstance(triple, list) or len(triple) != 2:
        raise CorimError("reference-triple-record is not [environment, measurements]",
                         field=where)
    env, meas = triple
    if not is_map(env) or not isinstance(meas, list):
        raise CorimError("reference triple has a malformed environment or measurements",
                         field=where)
    found = False
    cls = env.get(0)
    if is_map(cls):
        rv.class_id = tagged_bytes_value(cls.get(0))
        vendor = cls.get(1)
        rv.vendor = vendor if isinstance(vendor, str) else None
    inst = env.get(1)
    if inst is not None:
        rv.instance = tagged_bytes_value(inst) or (
            bytes(inst.value) if is_tag(inst) and isinstance(inst.value, bytes) else None)
    for j, m in enumerate(meas):
        w = f"{where}.measurements[{j}]"
        if not is_map(m) or not is_map(m.get(1)):
            continue
        mkey, mval = m.get(0), m[1]
        if mkey in REALM_MKEYS:
            found = True
            rv.encoding = "cca_realm#1.0.0"
            if mkey == MKEY_RPV:
                raw = tagged_bytes_value(mval.get(4))
                if raw is None and isinstance(mval.get(4), bytes):
                    raw = bytes(mval[4])
                rv.rpv = raw
                continue
            if 2 not in mval:
                continue
            value, algo = _first_digest(mval[2], f"{w}.digests", rv)
            _set_algo(rv, algo, value)
            if mkey == MKEY_RIM:
                rv.rim = value
            else:
                rv.rems[MKEY_REMS.index(mkey)] = value
        elif is_map(mval.get(14)):
            found |= _legacy_registers(mval, rv, w)
    if rv.rim is None and rv.class_id is not None and rv.encoding == "cca_realm#1.0.0":
        rv.notes.append("no cca.rim measurement; RIM taken from class-id")
        rv.rim = rv.class_id
    return found


def _legacy_registers(mval: Mapping[Any, Any], rv: RealmReferenceValues, where: str) -> bool:
    """Older profile: integrity-registers {"rim", "rem0".."rem3"} and raw-value = RPV."""
    regs = mval[14]
    names = {"rim": -1, "rem0": 0, "rem1": 1, "rem2": 2, "rem3": 3}
    hit = False
    for key, digests in regs.items():
        idx = names.get(str(key).lower()) if isinstance(key, str) else None
        if idx is None:
            continue
        hit = True
        value, algo = _first_digest(digests, f"{where}.integrity-registers.{key}", rv)
        _set_algo(rv, algo, value)
        if idx < 0:
            rv.rim = value
        else:
            rv.rems[idx] = value
    if hit:
        rv.encoding = "legacy realm/1"
        raw = mval.get(4)
        rv.rpv = tagged_bytes_value(raw) or (bytes(raw) if isinstance(raw, bytes) else None)
    return hit


def _realms_in_comid(tag: ComidTag, base: RealmReferenceValues) -> list[RealmReferenceValues]:
    comid = tag.comid
    ident = comid.get(1)
    tag_id = _id_text(ident.get(0)) if is_map(ident) else None
    triples = comid.get(4)
    refs = triples.get(0) if is_map(triples) else None
    out: list[RealmReferenceValues] = []
    if not isinstance(refs, list):
        return out
    for i, triple in enumerate(refs):
        rv = RealmReferenceValues(profile=base.profile, source=base.source,
                                  corim_id=base.corim_id, tag_id=tag_id,
                                  tag_index=tag.index, triple_index=i)
        if _realm_from_triple(triple, rv, f"tags[{tag.index}].reference-triples[{i}]"):
            out.append(rv)
    return out


def realms_from_decoded(dec: DecodedCorim) -> list[RealmReferenceValues]:
    base = RealmReferenceValues(source=dec.kind)
    if dec.corim is not None:
        base.profile = profile_text(dec.corim.get(3))
        base.corim_id = _id_text(dec.corim.get(0))
    out: list[RealmReferenceValues] = []
    for tag in dec.comids:
        out.extend(_realms_in_comid(tag, base))
    return out


def _load_json(data: bytes, name: str) -> list[RealmReferenceValues]:
    try:
        obj = json.loads(data, object_pairs_hook=cbor.unique_json_object)
    except (ValueError, RecursionError) as exc:
        raise CorimError(f"{name} is neither CBOR nor JSON: {exc}", field="file") from None
    if not comid_json.is_comid_template(obj):
        raise CorimError(f"{name}: JSON without tag-identity/triples is not a CoMID",
                         field="file")
    comid = comid_json.comid_from_json(obj)
    base = RealmReferenceValues(source="json")
    return _realms_in_comid(ComidTag(0, comid, None, "json"), base)


def reference_values_from_bytes(data: bytes, name: str = "input"
                                ) -> list[RealmReferenceValues]:
    """All realm reference values in a CoRIM (signed or not), a CoMID, or CoMID JSON."""
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        return _load_json(data, name)
    return realms_from_decoded(decode(data))


def read_input(path: str | Path) -> bytes:
    """A CoRIM / CoMID / CoMID JSON file: a regular file of at most ``MAX_CORIM_SIZE`` bytes
    (``rmtool._files.read_bounded``); a file of another known kind (a token, an event log...)
    is named, with the command that reads it (``rmtool._filetype.check_kind``)."""
    from rmtool._files import read_bounded
    from rmtool._filetype import check_kind

    data = read_bounded(path, MAX_CORIM_SIZE, "CoRIM", InputFileError)
    check_kind(data, "corim", str(path))
    return data


def load_all_reference_values(path: str | Path) -> list[RealmReferenceValues]:
    return reference_values_from_bytes(read_input(path), str(path))


def load_reference_values(path: str | Path) -> RealmReferenceValues:
    """The first Realm's reference values in *path* (CoRIM, signed CoRIM, CoMID or JSON)."""
    realms = load_all_reference_values(path)
    if not realms:
        raise CorimError(f"{path}: no CCA realm reference values (cca.rim / integrity "
                         "registers) found", field="reference-triples")
    first = realms[0]
    if len(realms) > 1:
        first.notes.append(f"{len(realms)} realm reference triples; using the first")
    return first


# ---------------------------------------------------------------- building

def _normalise(value: bytes, size: int, what: str) -> bytes:
    """Accept a measurement at hash size, or a 64-byte slot zero-padded beyond it."""
    if len(value) == size:
        return bytes(value)
    if len(value) == 64 and not any(value[size:]):
        return bytes(value[:size])
    raise CorimError(f"{what} is {len(value)} bytes; expected {size} for the hash algorithm",
                     field=what)


def _digest_measurement(mkey: str, alg_id: int, value: bytes) -> dict[int, Any]:
    return {0: mkey, 1: {2: [[alg_id, value]]}}


def _template_parts(template: Mapping[str, Any] | None,
                    comid_template: Mapping[str, Any] | None
                    ) -> tuple[dict[int, Any], Mapping[str, Any] | None]:
    corim_fields: dict[int, Any] = {}
    if template is not None:
        if comid_json.is_comid_template(template) and comid_template is None:
            comid_template = template
        elif "corim" in template or "comid" in template:
            if template.get("corim") is not None:
                corim_fields = comid_json.corim_fields_from_json(template["corim"])
            comid_template = comid_template or template.get("comid")
        else:
            corim_fields = comid_json.corim_fields_from_json(template)
    return corim_fields, comid_template


#: The CoRIM entity (role tag-creator) of CoRIMs made without a template.
ENTITY_NAME = "rmtool"


def build_realm_corim(rim: bytes, rems: Sequence[bytes | None], hash_algo: str,
                      rpv: bytes | None, *, template: Mapping[str, Any] | None = None,
                      comid_template: Mapping[str, Any] | None = None,
                      corim_id: str | None = None, tag_id: str | None = None) -> bytes:
    """Unsigned CoRIM (#6.501) with the Realm's reference values in the current profile.

    *template* may be a cocli CoRIM JSON (corim-id, validity, entities kept; the profile is
    always the realm profile), a CoMID JSON (lang, tag-identity, entities and the first
    reference environment's class vendor / model kept) or ``{"corim": ..., "comid": ...}``.
    Identifiers not given are UUIDv5 derived from the values, so the output is reproducible.
    """
    algo = hash_algo.lower().replace("-", "")
    if algo not in HASH_SIZES:
        raise CorimError(f"hash algorithm {hash_algo!r} is not one of "
                         f"{', '.join(HASH_SIZES)}", field="hash_algo")
    size = HASH_SIZES[algo]
    alg_id = HASH_ALG_IDS[algo]
    if len(rems) != 4:
        raise CorimError(f"expected 4 REMs, got {len(rems)}", field="rems")
    rim_v = _normalise(rim, size, "rim")
    rem_v = [None if r is None else _normalise(r, size, f"rem{i}") for i, r in enumerate(rems)]
    if rpv is not None and len(rpv) != RPV_SIZE:
        raise CorimError(f"personalization value is {len(rpv)} bytes; a Realm's RPV is "
                         f"{RPV_SIZE}", field="rpv")

    corim_fields, ctmpl = _template_parts(template, comid_template)
    ctmpl_map = comid_json.comid_from_json(ctmpl) if ctmpl is not None else {}

    seed = "|".join([algo, rim_v.hex(), *[(r or b"").hex() for r in rem_v],
                     (rpv or b"").hex()])
    cls: dict[int, Any] = {0: cbor2.CBORTag(TAG_BYTES, rim_v)}
    refs = ctmpl_map.get(4, {}).get(0) or []
    if refs and is_map(refs[0][0].get(0)):
        for k in (1, 2):
            if k in refs[0][0][0]:
                cls[k] = refs[0][0][0][k]
    measurements = [_digest_measurement(MKEY_RIM, alg_id, rim_v)]
    for i, r in enumerate(rem_v):
        if r is not None:
            measurements.append(_digest_measurement(MKEY_REMS[i], alg_id, r))
    if rpv is not None:
        measurements.append({0: MKEY_RPV, 1: {4: cbor2.CBORTag(TAG_BYTES, bytes(rpv))}})

    comid: dict[int, Any] = {}
    if 0 in ctmpl_map:
        comid[0] = ctmpl_map[0]
    ident = dict(ctmpl_map.get(1, {}))
    if tag_id is not None:
        ident[0] = comid_json._id_or_text(tag_id, "tag-id")
    ident.setdefault(0, uuid.uuid5(UUID_NAMESPACE, "comid|" + seed).bytes)
    if ident.get(1) == 0:
        del ident[1]  # tag-version defaults to 0; omitted as cocli does
    comid[1] = dict(sorted(ident.items()))
    if 2 in ctmpl_map:
        comid[2] = ctmpl_map[2]
    comid[4] = {0: [[{0: cls}, measurements]]}

    corim: dict[int, Any] = {}
    if corim_id is not None:
        corim[0] = comid_json._id_or_text(corim_id, "corim-id")
    else:
        corim[0] = corim_fields.get(0, uuid.uuid5(UUID_NAMESPACE, "corim|" + seed).bytes)
    corim[1] = [cbor2.CBORTag(TAG_COMID, _dumps(comid))]
    corim[3] = cbor2.CBORTag(TAG_URI, REALM_PROFILE)
    if 4 in corim_fields:
        corim[4] = corim_fields[4]
    if 5 in corim_fields:
        corim[5] = corim_fields[5]
    else:
        corim[5] = [{0: ENTITY_NAME, 2: [1]}]
    return _dumps(cbor2.CBORTag(TAG_UNSIGNED_CORIM, corim))


def _dumps(obj: Any) -> bytes:
    return cbor2.dumps(obj, datetime_as_timestamp=True, timezone=datetime.UTC)


def media_type_for(data: bytes) -> str:
    """The Veraison provisioning media type for a CoRIM (profile parameter from the CoRIM)."""
    dec = decode(data)
    if dec.kind == "comid":
        raise CorimError("a bare CoMID cannot be submitted; wrap it in a CoRIM first",
                         field="file")
    profile = profile_text(dec.corim.get(3)) if dec.corim is not None else None
    base = "application/rim+cose" if dec.kind == "signed-corim" else "application/rim+cbor"
    return f'{base}; profile="{profile or REALM_PROFILE}"'


# ---------------------------------------------------------------- describing

CORIM_KEYS = {0: "id", 1: "tags", 2: "dependent-rims", 3: "profile", 4: "rim-validity",
              5: "entities"}
COMID_KEYS = {0: "language", 1: "tag-identity", 2: "entities", 3: "linked-tags", 4: "triples"}
TRIPLE_KEYS = {0: "reference-triples", 1: "endorsed-triples", 2: "identity-triples",
               3: "attest-key-triples", 4: "dependency-triples", 5: "membership-triples",
               6: "coswid-triples", 8: "conditional-endorsement-series-triples",
               10: "conditional-endorsement-triples"}
MVAL_KEYS = {0: "version", 1: "svn", 2: "digests", 3: "flags", 4: "raw-value",
             5: "raw-value-mask", 6: "mac-addr", 7: "ip-addr", 8: "serial-number", 9: "ueid",
             10: "uuid", 11: "name", 13: "cryptokeys", 14: "integrity-registers",
             15: "int-range"}
HEADER_KEYS = {1: "alg", 3: "content-type", 4: "kid", 8: "corim-meta", 15: "cwt-claims",
               33: "x5chain"}


def _named(m: Any, names: Mapping[int, str]) -> Any:
    if not is_map(m):
        return to_jsonable(m)
    return {names.get(k, str(k)) if isinstance(k, int) else str(k): to_jsonable(v)
            for k, v in m.items()}


def entity_json(entity: Any, roles: Mapping[int, str]) -> Any:
    """An entity-map in words: ``{"entity-name", "reg-id" (the URI text), "roles": [role
    names; "role N" for one the draft does not define]}`` plus any extension key."""
    if not is_map(entity):
        return to_jsonable(entity)
    out: dict[str, Any] = {}
    for k, v in entity.items():
        name = ENTITY_KEYS.get(k, str(k)) if isinstance(k, int) else str(k)
        if k == 1 and is_tag(v, TAG_URI):
            out[name] = to_jsonable(v.value)
        elif k == 2 and isinstance(v, list):
            out[name] = [roles.get(r, f"role {r}")
                         if isinstance(r, int) and not isinstance(r, bool) else to_jsonable(r)
                         for r in v]
        else:
            out[name] = to_jsonable(v)
    return out


def _entities_json(value: Any, roles: Mapping[int, str]) -> Any:
    if not isinstance(value, list):
        return to_jsonable(value)
    return [entity_json(e, roles) for e in value]


def _describe_measurement(m: Any) -> Any:
    if not is_map(m):
        return to_jsonable(m)
    out: dict[str, Any] = {}
    for k, v in m.items():
        if k == 0:
            out["mkey"] = to_jsonable(v)
        elif k == 1:
            out["mval"] = _named(v, MVAL_KEYS)
        elif k == 2:
            out["authorized-by"] = to_jsonable(v)
        else:
            out[str(k)] = to_jsonable(v)
    return out


def _describe_env(env: Any) -> Any:
    if not is_map(env):
        return to_jsonable(env)
    out: dict[str, Any] = {}
    for k, v in env.items():
        if k == 0 and is_map(v):
            out["class"] = _named(v, {0: "class-id", 1: "vendor", 2: "model", 3: "layer",
                                      4: "index"})
            if 0 in v:
                out["class"]["class-id-type"] = id_type(v[0])
        elif k == 1:
            out["instance"] = to_jsonable(v)
            out["instance-type"] = id_type(v)
        elif k == 2:
            out["group"] = to_jsonable(v)
        else:
            out[str(k)] = to_jsonable(v)
    return out


def _describe_comid(tag: ComidTag) -> dict[str, Any]:
    c = tag.comid
    out: dict[str, Any] = {"index": tag.index, "encoding": tag.encoding}
    for k, v in c.items():
        name = COMID_KEYS.get(k, str(k)) if isinstance(k, int) else str(k)
        if k == 1 and is_map(v):
            out[name] = {"tag-id": _id_text(v.get(0)), "tag-version": to_jsonable(v.get(1))}
        elif k == 2:
            out[name] = _entities_json(v, COMID_ROLE_NAMES)
        elif k == 4 and is_map(v):
            triples: dict[str, Any] = {}
            for tk, tv in v.items():
                tname = TRIPLE_KEYS.get(tk, str(tk)) if isinstance(tk, int) else str(tk)
                if tk == 0 and isinstance(tv, list):
                    triples[tname] = [
                        {"environment": _describe_env(t[0]),
                         "measurements": [_describe_measurement(m) for m in t[1]]}
                        if isinstance(t, list) and len(t) == 2 and isinstance(t[1], list)
                        else to_jsonable(t) for t in tv]
                else:
                    triples[tname] = to_jsonable(tv)
            out[name] = triples
        else:
            out[name] = to_jsonable(v)
    return out


def describe(data: bytes) -> dict[str, Any]:
    """Everything in a CoRIM / CoMID, decoded, plus the realm reference values (``realms``)."""
    if data.lstrip()[:1] in (b"{", b"["):
        realms = _load_json(data, "input")
        return {"kind": "comid-json", "realms": [r.to_json() for r in realms]}
    dec = decode(data)
    out: dict[str, Any] = {"kind": dec.kind}
    if dec.protected is not None:
        prot = _named(dec.protected, HEADER_KEYS)
        meta = dec.protected.get(8)
        if isinstance(meta, bytes):
            try:
                prot["corim-meta"] = to_jsonable(corim_loads(meta, "corim-meta"))
            except CorimError:
                prot["corim-meta"] = meta.hex()
        alg = dec.protected.get(1)
        if isinstance(alg, int):
            prot["alg-name"] = COSE_ALG_NAMES.get(alg, "unknown")
        out["protected"] = prot
        out["unprotected"] = _named(dec.unprotected, HEADER_KEYS)
        out["signature"] = dec.signature.hex() if dec.signature is not None else None
    if dec.corim is not None:
        corim = {CORIM_KEYS.get(k, str(k)) if isinstance(k, int) else str(k): to_jsonable(v)
                 for k, v in dec.corim.items() if k != 1}
        if 5 in dec.corim:
            corim["entities"] = _entities_json(dec.corim[5], CORIM_ROLE_NAMES)
        corim["id"] = _id_text(dec.corim.get(0))
        corim["profile"] = profile_text(dec.corim.get(3))
        corim["profile-encoding"] = profile_encoding(dec.corim.get(3))
        corim["tagged"] = dec.corim_tagged
        out["corim"] = corim
    out["comids"] = [_describe_comid(t) for t in dec.comids]
    out["other-tags"] = [{"index": i, "tag": t} for i, t in dec.other_tags]
    out["realms"] = [r.to_json() for r in realms_from_decoded(dec)]
    return out
