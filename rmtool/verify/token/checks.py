"""Named verification checks for a decoded CCA token (RFC 9052 §4.4; draft-ffm-rats-cca-token §4-5).

Each check returns pass / fail / warn / waived with a reason:

* ``platform.signature`` / ``realm.signature`` — COSE_Sign1 with the given CPAK(s) and with
  the RAK claim; ``alg`` absent or unsupported, key curve vs ``alg`` mismatches, a label
  in both header buckets and a ``crit`` naming a parameter not understood (RFC 9052 §3,
  §3.1) fail;
  no CPAK given fails (missing trust anchor) unless the check is waived by name;
* ``binding`` — platform challenge == H(RAK claim bytes as encoded), H named by claim
  44240 (as Veraison does; TF-M's verifier always uses SHA-256);
* ``realm.challenge`` — with an expected challenge, realm claim 10 equals it byte for
  byte (Veraison's nonce check);
* ``platform.claims`` / ``realm.claims`` — presence, types and sizes;
* ``profiles`` — profile values and their pairing, RAK encoding per profile;
* ``realm.measurement_size`` — RIM/REM length versus claim 44236 (warn, fail if strict).

The three trust checks (both signatures and the binding) are always present: a token
without its platform or realm token fails them instead of skipping them. A token passes
(:class:`Verification`) only when no check fails; a waived check is listed as
``unverified``. ``strict`` turns every warning into a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmtool.errors import TokenError, UsageError
from rmtool.verify import cose
from rmtool.verify.token import _claims as C
from rmtool.verify.token.codec import CcaToken

PASS, FAIL, WARN, WAIVED = "pass", "fail", "warn", "waived"

#: Checks a user may waive, and the option that waives each (named in the output).
WAIVERS: dict[str, str] = {"platform.signature": "--skip-platform-signature"}
NO_PLATFORM = "the token has no platform token: nothing endorses the realm token's RAK"
NO_REALM = "the token has no realm token"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "reason": self.reason}


def _alg(sign1: cose.Sign1, what: str) -> tuple[cose.Algorithm | None, str]:
    problem = sign1.header_problem()
    if problem is not None:
        return None, f"{what} {problem}"
    alg_id = sign1.alg_id
    if alg_id is None:
        if 1 in sign1.unprotected:
            return None, f"{what} alg is only in the unprotected header"
        return None, f"{what} protected header has no alg"
    if alg_id == 0 or (isinstance(alg_id, str) and alg_id.lower() == "none"):
        return None, f"{what} alg is none"
    alg = cose.ALGORITHMS.get(alg_id) if isinstance(alg_id, int) else None
    if alg is None:
        return None, f"{what} alg {alg_id!r} is not a supported ECDSA algorithm"
    return alg, alg.name


def check_platform_signature(token: CcaToken,
                             keys: Sequence[cose.PublicKey | cose.PrivateKey],
                             waived: bool = False) -> Check:
    name = "platform.signature"
    if token.platform is None:
        return Check(name, FAIL, NO_PLATFORM)
    sign1 = token.platform.sign1
    alg, why = _alg(sign1, "platform")
    if waived:
        return Check(name, WAIVED, f"{why}; not checked: waived by {WAIVERS[name]}")
    if not keys:
        return Check(name, FAIL, f"{why}; not checked: no trust anchor given (give the CPAK "
                     f"with --platform-key CPAK.pem, or waive this check with "
                     f"{WAIVERS[name]})")
    if alg is None:
        # Say whether any key would verify under its own curve's algorithm anyway.
        any_ok = any(cose.check_signature(sign1, k, cose.algorithm_for_key(k))[0] for k in keys)
        suffix = "a given key verifies it under its curve's algorithm" if any_ok \
            else "no given key verifies it"
        return Check(name, FAIL, f"{why}; {suffix}")
    reasons = []
    for i, key in enumerate(keys):
        ok, reason = cose.check_signature(sign1, key, alg)
        if ok:
            return Check(name, PASS, f"{reason} with platform key {i + 1}")
        reasons.append(reason)
    return Check(name, FAIL, "no given key verifies it: " + "; ".join(sorted(set(reasons))))


def check_realm_signature(token: CcaToken) -> Check:
    name = "realm.signature"
    if token.realm is None:
        return Check(name, FAIL, NO_REALM)
    sign1 = token.realm.sign1
    rak = token.realm.claims.public_key
    alg, why = _alg(sign1, "realm")
    if rak is None:
        return Check(name, FAIL, "realm token has no public key claim (44237)")
    try:
        key, fmt = cose.rak_key(rak)
    except TokenError as exc:
        return Check(name, FAIL, f"RAK claim unusable: {exc.message}")
    if alg is None:
        return Check(name, FAIL, why)
    ok, reason = cose.check_signature(sign1, key, alg)
    return Check(name, PASS if ok else FAIL, f"{reason} with the RAK claim ({fmt})")


def check_binding(token: CcaToken) -> Check:
    name = "binding"
    if token.platform is None or token.realm is None:
        return Check(name, FAIL, NO_PLATFORM if token.platform is None else NO_REALM)
    realm, plat = token.realm.claims, token.platform.claims
    algo = realm.public_key_hash_algo
    if realm.public_key is None or plat.challenge is None:
        return Check(name, FAIL, "RAK claim or platform challenge missing")
    if algo not in C.HASH_SIZES:
        return Check(name, FAIL, f"RAK hash algorithm (44240) {algo!r} is not known")
    digest = C.hash_digest(algo, realm.public_key)
    if digest == plat.challenge:
        return Check(name, PASS, f"platform challenge = {algo}(RAK)")
    other = [a for a in C.HASH_SIZES if a != algo
             and C.hash_digest(a, realm.public_key) == plat.challenge]
    extra = f" (it equals {other[0]}(RAK), not the claimed {algo})" if other else ""
    return Check(name, FAIL, f"platform challenge {plat.challenge.hex()[:16]}... != "
                 f"{algo}(RAK) {digest.hex()[:16]}...{extra}")


def check_challenge(token: CcaToken, expected: bytes) -> Check:
    """Realm challenge claim (10) equals the verifier's nonce, byte for byte."""
    name = "realm.challenge"
    if token.realm is None:
        return Check(name, FAIL, f"{NO_REALM}; expected challenge {expected.hex()}")
    actual = token.realm.claims.challenge
    if actual is None:
        return Check(name, FAIL, f"realm token has no challenge claim (10); expected "
                     f"{expected.hex()}")
    if actual != expected:
        return Check(name, FAIL, f"realm challenge {actual.hex()} != expected "
                     f"{expected.hex()}")
    return Check(name, PASS, "realm challenge equals the expected challenge")


