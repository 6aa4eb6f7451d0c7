"""CoMID JSON endorsements as the reference tool writes them (``src/realm_comid.rs``).

The legacy path: a cocli ``comid create`` template in the ``http://arm.com/cca/realm/1``
style. Only ``tag-identity`` and ``triples.reference-values`` survive from the
template; ``reference-values[0].measurements`` becomes one entry with the RPV raw
value and the integrity registers ``rim, rem0..rem3`` as ``"<alg>;<base64>"``.
Unlike the reference tool, the base64 covers the hash-size value the token carries
(the reference pads to 64 bytes, which a CoRIM consumer would not match).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from rmtool.errors import InputFileError
from rmtool.measure.rmm.realm import Measurements

DEFAULT_TEMPLATE: dict[str, Any] = {
    "tag-identity": {"id": "", "version": 0},
    "triples": {"reference-values": [{
        "environment": {
            "class": {"id": {"type": "", "value": ""}, "vendor": ""},
            "instance": {"type": "", "value": ""},
        },
        "measurements": [],
    }]},
}


def _pick_template(doc: Any, source: str) -> dict[str, Any]:
    try:
        ident = doc["tag-identity"]
        rvs = doc["triples"]["reference-values"]
        out_rvs = []
        for rv in rvs:
            env = rv["environment"]
            cls = env["class"]
            out_rvs.append({
                "environment": {
                    "class": {"id": {"type": cls["id"]["type"], "value": cls["id"]["value"]},
                              "vendor": cls["vendor"]},
                    "instance": {"type": env["instance"]["type"],
                                 "value": env["instance"]["value"]},
                },
                "measurements": rv.get("measurements", []),
            })
        if not out_rvs:
            raise KeyError("reference-values")
        return {"tag-identity": {"id": ident["id"], "version": ident["version"]},
                "triples": {"reference-values": out_rvs}}
    except (KeyError, TypeError, IndexError) as exc:
        raise InputFileError(f"invalid endorsements template {source}: missing {exc}") from exc


def comid_json(m: Measurements, template: str | None = None) -> str:
    """Pretty-printed (2-space) CoMID JSON, no trailing newline."""
    if template is not None:
        from rmtool._files import LIMITS, read_bounded

        raw = read_bounded(template, LIMITS["json"], "endorsements template")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputFileError(f"invalid endorsements template {template}: {exc}") from exc
        except RecursionError:
            raise InputFileError(f"invalid endorsements template {template}: JSON nested "
                                 "too deeply") from None
        except json.JSONDecodeError as exc:
            raise InputFileError(f"invalid endorsements template {template}: {exc}") from exc
        base = _pick_template(doc, template)
    else:
        base = json.loads(json.dumps(DEFAULT_TEMPLATE))
    alg = m.hash_algo.token_name

    def reg(value: bytes) -> dict[str, Any]:
        return {"key-type": "text", "value": [f"{alg};{base64.b64encode(value).decode()}"]}

    regs = {"rim": reg(m.rim)}
    for i, rem in enumerate(m.rems):
        regs[f"rem{i}"] = reg(rem)
    base["triples"]["reference-values"][0]["measurements"] = [{
        "value": {
            "raw-value": {"type": "bytes", "value": base64.b64encode(m.rpv).decode()},
            "integrity-registers": regs,
        }
    }]
    return json.dumps(base, indent=2)
