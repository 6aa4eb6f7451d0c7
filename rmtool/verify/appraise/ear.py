"""EAT Attestation Results (EAR) for an appraisal: claims, JWT signing, JSON.

Claims follow draft-fv-rats-ear (``eat_profile`` ``tag:github.com,2023:veraison/ear``) as
veraison/ear ``ear.go`` and ``ear_appraisal.go`` serialise them: ``eat_profile``, ``iat``,
``ear.verifier-id`` {``build``, ``developer``}, ``eat_nonce`` (the session nonce, base64url
as Veraison's ``vts/appraisal/context.go`` encodes it), and ``submods`` whose appraisals
carry ``ear.status`` (tier name), ``ear.trustworthiness-vector`` (the eight AR4SI claims),
``ear.appraisal-policy-id`` and, for a failed appraisal, Veraison's
``ear.veraison.policy-claims`` {``problem``}.

A signed EAR is a JWT (RFC 7519) signed ES256 (P-256 key) or ES384 (P-384 key) with joserfc
(a maintained JOSE library already in the environment; veraison/ear signs with lestrrat-go
jwx). Without a key the EAR is written as unsigned JSON.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from rmtool import __version__
from rmtool._files import LIMITS, read_bounded
from rmtool.errors import UsageError
from rmtool.verify import cose
from rmtool.verify.appraise import ar4si as A
from rmtool.verify.appraise.appraisal import POLICY_ID, Appraisal

EAR_PROFILE = "tag:github.com,2023:veraison/ear"
DEVELOPER = "rmtool"
JWS_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384"}


def ear_claims(result: Appraisal, *, issued_at: int | None = None) -> dict[str, Any]:
    """The EAR claims set of ``result``."""
    submods: dict[str, Any] = {}
    for sub in result.submods:
        appraisal: dict[str, Any] = {
            "ear.status": sub.status,
            "ear.trustworthiness-vector": {c: sub.vector[c] for c in A.CLAIMS},
            "ear.appraisal-policy-id": POLICY_ID,
        }
        if sub.problem is not None:
            appraisal["ear.veraison.policy-claims"] = {"problem": sub.problem}
        submods[sub.name] = appraisal
    claims: dict[str, Any] = {
        "eat_profile": EAR_PROFILE,
        "iat": int(time.time()) if issued_at is None else issued_at,
        "ear.verifier-id": {"build": f"rmtool {__version__}", "developer": DEVELOPER},
        "submods": submods,
    }
    if result.nonce is not None:
        claims["eat_nonce"] = base64.urlsafe_b64encode(result.nonce).decode()
    return claims


def load_ear_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The EAR signing key: a P-256 or P-384 private key (PEM or JWK)."""
    key = cose.load_private_key(read_bounded(path, LIMITS["key"], "key", UsageError), path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in JWS_ALGS:
        raise UsageError(f"--ear-key {path}: an EAR is signed ES256 or ES384; give a P-256 or "
                         "P-384 private key", field="ear-key")
    return key


def sign_ear(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    """The EAR as a compact JWS (JWT), ES256 or ES384 by the key's curve."""
    from joserfc import jwt
    from joserfc.jwk import ECKey

    alg = JWS_ALGS.get(key.curve.name)
    if alg is None:
        raise UsageError(f"EAR keys are P-256 or P-384, not {key.curve.name}", field="ear-key")
    return jwt.encode({"alg": alg, "typ": "JWT"}, claims, ECKey.import_key(key),
                      algorithms=[alg])


def ear_json(claims: dict[str, Any]) -> str:
    """The unsigned EAR (JSON text)."""
    return json.dumps(claims, indent=2, sort_keys=True) + "\n"