def _size(value: bytes | None, label: str, sizes: tuple[int, ...], out: list[str]) -> None:
    if value is not None and len(value) not in sizes:
        want = "/".join(str(s) for s in sizes)
        out.append(f"{label} is {len(value)} bytes (expected {want})")


def check_platform_claims(token: CcaToken) -> Check:
    """Presence and sizes of the platform claims (warn: values seen in deployed FVP tokens)."""
    assert token.platform is not None
    p = token.platform.claims
    missing = [n for label, n in C.PLATFORM_NAMES.items()
               if label not in p.present and label != C.P_CONFIG and label != C.PROFILE
               and label != C.P_VERIFICATION_SERVICE]
    fails = [f"missing {', '.join(missing)}"] if missing else []
    warns: list[str] = []
    _size(p.challenge, "challenge", (32, 48, 64), fails)
    _size(p.implementation_id, "implementation_id", (32,), warns)
    _size(p.instance_id, "instance_id", (33,), warns)
    if p.instance_id is not None and p.instance_id[:1] != b"\x01":
        warns.append("instance_id is not a RAND UEID (first byte 0x01)")
    if p.lifecycle is not None and C.lifecycle_state(p.lifecycle) == "invalid":
        fails.append(f"lifecycle {p.lifecycle:#x} is not a PSA lifecycle state")
    if p.hash_algo is not None and p.hash_algo not in C.HASH_SIZES:
        warns.append(f"hash_algo {p.hash_algo!r} unknown")
    if p.sw_components is not None and not p.sw_components:
        fails.append("sw_components is empty")
    for i, comp in enumerate(p.sw_components or []):
        if comp.measurement_value is None:
            warns.append(f"sw_components[{i}] has no measurement_value")
    if p.unknown:
        warns.append(f"unknown claims {', '.join(sorted(p.unknown))}")
    return _verdict("platform.claims", fails, warns)


