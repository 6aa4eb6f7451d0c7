"""The appraisal semantics of veraison/rust-ccatoken (``src/token/evidence.rs``), for its stores.

rust-ccatoken (and trustee's local CCA verifier built on it) keeps a platform and a realm
trust vector and fills them in two passes:

* ``Evidence::verify`` (run when trust anchors are given): the CPAK is looked up by instance
  id only; none: platform instance-identity 97 (unrecognized), realm all 0; a platform
  signature that fails: platform all 99, realm all 0; otherwise platform instance-identity 2;
  a realm signature or binding that fails: realm all 99; otherwise realm instance-identity 2;
* ``Evidence::appraise`` (run when reference values are given): platform reference values by
  implementation id (none: platform hardware 97, realm all 0); a reference matches when its
  config equals the token's and its software components equal the token's one by one (value
  and signer id; type and version where the reference gives them;
  ``src/store/platformrefvalue.rs``): instance 2, hardware 2, executables 3, configuration 2,
  runtime-opaque 32; no match: hardware 97 and realm all 0. Realm reference values by RIM
  (none: executables -97); REMs given and equal: executables 2; no REMs given: 3; REMs
  given, none equal: 96. The personalization value is not compared.

rmtool adds the nonce check when ``--challenge`` is given (realm all 99 on mismatch, named).
"""

from __future__ import annotations

from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.appraisal import (
    PLATFORM_SUBMOD,
    REALM_SUBMOD,
    Appraisal,
    AppraisePolicy,
    padded_nonce,
)
from rmtool.verify.appraise.endorsements import Endorsements, PlatformReference, SwComponentRef
from rmtool.verify.token import _claims as C
from rmtool.verify.token import checks as K
from rmtool.verify.token.codec import CcaToken

UNRECOGNIZED = 97            # UNRECOGNIZED_INSTANCE / UNRECOGNIZED_HARDWARE
ISOLATED_MEMORY_RUNTIME = 32
UNRECOGNIZED_BOOT = -97      # rust-ccatoken's own "unrecognized boot"

def _component_equal(ref: SwComponentRef, tok: C.SwComponent) -> bool:
    """``PartialEq<token::SwComponent> for SwComponent`` (src/store/platformrefvalue.rs):
    value and signer id equal; type and version equal where the reference gives them."""
    value = ref.digests[0][1] if ref.digests else None
    return (value == tok.measurement_value and ref.signer_id == tok.signer_id
            and (ref.label is None or ref.label == tok.measurement_type)
            and (ref.version is None or ref.version == tok.version))


def _platform_equal(ref: PlatformReference, claims: C.PlatformClaims) -> bool:
    comps = claims.sw_components or []
    return ((ref.config or b"") == (claims.config or b"") and len(ref.components) == len(comps)
            and all(_component_equal(r, t) for r, t in zip(ref.components, comps, strict=True)))


def _verify(token: CcaToken, endorsements: Endorsements, policy: AppraisePolicy,
            plat: A.Submod, realm: A.Submod, result: Appraisal) -> bool:
    assert token.platform is not None
    claims = token.platform.claims
    anchors = [a for a in endorsements.trust_anchors if a.instance_id == claims.instance_id]
    if not anchors:
        plat.set(A.INSTANCE_IDENTITY, UNRECOGNIZED,
                 f"no CPAK in the TA store for instance id {C.hexs(claims.instance_id)}")
        realm.set_all(A.NO_CLAIM, "platform unknown: the realm is not appraised")
        return False
    result.trust_anchor = anchors[0]
    nonce = padded_nonce(policy.challenge) if policy.challenge is not None else None
    checks = K.verify(token, K.VerifyPolicy(platform_keys=(anchors[0].key,), challenge=nonce))
    result.checks = list(checks.checks)
    by_name = {c.name: c for c in checks.checks}
    sig = by_name["platform.signature"]
    if sig.status == K.FAIL:
        plat.set_all(A.CRYPTO_VALIDATION_FAILED, f"platform.signature: {sig.reason}")
        realm.set_all(A.NO_CLAIM, "platform token not verified: the realm is not appraised")
        return False
    plat.set(A.INSTANCE_IDENTITY, A.TRUSTWORTHY_INSTANCE, f"CPAK {anchors[0].source}: "
             f"{sig.reason}")
    for name in ("realm.signature", "binding", "realm.challenge"):
        check = by_name.get(name)
        if check is not None and check.status == K.FAIL:
            realm.set_all(A.CRYPTO_VALIDATION_FAILED, f"{name}: {check.reason}")
            return True
    realm.set(A.INSTANCE_IDENTITY, A.TRUSTWORTHY_INSTANCE,
              "realm signature and binding verify")
    return True


