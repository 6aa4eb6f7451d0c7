"""rust-ccatoken trust-anchor and reference-value stores (JSON) as appraisal endorsements.

Reads the JSON of veraison/rust-ccatoken ``src/store`` (data model
``src/store/data-model.cddl``; test stores ``testdata/ta.json``, ``testdata/rv.json``), which
trustee's local CCA verifier also uses:

* TA store: ``[{"implementation-id": hex32, "instance-id": hex33, "pkey": JWK}, ...]``;
* RV store: ``{"platform": [{"implementation-id", "platform-configuration",
  "sw-components": [{"component-type"?, "measurement-value", "version"?, "signer-id",
  "hash-algo-id"?}]}], "realm": [{"initial-measurement", "extensible-measurements"?,
  "personalization-value"?, "rak-hash-algorithm"}]}``.

Hex may be upper or lower case. The values become the same :class:`Endorsements` a CoRIM
gives, so the appraisal semantics are Veraison's (docs/appraise.md says where rust-ccatoken's
own trust vectors differ).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rmtool._files import LIMITS, read_bounded
from rmtool.errors import InputFileError
from rmtool.verify import _cbor as cbor
from rmtool.verify import cose
from rmtool.verify.appraise.endorsements import (
    IMPL_ID_SIZE,
    INSTANCE_ID_SIZE,
    Endorsements,
    PlatformReference,
    RealmReference,
    SwComponentRef,
    TrustAnchor,
)
from rmtool.verify.corim.realm import RealmReferenceValues


class StoreError(InputFileError):
    """A store file that does not follow rust-ccatoken's data model (exit 2)."""


def _json(path: str | Path) -> Any:
    data = read_bounded(path, LIMITS["json"], "store", StoreError)
    try:
        return json.loads(data, object_pairs_hook=cbor.unique_json_object)
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: not JSON: {exc}", field="store") from None


def _hex(obj: Any, key: str, where: str, size: int | None = None, *,
         optional: bool = False) -> bytes | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        if optional:
            return None
        raise StoreError(f"{where}: {key!r} is missing", field=key)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise StoreError(f"{where}: {key!r} is not a hex string", field=key)
    if size is not None and len(raw) != size:
        raise StoreError(f"{where}: {key!r} is {len(raw)} bytes, expected {size}", field=key)
    return raw


def _text(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise StoreError(f"{where}: {key!r} is not text", field=key)
    return value


def trust_anchors_from_json(obj: Any, name: str) -> list[TrustAnchor]:
    if not isinstance(obj, list):
        raise StoreError(f"{name}: a TA store is a JSON array of CPAK records", field="store")
    out: list[TrustAnchor] = []
    for i, rec in enumerate(obj):
        where = f"{name}[{i}]"
        if not isinstance(rec, dict):
            raise StoreError(f"{where}: not an object", field="store")
        impl = _hex(rec, "implementation-id", where, IMPL_ID_SIZE)
        inst = _hex(rec, "instance-id", where, INSTANCE_ID_SIZE)
        assert impl is not None and inst is not None
        if inst[0] != 0x01:
            raise StoreError(f"{where}: instance-id must be a RAND UEID (0x01 first)",
                             field="instance-id")
        key = cose.public_of(cose.key_from_jwk(rec.get("pkey"), StoreError))
        out.append(TrustAnchor(impl, inst, key, where))
    return out


def _component(c: Any, where: str) -> SwComponentRef:
    if not isinstance(c, dict):
        raise StoreError(f"{where}: not an object", field="sw-components")
    digest = _hex(c, "measurement-value", where)
    assert digest is not None
    return SwComponentRef(label=_text(c, "component-type", where),
                          version=_text(c, "version", where),
                          signer_id=_hex(c, "signer-id", where, optional=True),
                          digests=((_text(c, "hash-algo-id", where), digest),), source=where)


def references_from_json(obj: Any, name: str) -> Endorsements:
    if not isinstance(obj, dict):
        raise StoreError(f"{name}: an RV store is a JSON object with \"platform\" and "
                         "\"realm\" arrays", field="store")
    out = Endorsements()
    for i, rec in enumerate(obj.get("platform") or []):
        where = f"{name} platform[{i}]"
        impl = _hex(rec, "implementation-id", where, IMPL_ID_SIZE)
        assert impl is not None
        comps = rec.get("sw-components")
        if not isinstance(comps, list) or not comps:
            raise StoreError(f"{where}: sw-components must be a non-empty array",
                             field="sw-components")
        out.platform.append(PlatformReference(
            impl, [_component(c, f"{where} sw-components[{j}]") for j, c in enumerate(comps)],
            config=_hex(rec, "platform-configuration", where, optional=True), source=where))
    for i, rec in enumerate(obj.get("realm") or []):
        where = f"{name} realm[{i}]"
        rim = _hex(rec, "initial-measurement", where)
        rems_json = rec.get("extensible-measurements")
        rems: list[bytes | None] = [None] * 4
        if rems_json is not None:
            if not isinstance(rems_json, list) or len(rems_json) != 4:
                raise StoreError(f"{where}: extensible-measurements must hold 4 values",
                                 field="extensible-measurements")
            rems = [_hex({"rem": r}, "rem", f"{where} rem{j}") for j, r in enumerate(rems_json)]
        rv = RealmReferenceValues(rim=rim, rems=rems,
                                  rpv=_hex(rec, "personalization-value", where, 64,
                                           optional=True),
                                  source="json", encoding="rust-ccatoken rv-store")
        out.realms.append(RealmReference(rv, rim, where))
    return out


def load_stores(ta_store: str | None, rv_store: str | None) -> Endorsements:
    """Endorsements from a TA store and / or an RV store file."""
    out = Endorsements()
    if ta_store is not None:
        out.trust_anchors.extend(trust_anchors_from_json(_json(ta_store), Path(ta_store).name))
    if rv_store is not None:
        out.extend(references_from_json(_json(rv_store), Path(rv_store).name))
    return out
