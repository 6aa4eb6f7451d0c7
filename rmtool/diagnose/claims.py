"""Claim evidence for ``rmtool diagnose``: what the token itself says (issue 15).

Two realm claims name a parameter directly (draft-ffm-rats-cca-token §4, the realm
token claims; TF-RMM ``app/attestation``): ``cca-realm-hash-algo-id`` (44236) is the
Realm's measurement algorithm (``RmiRealmParams.hash_algo``) and
``cca-realm-personalization-value`` (44235) is the RPV the host gave at REALM_CREATE
(never measured into the RIM). A difference in either is a cause with evidence
``"claim"``; values follow docs/diagnose.md (algorithm names ``sha256``/``sha384``/
``sha512``, the RPV as 128 lower-case hex digits).
"""

from __future__ import annotations

from rmtool.diagnose.model import Cause, Target
from rmtool.measure.rmm.algorithms import ALGORITHMS
from rmtool.measure.rmm.ops import RealmParams
from rmtool.verify.token._claims import RealmClaims

RPV_SIZE = 64


def realm_algo_name(claim: str | None) -> str | None:
    """``sha-256`` (the token's spelling) → ``sha256``; None for anything else."""
    if claim is None:
        return None
    name = claim.lower().replace("-", "").replace("_", "")
    return name if name in ALGORITHMS else None


def target_of(realm: RealmClaims) -> Target:
    """The realm claims a candidate Realm must reproduce (RIM, REM0..REM3, algorithm, RPV)."""
    rems = tuple(realm.rems or ())
    return Target(rim=realm.rim or b"", rems=rems,
                  hash_algo=realm_algo_name(realm.hash_algo),
                  rpv=realm.personalization_value)


def rpv_hex(value: bytes) -> str:
    """The RPV as docs/diagnose.md writes it: 64 bytes of lower-case hex (zero padded)."""
    return value.ljust(RPV_SIZE, b"\0").hex()


def claim_causes(target: Target, expected: RealmParams) -> list[Cause]:
    """``hash_algo`` and ``personalization_value`` causes: the token's claim against the
    expected Realm's parameter (absent claims name nothing: ``token verify`` fails them)."""
    out: list[Cause] = []
    want = expected.hash_algo.name
    if target.hash_algo is not None and target.hash_algo != want:
        out.append(Cause("hash_algo", want, target.hash_algo, "claim",
                         f"the token's cca-realm-hash-algo-id is {target.hash_algo}; the "
                         f"expected Realm is measured with {want}"))
    if target.rpv is not None and len(target.rpv) <= RPV_SIZE \
            and rpv_hex(target.rpv) != rpv_hex(expected.rpv):
        out.append(Cause("personalization_value", rpv_hex(expected.rpv),
                         rpv_hex(target.rpv), "claim",
                         "the token's cca-realm-personalization-value differs from the "
                         "Realm Personalization Value of MEASURE_ARGS (not measured into "
                         "the RIM)"))
    return out
