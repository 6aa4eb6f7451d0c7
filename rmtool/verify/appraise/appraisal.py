"""The appraisal pipeline: what Veraison would conclude about a CCA token, offline.

Follows veraison/services ``vts/trustedservices/trustedservices_grpc.go`` ``GetAttestation``
with the ``scheme/arm-cca/scheme.go`` plug-in:

1. decode the token and check its claims (``ccatoken.DecodeAndValidateEvidenceFromCBOR``);
   a failure is "could not establish identity from evidence";
2. select the trust anchor by the platform implementation id (class-id) and instance id
   (``GetTrustAnchorIDs``); none is "no trust anchor for evidence"; more than one distinct
   key is Veraison's ``ExtractOneVerifKey`` error (a verifier malfunction);
3. verify the realm challenge against the nonce zero-padded to 64 bytes, both signatures
   and the binding (``ValidateEvidenceIntegrity``; rmtool's ``token verify`` checks,
   :mod:`rmtool.verify.token.checks`); a failure is "integrity validation failed";
4. appraise platform and realm (:mod:`.platform`, :mod:`.realm`).

A failure in 1-3 leaves one submod, ``ARM_CCA``, with every claim "cryptographic
validation failed" (99), as ``finalize`` and ``SetAllClaims`` do upstream, and the problem
Veraison puts in ``ear.veraison.policy-claims``. Without ``challenge`` the freshness check
is not made and the result says so (``waived``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rmtool.errors import UsageError
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.endorsements import Endorsements, TrustAnchor, unique_trust_anchors
from rmtool.verify.appraise.platform import PlatformComparison, platform_submod
from rmtool.verify.appraise.realm import realm_submod
from rmtool.verify.token import _claims as C
from rmtool.verify.token import checks as K
from rmtool.verify.token.codec import CcaToken

SCHEME = "ARM_CCA"
PLATFORM_SUBMOD = "CCA_SSD_PLATFORM"
REALM_SUBMOD = "CCA_REALM"
POLICY_ID = f"policy:{SCHEME}"
NONCE_SIZE = 64
INTEGRITY_CHECKS = ("platform.signature", "realm.signature", "binding", "realm.challenge")
IDENTITY = "could not establish identity from evidence"
NO_TRUST_ANCHOR = "no trust anchor for evidence"
INTEGRITY = "integrity validation failed"


@dataclass(frozen=True)
class AppraisePolicy:
    """What an appraisal depends on besides the token and the endorsements."""

    challenge: bytes | None = None
    strict: bool = False


@dataclass
class Appraisal:
    """The submods of an appraisal, the token checks behind them and the trust anchor used."""

    submods: list[A.Submod]
    checks: list[K.Check] = field(default_factory=list)
    trust_anchor: TrustAnchor | None = None
    nonce: bytes | None = None
    waived: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    platform: PlatformComparison | None = None
    signatures_verified: bool = True

    @property
    def status(self) -> str:
        return A.worst([s.status for s in self.submods])

    @property
    def exit_code(self) -> int:
        """0 only for an affirming result whose signatures were verified."""
        return 0 if self.status == A.AFFIRMING and self.signatures_verified else 1

    def to_json(self) -> dict[str, Any]:
        ta = self.trust_anchor
        return {
            "ear.status": self.status,
            "submods": {s.name: s.to_json() for s in self.submods},
            "trust_anchor": None if ta is None else {
                "implementation_id": ta.implementation_id.hex(),
                "instance_id": ta.instance_id.hex(), "source": ta.source,
                "key": ta.key_pem()},
            "checks": [c.to_json() for c in self.checks],
            "nonce": None if self.nonce is None else self.nonce.hex(),
            "unverified": self.waived,
            "signatures_verified": self.signatures_verified,
            "notes": self.notes,
        }


def padded_nonce(challenge: bytes) -> bytes:
    """The session nonce as the RMM writes a shorter challenge: zero-padded to 64 bytes."""
    if len(challenge) > NONCE_SIZE:
        raise UsageError(f"--challenge is {len(challenge)} bytes; a realm challenge is at most "
                         f"{NONCE_SIZE}", field="challenge")
    return challenge + bytes(NONCE_SIZE - len(challenge))


def _failed(problem: str, reason: str, value: int = A.CRYPTO_VALIDATION_FAILED) -> A.Submod:
    sub = A.Submod(SCHEME)
    sub.set_all(value, f"{problem}: {reason}")
    sub.problem = f"{problem}: {reason}" if problem != NO_TRUST_ANCHOR else problem
    return sub


def _describe_ids(implementation_id: bytes | None, instance_id: bytes | None) -> str:
    return (f"implementation id {C.hexs(implementation_id)}, instance id "
            f"{C.hexs(instance_id)}")


def select_trust_anchor(platform: C.PlatformClaims, anchors: Sequence[TrustAnchor]
                        ) -> tuple[list[TrustAnchor], str]:
    """Trust anchors endorsed for the token's implementation id and instance id, and a
    sentence saying why there are none when there are none."""
    impl, inst = platform.implementation_id, platform.instance_id
    found = unique_trust_anchors(a for a in anchors
                                 if a.implementation_id == impl and a.instance_id == inst)
    if found:
        return found, ""
    ids = _describe_ids(impl, inst)
    if not anchors:
        return [], f"{ids}: the CoRIMs endorse no trust anchor (attest-key triple)"
    if not any(a.implementation_id == impl for a in anchors):
        known = sorted({a.implementation_id.hex()[:16] + "…" for a in anchors})
        return [], f"{ids}: unknown implementation id (endorsed: {', '.join(known)})"
    return [], f"{ids}: no trust anchor for this instance id of the implementation"


def appraise(token: CcaToken, endorsements: Endorsements,
             policy: AppraisePolicy = AppraisePolicy()) -> Appraisal:
    """Appraise ``token`` against ``endorsements`` as Veraison's arm-cca scheme would."""
    nonce = padded_nonce(policy.challenge) if policy.challenge is not None else None
    result = Appraisal([], nonce=nonce, notes=list(endorsements.notes))
    if nonce is None:
        result.waived.append("freshness: no --challenge given, the realm challenge was not "
                             "compared with a nonce")
    if token.platform is None or token.realm is None:
        missing = "platform" if token.platform is None else "realm"
        result.submods = [_failed(IDENTITY, f"the token has no {missing} token")]
        return result
    syntax = K.verify(token, K.VerifyPolicy(waive=frozenset({"platform.signature"})))
    result.checks = [c for c in syntax.checks if c.name not in INTEGRITY_CHECKS[:3]]
    bad = [c for c in result.checks if c.status == K.FAIL]
    if bad:
        result.submods = [_failed(IDENTITY, "; ".join(f"{c.name}: {c.reason}" for c in bad))]
        return result
    plat, realm = token.platform.claims, token.realm.claims
    anchors, why = select_trust_anchor(plat, endorsements.trust_anchors)
    if not anchors:
        result.submods = [_failed(NO_TRUST_ANCHOR, why)]
        return result
    if len(anchors) > 1:
        result.submods = [_failed("verifier malfunction", f"expected exactly 1 trust anchor; "
                                  f"found {len(anchors)} for "
                                  f"{_describe_ids(plat.implementation_id, plat.instance_id)}",
                                  A.VERIFIER_MALFUNCTION)]
        return result
    result.trust_anchor = anchors[0]
    verified = K.verify(token, K.VerifyPolicy(platform_keys=(anchors[0].key,),
                                              challenge=nonce))
    result.checks = list(verified.checks)
    bad = [c for c in verified.checks if c.name in INTEGRITY_CHECKS and c.status == K.FAIL]
    if bad:
        result.submods = [_failed(INTEGRITY, "; ".join(f"{c.name}: {c.reason}" for c in bad))]
        return result
    psub, cmp = platform_submod(plat, endorsements.platform, strict=policy.strict)
    rsub = realm_submod(realm, endorsements.realms, strict=policy.strict)
    result.submods = [psub, rsub]
    result.platform = cmp
    return result