def check_realm_claims(token: CcaToken) -> Check:
    assert token.realm is not None
    r = token.realm.claims
    required = [C.CHALLENGE, C.R_PERSONALIZATION, C.R_HASH_ALGO, C.R_PUBLIC_KEY, C.R_RIM,
                C.R_REMS, C.R_PUBLIC_KEY_HASH_ALGO]
    missing = [C.REALM_NAMES[lbl] for lbl in required if lbl not in r.present]
    fails = [f"missing {', '.join(missing)}"] if missing else []
    warns: list[str] = []
    _size(r.challenge, "challenge", (64,), fails)
    _size(r.personalization_value, "personalization_value", (64,), fails)
    if r.rems is not None and len(r.rems) != 4:
        fails.append(f"{len(r.rems)} REMs (exactly 4 required)")
    if r.hash_algo is not None and r.hash_algo not in C.HASH_SIZES:
        fails.append(f"hash_algo {r.hash_algo!r} unknown")
    if r.public_key_hash_algo is not None and r.public_key_hash_algo not in C.HASH_SIZES:
        fails.append(f"public_key_hash_algo {r.public_key_hash_algo!r} unknown")
    for value, label in ((r.rim, "rim"), *((v, f"rem{i}") for i, v in enumerate(r.rems or []))):
        _size(value, label, (32, 48, 64), fails)
    if r.profile == C.REALM_PROFILE_2 and r.instance_id is None:
        warns.append("realm#2.0.0 token without instance_id (256)")
    if r.unknown:
        warns.append(f"unknown claims {', '.join(sorted(r.unknown))}")
    return _verdict("realm.claims", fails, warns)


def check_measurement_sizes(token: CcaToken) -> Check:
    """RIM/REM length versus the realm hash algorithm (44236). A value of the hash size
    passes; a 64-byte value for a shorter algorithm is a warning (the slot encoding of early
    RMMs and of Veraison's samples); a value shorter than the algorithm's output cannot be
    one of its digests and fails."""
    assert token.realm is not None
    r = token.realm.claims
    size = C.HASH_SIZES.get(r.hash_algo or "")
    if size is None:
        return Check("realm.measurement_size", FAIL, f"realm hash_algo {r.hash_algo!r} unknown")
    odd = [(len(v), f"{label} {len(v)} bytes") for v, label in
           ((r.rim, "rim"), *((v, f"rem{i}") for i, v in enumerate(r.rems or [])))
           if v is not None and len(v) != size]
    if any(n < size for n, _ in odd):
        return Check("realm.measurement_size", FAIL,
                     f"{r.hash_algo} digests are {size} bytes but "
                     + ", ".join(text for n, text in odd if n < size))
    if odd:
        return Check("realm.measurement_size", WARN, f"{r.hash_algo} digests are {size} "
                     "bytes but " + ", ".join(text for _, text in odd))
    return Check("realm.measurement_size", PASS, f"RIM and REMs are {size} bytes ({r.hash_algo})")


def check_profiles(token: CcaToken) -> Check:
    fails: list[str] = []
    warns: list[str] = []
    plat = token.platform.claims.profile if token.platform else None
    if token.platform is not None and plat not in C.PLATFORM_PROFILES:
        fails.append(f"unknown platform profile {plat!r}")
    if token.realm is not None:
        realm = token.realm.claims.profile
        if realm not in C.REALM_PROFILES:
            fails.append(f"unknown realm profile {realm!r}")
        pairs = {(C.PLATFORM_PROFILE_LEGACY, None), (C.PLATFORM_PROFILE_FFM, C.REALM_PROFILE_1),
                 (C.PLATFORM_PROFILE_FFM, C.REALM_PROFILE_2)}
        if token.platform is not None and not fails and (plat, realm) not in pairs:
            warns.append(f"platform profile {plat} with realm profile "
                         f"{realm or '(none)'} is an unusual pairing")
        rak = token.realm.claims.public_key
        if rak is not None and realm in C.REALM_PROFILES:
            try:
                fmt = cose.rak_key(rak)[1]
            except TokenError:
                fmt = "invalid"
            expected = "raw-ec-point" if realm is None else "cose-key"
            if fmt != expected:
                warns.append(f"RAK is {fmt}; realm profile {realm or '(none)'} uses {expected}")
    label = f"platform {plat or '(none)'}"
    if token.realm is not None:
        label += f", realm {token.realm.claims.profile or '(none: pre-draft)'}"
    return _verdict("profiles", fails, warns, label)


