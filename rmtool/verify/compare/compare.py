"""Compare a realm token's measurements with reference values, claim by claim
(docs/cli-compare.md).

Reference values come from pluggable *sources*, each producing ``ReferenceValues``
(acceptable values for ``rim``, ``rem0``..``rem3``, ``rpv``):

* hex given on the command line (``from_hex``);
* the CoMID JSON written by ``realm-measurements --endorsements-output`` /
  ``rmtool measure`` (the reference's src/realm_comid.rs: ``integrity-registers`` with
  ``alg;base64`` strings over the 64-byte slot) and the newer corim-rs layout (``reference-triples``
  with ``mkey`` ``cca.rim`` ...), via ``load_endorsements``;
* a CoRIM, via ``rmtool.verify.corim.realm.load_reference_values`` (``load_corim``);
* an event-log replay (``rmtool.verify.compare._explain.replay_reference``), and the expected
  configuration of ``measure --format json --trace`` (``explain.trace_reference``).

``compare`` returns one ``ClaimResult`` (expected, actual, status) per claim and source.
Values are compared at the token's size: a reference longer than the token value
matches when the extra bytes are zero (a 64-byte slot against a 32-byte SHA-256 RIM),
and likewise the other way round (a short RPV against the 64-byte claim).
A source that should give a claim but cannot (a log whose RIM does not replay) marks it
``unavailable``: a mismatch with the reason as its note. ``CompareReport.explanations``
holds what :mod:`rmtool.verify.compare._explain` concludes (register, event, message).

Matching claims prove nothing about a token nobody verified, so the report's verdict
(``CompareReport.verdict``) is ``match`` only when the claims match AND the token's
verification (``rmtool.verify.token.checks.verify``, set by the caller) passed; a failed
verification makes it ``fail`` whatever the claims say.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmtool._files import read_bounded
from rmtool.errors import CorimError, UsageError
from rmtool.verify._cbor import unique_json_object
from rmtool.verify.token._claims import RealmClaims
from rmtool.verify.token.checks import Verification

CLAIMS = ("rim", "rem0", "rem1", "rem2", "rem3", "rpv")
LABELS = {"rim": "RIM", "rem0": "REM0", "rem1": "REM1", "rem2": "REM2", "rem3": "REM3",
          "rpv": "RPV"}
MATCH, MISMATCH, NOT_GIVEN, FAIL = "match", "mismatch", "not given", "fail"
MAX_JSON = 16 << 20
MAX_VALUE = 1024  # bytes; no measurement is longer than 64


@dataclass
class ReferenceValues:
    """Acceptable values per claim from one source (a claim absent = not given)."""

    source: str
    values: dict[str, list[bytes]] = field(default_factory=dict)
    hash_algo: str | None = None  # the digest algorithm the source declares, if any
    unavailable: dict[str, str] = field(default_factory=dict)  # claim -> why not computable

    def add(self, claim: str, value: bytes) -> None:
        if claim not in CLAIMS:
            raise UsageError(f"unknown reference claim {claim!r}")
        if len(value) > MAX_VALUE:
            raise UsageError(f"{self.source}: {LABELS[claim]} value of {len(value)} bytes "
                             "is too long")
        self.values.setdefault(claim, []).append(value)


@dataclass(frozen=True)
class ClaimResult:
    claim: str
    source: str
    expected: bytes | None
    actual: bytes | None
    status: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "source": self.source,
                "expected": None if self.expected is None else self.expected.hex(),
                "actual": None if self.actual is None else self.actual.hex(),
                "status": self.status, "note": self.note}

    def message(self) -> str:
        label = LABELS[self.claim]
        if self.status == MATCH:
            return f"{label} matches {self.source}"
        if self.status == NOT_GIVEN:
            return f"{label} not given by any reference"
        if self.expected is None and self.actual is not None:
            return f"{label} mismatch: {self.source} gives no value ({self.note})"
        exp = "-" if self.expected is None else self.expected.hex()
        act = "absent" if self.actual is None else self.actual.hex()
        note = f" ({self.note})" if self.note else ""
        return f"{label} mismatch: token {act}, {self.source} expects {exp}{note}"


@dataclass(frozen=True)
class Explanation:
    """Why a claim differs: the register (RIM, REM0..REM3), the log event (or None)."""

    register: str
    event: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"register": self.register, "event": self.event, "message": self.message}


@dataclass
class CompareReport:
    """Claim results plus the token's verification; ``verdict`` needs both.

    ``verification`` is None until the caller verified the token (``rmtool compare`` always
    does): an unverified report never has the verdict ``match``.
    """

    hash_algo: str | None
    results: list[ClaimResult]
    explanations: list[Explanation] = field(default_factory=list)
    verification: Verification | None = None
    #: with log evidence and the expected MEASURE_ARGS: the causes ``rmtool diagnose``
    #: names, in its JSON form (``Cause.to_json``; docs/diagnose.md), computed by its code
    causes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def given(self) -> list[ClaimResult]:
        return [r for r in self.results if r.status != NOT_GIVEN]

    @property
    def claims_ok(self) -> bool:
        """Every given reference matches (says nothing about the token's authenticity)."""
        return bool(self.given) and all(r.status == MATCH for r in self.given)

    @property
    def verdict(self) -> str:
        """``match`` (claims match, token verified), ``mismatch`` or ``fail``."""
        if self.verification is None or not self.verification.ok:
            return FAIL
        return MATCH if self.claims_ok else MISMATCH

    @property
    def ok(self) -> bool:
        return self.verdict == MATCH

    @property
    def mismatches(self) -> list[ClaimResult]:
        return [r for r in self.results if r.status == MISMATCH]

    def verdict_text(self) -> str:
        """``MATCH``, ``MATCH (UNVERIFIED: ...)``, ``MISMATCH`` or ``FAIL (token ...)``."""
        ver = self.verification
        if ver is None:
            return "FAIL (token not verified)"
        if not ver.ok:
            return f"FAIL (token verification failed: {ver.failure_text()})"
        text = MATCH.upper() if self.claims_ok else MISMATCH.upper()
        waived = ver.unverified_text()
        return f"{text} (UNVERIFIED: {waived})" if waived else text

    def to_json(self) -> dict[str, Any]:
        ver = self.verification
        return {"result": self.verdict,
                "claims_result": MATCH if self.claims_ok else MISMATCH,
                "unverified": ver.unverified if ver is not None else [],
                "verification": ver.to_json() if ver is not None else None,
                "hash_algo": self.hash_algo,
                "claims": [r.to_json() for r in self.results],
                "mismatches": [r.message() for r in self.mismatches],
                "explanations": [e.to_json() for e in self.explanations],
                "causes": list(self.causes)}


def _token_values(realm: RealmClaims) -> dict[str, bytes | None]:
    rems: list[bytes | None] = list(realm.rems or [])
    rems += [None] * (4 - len(rems))
    return {"rim": realm.rim, "rem0": rems[0], "rem1": rems[1], "rem2": rems[2],
            "rem3": rems[3], "rpv": realm.personalization_value}


def equal_at_token_size(expected: bytes, actual: bytes) -> tuple[bool, str]:
    """Compare at the token's size; zero padding on either side is not a difference."""
    if len(expected) == len(actual):
        return expected == actual, ""
    short, long_ = (expected, actual) if len(expected) < len(actual) else (actual, expected)
    if any(long_[len(short):]):
        return False, f"length differs: reference {len(expected)} bytes, token {len(actual)}"
    note = f"compared first {len(short)} bytes (the rest is zero padding)"
    return long_[:len(short)] == short, note


def _algo_key(name: str) -> str:
    """``sha-256``, ``sha256`` and ``SHA256`` name the same algorithm."""
    return name.lower().replace("-", "").replace("_", "")


def _one(claim: str, ref: ReferenceValues, actual: bytes | None,
         token_algo: str | None) -> ClaimResult:
    candidates = ref.values[claim]
    algo_note = ""
    if (claim != "rpv" and ref.hash_algo and token_algo
            and _algo_key(ref.hash_algo) != _algo_key(token_algo)):
        algo_note = f"reference labelled {ref.hash_algo}, token uses {token_algo}"
    if actual is None:
        return ClaimResult(claim, ref.source, candidates[0], None, MISMATCH,
                           "claim absent from the token")
    first_note = ""
    for cand in candidates:
        ok, note = equal_at_token_size(cand, actual)
        if ok:
            return ClaimResult(claim, ref.source, cand, actual, MATCH,
                               "; ".join(n for n in (note, algo_note) if n))
        first_note = first_note or note
    return ClaimResult(claim, ref.source, candidates[0], actual, MISMATCH,
                       "; ".join(n for n in (first_note, algo_note) if n))


def compare(realm: RealmClaims, refs: Sequence[ReferenceValues]) -> CompareReport:
    """Per-claim results for every source; claims no source gives are ``not given``."""
    actual = _token_values(realm)
    results: list[ClaimResult] = []
    for claim in CLAIMS:
        given = [r for r in refs if r.values.get(claim) or claim in r.unavailable]
        if not given:
            results.append(ClaimResult(claim, "-", None, actual[claim], NOT_GIVEN))
        for ref in given:
            if claim in ref.unavailable:
                results.append(ClaimResult(claim, ref.source, None, actual[claim], MISMATCH,
                                           ref.unavailable[claim]))
            else:
                results.append(_one(claim, ref, actual[claim], realm.hash_algo))
    return CompareReport(realm.hash_algo, results)


# ---------------------------------------------------------------- sources


def parse_hex(text: str, what: str) -> bytes:
    clean = text.strip().lower().removeprefix("0x")
    try:
        value = bytes.fromhex(clean)
    except ValueError:
        raise UsageError(f"{what}: not a hex string: {text[:40]!r}") from None
    if not value or len(value) > 64:
        raise UsageError(f"{what}: {len(value)} bytes (expected 1..64)")
    return value


def from_hex(rim: str | None = None, rems: Sequence[str | None] = (),
             rpv: str | None = None, source: str = "command line") -> ReferenceValues | None:
    """``--rim/--rem0..--rem3/--rpv``; None when nothing was given."""
    ref = ReferenceValues(source)
    if rim:
        ref.add("rim", parse_hex(rim, "--rim"))
    for i, rem in enumerate(rems):
        if rem:
            ref.add(f"rem{i}", parse_hex(rem, f"--rem{i}"))
    if rpv:
        ref.add("rpv", parse_hex(rpv, "--rpv"))
    return ref if ref.values else None


def _b64(text: str, where: str) -> bytes:
    cleaned = text.strip()
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CorimError(f"{where}: not base64: {cleaned[:40]!r}", field=where) from None


def _digests(values: Any, where: str) -> tuple[list[bytes], str | None]:
    """``["sha-256;<b64>", ...]`` digest strings → bytes (and the declared algorithm)."""
    if not isinstance(values, list):
        raise CorimError(f"{where}: digests must be a list", field=where)
    out: list[bytes] = []
    algo: str | None = None
    for i, item in enumerate(values[:64]):
        if not isinstance(item, str) or ";" not in item:
            raise CorimError(f"{where}[{i}]: expected 'alg;base64' text", field=where)
        alg, b64 = item.split(";", 1)
        algo = algo or alg.strip().lower()
        out.append(_b64(b64, f"{where}[{i}]"))
    if not out or not all(out):
        raise CorimError(f"{where}: no digest value (an empty reference matches nothing)",
                         field=where)
    return out, algo


def _raw_value(raw: Any, where: str) -> bytes:
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
        raise CorimError(f"{where}: raw-value must be {{type, value}}", field=where)
    return _b64(raw["value"], where)


def _register_name(name: Any, where: str) -> str:
    """``rim``/``rem0``..``rem3`` (any case, optional ``cca.``); any other name is an error:
    a reference rmtool silently skipped would let MATCH rest on the other registers."""
    key = str(name).lower().removeprefix("cca.")
    if key not in CLAIMS[:5]:
        raise CorimError(f"{where}: unknown register {str(name)[:40]!r} (expected rim, "
                         "rem0..rem3): its reference value cannot be compared", field=where)
    return key


def _from_integrity_registers(mval: dict[str, Any], source: str) -> ReferenceValues:
    ref = ReferenceValues(source)
    regs = mval.get("integrity-registers", {})
    if not isinstance(regs, dict):
        raise CorimError(f"{source}: integrity-registers must be a map", field=source)
    for raw_name, reg in regs.items():
        name = _register_name(raw_name, f"{source}.integrity-registers")
        if name in ref.values:
            raise CorimError(f"{source}: register {name} is named twice", field=source)
        vals = reg.get("value") if isinstance(reg, dict) else reg
        digests, algo = _digests(vals, f"{source}.{name}")
        ref.hash_algo = ref.hash_algo or algo
        for d in digests:
            ref.add(name, d)
    if "raw-value" in mval:
        ref.add("rpv", _raw_value(mval["raw-value"], f"{source}.raw-value"))
    return ref


def _from_reference_triples(triples: Any, path: str) -> list[ReferenceValues]:
    """corim-rs layout: [[environment, [{mkey: "cca.rim", mval: {digests: [...]}}]]]."""
    out: list[ReferenceValues] = []
    if not isinstance(triples, list):
        raise CorimError(f"{path}: reference-triples must be a list", field="reference-triples")
    for i, triple in enumerate(triples[:1024]):
        if not isinstance(triple, list) or len(triple) != 2 or not isinstance(triple[1], list):
            raise CorimError(f"{path}: reference-triples[{i}] must be [environment, "
                             "[measurements]]", field="reference-triples")
        ref = ReferenceValues(f"{path} reference-triples[{i}]")
        for m in triple[1]:
            if not isinstance(m, dict) or not isinstance(m.get("mval"), dict):
                continue
            mkey = str(m.get("mkey", ""))
            key = mkey.lower().removeprefix("cca.")
            mval = m["mval"]
            if mkey.lower().startswith("cca.") and key not in CLAIMS:
                _register_name(mkey, f"{ref.source}.mkey")  # a CCA register we cannot compare
            if key in CLAIMS[:5] and "digests" in mval:
                digests, algo = _digests(mval["digests"], f"{ref.source}.{key}")
                ref.hash_algo = ref.hash_algo or algo
                for d in digests:
                    ref.add(key, d)
            elif key == "rpv" and "raw-value" in mval:
                ref.add("rpv", _raw_value(mval["raw-value"], f"{ref.source}.rpv"))
        if ref.values:
            out.append(ref)
    return out


def endorsements_from_json(doc: Any, path: str) -> list[ReferenceValues]:
    """Every realm reference-value set in a CoMID JSON document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("triples"), dict):
        raise CorimError(f"{path}: not a CoMID JSON document (no triples)", field="triples")
    triples = doc["triples"]
    out: list[ReferenceValues] = []
    rvs = triples.get("reference-values", [])
    if not isinstance(rvs, list):
        raise CorimError(f"{path}: reference-values must be a list", field="reference-values")
    for i, rv in enumerate(rvs[:1024]):
        meas = rv.get("measurements", []) if isinstance(rv, dict) else []
        for j, m in enumerate(meas if isinstance(meas, list) else []):
            mval = m.get("value") if isinstance(m, dict) else None
            if isinstance(mval, dict) and ("integrity-registers" in mval or "raw-value" in mval):
                ref = _from_integrity_registers(
                    mval, f"{path} reference-values[{i}].measurements[{j}]")
                if ref.values:
                    out.append(ref)
    if "reference-triples" in triples:
        out += _from_reference_triples(triples["reference-triples"], path)
    if not out:
        raise CorimError(f"{path}: no realm reference values (integrity-registers) found",
                         field="reference-values")
    return out


def load_endorsements(path: str | Path) -> list[ReferenceValues]:
    """CoMID JSON file → reference sets (one per realm measurement entry)."""
    p = Path(path)
    data = read_bounded(p, MAX_JSON, "JSON file")
    try:
        doc = json.loads(data, object_pairs_hook=unique_json_object)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CorimError(f"{p.name}: not usable JSON: {exc}") from None
    return endorsements_from_json(doc, p.name)


def references_from_object(obj: Any, source: str) -> list[ReferenceValues]:
    """Adapt what another source returns: objects/maps with rim, rems, rpv (bytes or None).

    A list/tuple of such objects gives one reference set each.
    """
    if isinstance(obj, list | tuple):
        return [r for i, o in enumerate(obj[:1024])
                for r in references_from_object(o, f"{source}[{i}]")]

    def get(name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    ref = ReferenceValues(source)
    algo = get("hash_algo")
    ref.hash_algo = algo if isinstance(algo, str) else None
    rim = get("rim")
    if isinstance(rim, bytes):
        ref.add("rim", rim)
    rems = get("rems")
    items = rems.items() if isinstance(rems, dict) else enumerate(rems or [])
    for i, rem in items:
        if isinstance(rem, bytes) and 0 <= int(i) < 4:
            ref.add(f"rem{int(i)}", rem)
    rpv = get("rpv")
    if isinstance(rpv, bytes):
        ref.add("rpv", rpv)
    return [ref] if ref.values else []


def load_corim(path: str | Path) -> list[ReferenceValues]:
    """Realm reference values from a CoRIM via ``corim.realm.load_reference_values``."""
    try:
        from rmtool.verify.corim import realm as corim  # owned by the CoRIM issue
    except ImportError:
        raise UsageError("--corim is not available: rmtool.verify.corim.realm is missing") from None
    # Prefer every realm in the file (``pick`` then chooses by RIM); fall back to the first.
    loader = getattr(corim, "load_all_reference_values", None) or getattr(
        corim, "load_reference_values", None)
    if loader is None:
        raise UsageError("--corim is not available: rmtool.verify.corim.realm has no "
                         "load_reference_values()")
    refs = references_from_object(loader(path), f"corim {Path(path).name}")
    if not refs:
        raise CorimError(f"{path}: no realm reference values found")
    return refs


def pick(refs: Sequence[ReferenceValues], realm: RealmClaims) -> ReferenceValues:
    """Among several sets from one file, the one whose RIM matches the token (else the first)."""
    for ref in refs:
        if realm.rim is not None and any(equal_at_token_size(v, realm.rim)[0]
                                         for v in ref.values.get("rim", [])):
            return ref
    return refs[0]
