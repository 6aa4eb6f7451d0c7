"""CCA platform and realm token claims (RMM spec DEN0137; draft-ffm-rats-cca-token §4).

Turns a decoded claims map into typed records and back. Decoding checks CBOR *types*
(a wrong type makes the token unusable: ``TokenError``); presence, sizes and profile
pairing are judged later by ``rmtool.verify.token.checks`` so that ``token show`` can still
display a token that breaks them. Labels follow the CCA token profiles:
platform 265 profile, 10 challenge, 2396 implementation id, 256 instance id, 2401 config,
2395 lifecycle, 2399 software components, 2400 verification service, 2402 hash algo;
realm 10 challenge, 44235 personalization value, 44236 hash algo, 44237 RAK,
44238 RIM, 44239 REMs, 44240 RAK hash algo, 265 profile, 256 instance id, 44243 MEC policy.
Hash-algo-id texts come from the one hash-algorithm table, ``rmtool._hashalgo``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from rmtool import _hashalgo as hashalgo
from rmtool.errors import TokenError

# Collection keys (tag 399 map / tag 907 CMW collection).
PLATFORM_KEY = 44234
REALM_KEY = 44241

PROFILE = 265
CHALLENGE = 10
INSTANCE_ID = 256
# platform
P_IMPLEMENTATION_ID = 2396
P_CONFIG = 2401
P_LIFECYCLE = 2395
P_SW_COMPONENTS = 2399
P_VERIFICATION_SERVICE = 2400
P_HASH_ALGO = 2402
# realm
R_PERSONALIZATION = 44235
R_HASH_ALGO = 44236
R_PUBLIC_KEY = 44237
R_RIM = 44238
R_REMS = 44239
R_PUBLIC_KEY_HASH_ALGO = 44240
R_MEC_POLICY = 44243

# software component map (PSA / CCA platform token)
SW_MEASUREMENT_TYPE = 1
SW_MEASUREMENT_VALUE = 2
SW_VERSION = 4
SW_SIGNER_ID = 5
SW_HASH_ALGO = 6

PLATFORM_PROFILE_LEGACY = "http://arm.com/CCA-SSD/1.0.0"
PLATFORM_PROFILE_FFM = "tag:arm.com,2023:cca_platform#1.0.0"
REALM_PROFILE_1 = "tag:arm.com,2023:realm#1.0.0"
REALM_PROFILE_2 = "tag:arm.com,2024:realm#2.0.0"
PLATFORM_PROFILES = (PLATFORM_PROFILE_LEGACY, PLATFORM_PROFILE_FFM)
REALM_PROFILES = (None, REALM_PROFILE_1, REALM_PROFILE_2)

# hash-algo-id texts a token may carry (claims 44236, 44240, 2402; exact spelling, case
# included) -> digest size: the Realm rows of rmtool._hashalgo, by size.
HASH_SIZES = {a.ni_name: a.size for a in hashalgo.REALM if a.ni_name is not None}
_HASHLIB_NAMES = {a.ni_name: a.hashlib_name for a in hashalgo.REALM if a.ni_name is not None}

PLATFORM_NAMES = {PROFILE: "profile", CHALLENGE: "challenge", INSTANCE_ID: "instance_id",
                  P_IMPLEMENTATION_ID: "implementation_id", P_CONFIG: "config",
                  P_LIFECYCLE: "lifecycle", P_SW_COMPONENTS: "sw_components",
                  P_VERIFICATION_SERVICE: "verification_service", P_HASH_ALGO: "hash_algo"}
REALM_NAMES = {PROFILE: "profile", CHALLENGE: "challenge", INSTANCE_ID: "instance_id",
               R_PERSONALIZATION: "personalization_value", R_HASH_ALGO: "hash_algo",
               R_PUBLIC_KEY: "public_key", R_RIM: "rim", R_REMS: "rems",
               R_PUBLIC_KEY_HASH_ALGO: "public_key_hash_algo", R_MEC_POLICY: "mec_policy"}

# PSA security lifecycle states (base of each 0x100 range; see lifecycle_text)
_LIFECYCLE = ((0x0000, "unknown"), (0x1000, "assembly-and-test"),
              (0x2000, "psa-rot-provisioning"), (0x3000, "secured"),
              (0x4000, "non-psa-rot-debug"), (0x5000, "recoverable-psa-rot-debug"),
              (0x6000, "decommissioned"))


def hash_digest(name: str, data: bytes) -> bytes:
    """Digest with a token hash-algo-id (``sha-256`` / ``sha-384`` / ``sha-512``)."""
    hashlib_name = _HASHLIB_NAMES.get(name)
    if hashlib_name is None:
        raise ValueError(f"unknown hash algorithm {name!r}")
    return hashlib.new(hashlib_name, data).digest()


def lifecycle_state(value: int) -> str:
    """PSA security lifecycle state name for a lifecycle claim value."""
    for base, name in _LIFECYCLE:
        if base <= value <= base + 0xFF:
            return name
    return "invalid"


def lifecycle_text(value: int) -> str:
    """A lifecycle claim for people: ``0x3003 (secured)``. The PSA state is the high byte,
    the low byte implementation defined: the ranges ``psa-lifecycle-<state>-type`` of the
    PSA attestation token CDDL (draft-tschofenig-rats-psa-token: 0x0000..0x00ff unknown
    ... 0x6000..0x60ff decommissioned), spelled as veraison/psatoken's ``LifeCycleState``
    names them (``assembly-and-test``, ``non-psa-rot-debug``...)."""
    state = lifecycle_state(value)
    if state == "invalid":
        return f"{value:#06x} (not a PSA lifecycle state)"
    return f"{value:#06x} ({state})"


@dataclass
class SwComponent:
    measurement_type: str | None = None
    measurement_value: bytes | None = None
    version: str | None = None
    signer_id: bytes | None = None
    hash_algo: str | None = None
    unknown: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"measurement_type": self.measurement_type,
                               "measurement_value": hexs(self.measurement_value),
                               "version": self.version, "signer_id": hexs(self.signer_id),
                               "hash_algo": self.hash_algo}
        if self.unknown:
            out["unknown_claims"] = self.unknown
        return out

    def to_map(self) -> dict[int, Any]:
        values: list[tuple[int, Any]] = [
            (SW_MEASUREMENT_TYPE, self.measurement_type),
            (SW_MEASUREMENT_VALUE, self.measurement_value), (SW_VERSION, self.version),
            (SW_SIGNER_ID, self.signer_id), (SW_HASH_ALGO, self.hash_algo)]
        return {k: v for k, v in values if v is not None}


@dataclass
class PlatformClaims:
    profile: str | None = None
    challenge: bytes | None = None
    implementation_id: bytes | None = None
    instance_id: bytes | None = None
    config: bytes | None = None
    lifecycle: int | None = None
    sw_components: list[SwComponent] | None = None
    verification_service: str | None = None
    hash_algo: str | None = None
    present: list[int] = field(default_factory=list)
    unknown: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "challenge": hexs(self.challenge),
            "implementation_id": hexs(self.implementation_id),
            "instance_id": hexs(self.instance_id), "config": hexs(self.config),
            "lifecycle": self.lifecycle,
            "lifecycle_state": None if self.lifecycle is None
            else lifecycle_state(self.lifecycle),
            "sw_components": None if self.sw_components is None
            else [c.to_json() for c in self.sw_components],
            "verification_service": self.verification_service, "hash_algo": self.hash_algo,
            "unknown_claims": self.unknown,
        }

    def to_map(self) -> dict[int, Any]:
        """Claims map for encoding (only the claims that are set)."""
        comps = None if self.sw_components is None else [c.to_map() for c in self.sw_components]
        values: list[tuple[int, Any]] = [
            (PROFILE, self.profile), (CHALLENGE, self.challenge),
            (P_IMPLEMENTATION_ID, self.implementation_id), (INSTANCE_ID, self.instance_id),
            (P_CONFIG, self.config), (P_LIFECYCLE, self.lifecycle), (P_HASH_ALGO, self.hash_algo),
            (P_SW_COMPONENTS, comps), (P_VERIFICATION_SERVICE, self.verification_service)]
        return {k: v for k, v in values if v is not None}


@dataclass
class RealmClaims:
    profile: str | None = None
    challenge: bytes | None = None
    personalization_value: bytes | None = None
    hash_algo: str | None = None
    public_key: bytes | None = None
    public_key_hash_algo: str | None = None
    rim: bytes | None = None
    rems: list[bytes] | None = None
    instance_id: bytes | None = None
    mec_policy: int | str | None = None  # 1 / "private" / "shared" seen in TF-M tokens
    present: list[int] = field(default_factory=list)
    unknown: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "challenge": hexs(self.challenge),
            "personalization_value": hexs(self.personalization_value),
            "rim": hexs(self.rim),
            "rems": None if self.rems is None else [r.hex() for r in self.rems],
            "hash_algo": self.hash_algo, "public_key": hexs(self.public_key),
            "public_key_hash_algo": self.public_key_hash_algo,
            "instance_id": hexs(self.instance_id), "mec_policy": self.mec_policy,
            "unknown_claims": self.unknown,
        }

    def to_map(self) -> dict[int, Any]:
        """Claims map for encoding (only the claims that are set)."""
        values: list[tuple[int, Any]] = [
            (PROFILE, self.profile), (CHALLENGE, self.challenge),
            (INSTANCE_ID, self.instance_id), (R_PERSONALIZATION, self.personalization_value),
            (R_HASH_ALGO, self.hash_algo), (R_PUBLIC_KEY, self.public_key),
            (R_PUBLIC_KEY_HASH_ALGO, self.public_key_hash_algo), (R_RIM, self.rim),
            (R_REMS, self.rems), (R_MEC_POLICY, self.mec_policy)]
        return {k: v for k, v in values if v is not None}


def hexs(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def jsonable(value: Any, depth: int = 0) -> Any:
    """Unknown claim values for JSON: bytes as hex, maps with string keys."""
    if depth > 20:
        return "..."
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _get(claims: dict[Any, Any], label: int, kind: type | tuple[type, ...], what: str,
         name: str) -> Any:
    if label not in claims:
        return None
    value = claims[label]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        expected = kind.__name__ if isinstance(kind, type) else "/".join(
            k.__name__ for k in kind)
        words = _TYPE_WORDS.get(expected, expected)
        raise TokenError(f"{what} claim {label} ({name}) must be {words}, "
                         f"found {type(value).__name__}", field=f"{what}.{name}")
    return value


_TYPE_WORDS = {"bytes": "a byte string", "str": "a text string", "int": "an integer",
               "list": "an array", "dict": "a map", "list/tuple": "an array",
               "int/str": "an integer or text"}


def _unknown(claims: dict[Any, Any], known: dict[int, str]) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in claims.items() if k not in known}


def _sw_component(obj: Any, index: int) -> SwComponent:
    what = f"platform sw_components[{index}]"
    if not isinstance(obj, dict):
        raise TokenError(f"{what} must be a map", field=f"platform.sw_components[{index}]")
    known = {SW_MEASUREMENT_TYPE: "measurement_type", SW_MEASUREMENT_VALUE: "measurement_value",
             SW_VERSION: "version", SW_SIGNER_ID: "signer_id", SW_HASH_ALGO: "hash_algo"}
    return SwComponent(
        measurement_type=_get(obj, SW_MEASUREMENT_TYPE, str, what, "measurement_type"),
        measurement_value=_get(obj, SW_MEASUREMENT_VALUE, bytes, what, "measurement_value"),
        version=_get(obj, SW_VERSION, str, what, "version"),
        signer_id=_get(obj, SW_SIGNER_ID, bytes, what, "signer_id"),
        hash_algo=_get(obj, SW_HASH_ALGO, str, what, "hash_algo"),
        unknown=_unknown(obj, known))


def parse_platform(claims: Any) -> PlatformClaims:
    """Typed platform claims from a decoded claims map."""
    if not isinstance(claims, dict):
        raise TokenError("platform claims must be a CBOR map", field="platform.payload")
    w = "platform"
    comps = _get(claims, P_SW_COMPONENTS, (list, tuple), w, "sw_components")
    return PlatformClaims(
        profile=_get(claims, PROFILE, str, w, "profile"),
        challenge=_get(claims, CHALLENGE, bytes, w, "challenge"),
        implementation_id=_get(claims, P_IMPLEMENTATION_ID, bytes, w, "implementation_id"),
        instance_id=_get(claims, INSTANCE_ID, bytes, w, "instance_id"),
        config=_get(claims, P_CONFIG, bytes, w, "config"),
        lifecycle=_get(claims, P_LIFECYCLE, int, w, "lifecycle"),
        sw_components=None if comps is None else [_sw_component(c, i)
                                                  for i, c in enumerate(comps)],
        verification_service=_get(claims, P_VERIFICATION_SERVICE, str, w,
                                  "verification_service"),
        hash_algo=_get(claims, P_HASH_ALGO, str, w, "hash_algo"),
        present=[k for k in claims if isinstance(k, int)],
        unknown=_unknown(claims, PLATFORM_NAMES))


def parse_realm(claims: Any) -> RealmClaims:
    """Typed realm claims from a decoded claims map."""
    if not isinstance(claims, dict):
        raise TokenError("realm claims must be a CBOR map", field="realm.payload")
    w = "realm"
    rems = _get(claims, R_REMS, (list, tuple), w, "rems")
    if rems is not None:
        for i, rem in enumerate(rems):
            if not isinstance(rem, bytes):
                raise TokenError(f"realm claim 44239 (rems) entry {i} must be a byte string, "
                                 f"found {type(rem).__name__}", field=f"realm.rems[{i}]")
    return RealmClaims(
        profile=_get(claims, PROFILE, str, w, "profile"),
        challenge=_get(claims, CHALLENGE, bytes, w, "challenge"),
        personalization_value=_get(claims, R_PERSONALIZATION, bytes, w,
                                   "personalization_value"),
        hash_algo=_get(claims, R_HASH_ALGO, str, w, "hash_algo"),
        public_key=_get(claims, R_PUBLIC_KEY, bytes, w, "public_key"),
        public_key_hash_algo=_get(claims, R_PUBLIC_KEY_HASH_ALGO, str, w,
                                  "public_key_hash_algo"),
        rim=_get(claims, R_RIM, bytes, w, "rim"),
        rems=None if rems is None else list(rems),
        instance_id=_get(claims, INSTANCE_ID, bytes, w, "instance_id"),
        mec_policy=_get(claims, R_MEC_POLICY, (int, str), w, "mec_policy"),
        present=[k for k in claims if isinstance(k, int)],
        unknown=_unknown(claims, REALM_NAMES))