def _verdict(name: str, fails: list[str], warns: list[str], ok: str = "well-formed") -> Check:
    if fails:
        return Check(name, FAIL, "; ".join(fails + warns))
    if warns:
        return Check(name, WARN, "; ".join(warns))
    return Check(name, PASS, ok)


@dataclass(frozen=True)
class VerifyPolicy:
    """What a verdict on a token depends on: trust anchors, waivers, nonce, strictness."""

    platform_keys: tuple[cose.PublicKey | cose.PrivateKey, ...] = ()
    strict: bool = False
    waive: frozenset[str] = frozenset()  # check names from WAIVERS
    challenge: bytes | None = None


@dataclass(frozen=True)
class Verification:
    """The checks of one token and the verdict they earn."""

    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and not self.failed

    @property
    def unverified(self) -> list[str]:
        return [c.name for c in self.checks if c.status == WAIVED]

    @property
    def result(self) -> str:
        return PASS if self.ok else FAIL

    def unverified_text(self) -> str:
        """``platform.signature waived by --skip-platform-signature`` (empty if none)."""
        return "; ".join(f"{n} waived by {WAIVERS.get(n, 'the caller')}"
                         for n in self.unverified)

    def failure_text(self) -> str:
        """``platform.signature: reason; binding: reason`` for the failed checks."""
        return "; ".join(f"{c.name}: {c.reason}" for c in self.failed)

    def summary(self) -> str:
        """``PASS``, ``PASS (UNVERIFIED: ...)`` or ``FAIL (failed: names)``."""
        if not self.ok:
            names = ", ".join(dict.fromkeys(c.name for c in self.failed))
            return f"FAIL (failed: {names})" if names else "FAIL (no check ran)"
        waived = self.unverified_text()
        return f"PASS (UNVERIFIED: {waived})" if waived else "PASS"

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "checks": [c.to_json() for c in self.checks],
                "unverified": self.unverified}


def verify(token: CcaToken, policy: VerifyPolicy) -> Verification:
    """All checks of ``token`` under ``policy``, in a stable order."""
    unknown = sorted(policy.waive - set(WAIVERS))
    if unknown:
        raise UsageError(f"check(s) {', '.join(unknown)} cannot be waived")
    waive_sig = "platform.signature" in policy.waive
    if waive_sig and policy.platform_keys:
        raise UsageError(f"{WAIVERS['platform.signature']} and --platform-key contradict "
                         "each other: give one")
    out: list[Check] = [check_platform_signature(token, policy.platform_keys, waive_sig),
                        check_realm_signature(token), check_binding(token)]
    if policy.challenge is not None:
        out.append(check_challenge(token, policy.challenge))
    if token.platform is not None:
        out.append(check_platform_claims(token))
    if token.realm is not None:
        out.append(check_realm_claims(token))
        out.append(check_measurement_sizes(token))
    out.append(check_profiles(token))
    if policy.strict:
        out = [Check(c.name, FAIL, f"{c.reason} (strict)") if c.status == WARN else c
               for c in out]
    return Verification(tuple(out))


def verify_token(token: CcaToken, platform_keys: Sequence[cose.PublicKey | cose.PrivateKey] = (),
                 *, strict: bool = False) -> list[Check]:
    """All checks (see :func:`verify`); ``strict`` makes warnings failures."""
    policy = VerifyPolicy(platform_keys=tuple(platform_keys), strict=strict)
    return list(verify(token, policy).checks)


def exit_status(checks: Sequence[Check]) -> int:
    return 1 if not checks or any(c.status == FAIL for c in checks) else 0