def _appraise(token: CcaToken, endorsements: Endorsements, plat: A.Submod,
              realm: A.Submod) -> None:
    assert token.platform is not None and token.realm is not None
    claims = token.platform.claims
    refs = [r for r in endorsements.platform if r.implementation_id == claims.implementation_id]
    if not refs:
        plat.set(A.HARDWARE, UNRECOGNIZED, f"no platform reference values for implementation "
                 f"id {C.hexs(claims.implementation_id)}")
        realm.set_all(A.NO_CLAIM, "platform unknown: the realm is not appraised")
        return
    match = next((r for r in refs if _platform_equal(r, claims)), None)
    if match is None:
        plat.set(A.HARDWARE, UNRECOGNIZED,
                 f"none of {len(refs)} platform reference value(s) has this config and exactly "
                 "these software components (value, signer id, and type and version where given)")
        realm.set_all(A.NO_CLAIM, "platform not recognized: the realm is not appraised")
        return
    why = f"config and software components equal {match.source}"
    plat.set(A.INSTANCE_IDENTITY, A.TRUSTWORTHY_INSTANCE, why)
    plat.set(A.HARDWARE, A.GENUINE_HARDWARE, why)
    plat.set(A.EXECUTABLES, A.APPROVED_BOOT, why)
    plat.set(A.CONFIGURATION, A.APPROVED_CONFIG, why)
    plat.set(A.RUNTIME_OPAQUE, ISOLATED_MEMORY_RUNTIME, why)
    rim = token.realm.claims.rim or b""
    rrefs = [r for r in endorsements.realms if r.values.rim == rim]
    if not rrefs:
        realm.set(A.EXECUTABLES, UNRECOGNIZED_BOOT,
                  f"realm RIM {rim.hex()[:8]}… matches no reference value")
        return
    rems = token.realm.claims.rems or []
    for ref in rrefs:
        want = ref.values.rems
        if any(w is not None for w in want):
            if list(want) == list(rems):
                realm.set(A.EXECUTABLES, A.APPROVED_RUNTIME,
                          f"RIM and REMs equal {ref.source}")
                return
            continue
        realm.set(A.EXECUTABLES, A.APPROVED_BOOT, f"RIM equals {ref.source} (no REMs given)")
        return
    realm.set(A.EXECUTABLES, A.CONTRAINDICATED_RUNTIME,
              "the RIM is known but no reference value has the token's REMs")


def appraise_rust_ccatoken(token: CcaToken, endorsements: Endorsements,
                           policy: AppraisePolicy | None = None) -> Appraisal:
    """``Evidence::verify`` (when trust anchors are given) then ``Evidence::appraise`` (when
    reference values are given), as rust-ccatoken's tests and trustee call them."""
    policy = policy or AppraisePolicy()
    plat, realm = A.Submod(PLATFORM_SUBMOD), A.Submod(REALM_SUBMOD)
    nonce = padded_nonce(policy.challenge) if policy.challenge is not None else None
    result = Appraisal([plat, realm], nonce=nonce, notes=list(endorsements.notes))
    result.notes.append("semantics: rust-ccatoken (src/token/evidence.rs)")
    if nonce is None:
        result.waived.append("freshness: no --challenge given, the realm challenge was not "
                             "compared with a nonce")
    if token.platform is None or token.realm is None:
        missing = "platform" if token.platform is None else "realm"
        plat.set_all(A.UNEXPECTED_EVIDENCE, f"the token has no {missing} token")
        realm.set_all(A.UNEXPECTED_EVIDENCE, f"the token has no {missing} token")
        return result
    has_refs = bool(endorsements.platform or endorsements.realms)
    verified = True
    if endorsements.trust_anchors or not has_refs:
        verified = _verify(token, endorsements, policy, plat, realm, result)
    else:
        result.signatures_verified = False
        result.waived.append("signatures: no trust anchors given, only the appraisal pass "
                             "ran (rust-ccatoken Evidence::appraise)")
    if verified and has_refs:
        _appraise(token, endorsements, plat, realm)
    return result
