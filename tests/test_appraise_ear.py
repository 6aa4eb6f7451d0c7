"""EARs written by ``rmtool appraise --ear``: verified with an independent implementation and
checked against the EAR CDDL.

The JWT is signed by joserfc (rmtool.verify.appraise.ear); here it is verified with raw
``cryptography`` ECDSA over the JWS signing input (RFC 7515 §5.2, RFC 7518 §3.4: r || s).
The claims are validated with cddl-verifier against the JSON serialisation of
draft-fv-rats-ear (the labels of ``cddl/json-labels.cddl`` in ietf-rats-wg/draft-ietf-rats-ear,
with veraison/ear's profile and its ``ear.veraison.policy-claims`` extension), written below.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rmtool.cli.main import run
from tests.conftest import CORPUS, need_shared

CBOR = CORPUS / "corim" / "cbor"
GOOD_TOKEN = CORPUS / "tokens" / "services_arm-cca_cca-good.cbor"
PLATFORM = CBOR / "services_armcca_corim-cca-platform-valid.cbor"
REALM = CBOR / "services_armcca_corim-cca-realm-valid.cbor"
NONCE = base64.b64decode("byTWuWNaLIu/WOkIuU4Ewb+zroDN6+gyQkV4SZ/jF2Hn9eHYvOASGET1Sr36UobaiPU6"
                         "ZXsVM1yTlrQyklS8XA==")

# draft-fv-rats-ear, JSON serialisation, as veraison/ear (profile tag:github.com,2023) emits it.
EAR_CDDL = """
ear = {
  "eat_profile" => "tag:github.com,2023:veraison/ear"
  "iat" => int
  "ear.verifier-id" => verifier-id
  ? "ear.raw-evidence" => text
  ? "eat_nonce" => text .size (10..88)
  "submods" => { + text => ear-appraisal }
}
verifier-id = { "developer" => text, "build" => text }
ear-appraisal = {
  "ear.status" => trust-tier
  ? "ear.trustworthiness-vector" => trustworthiness-vector
  ? "ear.appraisal-policy-id" => text
  ? "ear.veraison.policy-claims" => { * text => any }
}
trust-tier = "none" / "affirming" / "warning" / "contraindicated"
trustworthiness-vector = {
  ? "instance-identity" => claim
  ? "configuration" => claim
  ? "executables" => claim
  ? "file-system" => claim
  ? "hardware" => claim
  ? "runtime-opaque" => claim
  ? "storage-opaque" => claim
  ? "sourced-data" => claim
}
claim = -128..127
"""


@pytest.fixture(autouse=True)
def _shared() -> None:
    need_shared()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jws(token: str, key: ec.EllipticCurvePublicKey) -> tuple[dict[str, Any], Any]:
    """Header and claims of a compact JWS verified with raw ECDSA (not a JOSE library)."""
    head, payload, sig = token.split(".")
    header = json.loads(_b64(head))
    size = {"ES256": 32, "ES384": 48}[header["alg"]]
    digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384()}[header["alg"]]
    raw = _b64(sig)
    assert len(raw) == 2 * size
    der = encode_dss_signature(int.from_bytes(raw[:size], "big"),
                               int.from_bytes(raw[size:], "big"))
    key.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(digest))
    return header, json.loads(_b64(payload))


def _cddl_problems(claims: dict[str, Any]) -> list[str]:
    import cddl_verifier

    result = cddl_verifier.Validator(EAR_CDDL, features={"cbor"}).validate(
        cbor2.dumps(claims), "ear")
    return [str(d.message) for d in result.diagnostics]


def _write_key(tmp_path: Path, curve: ec.EllipticCurve) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(curve)
    path = tmp_path / "ear-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


def _appraise(tmp_path: Path, *extra: str, corims: tuple[Path, ...] = (PLATFORM, REALM)) -> int:
    args = ["appraise", str(GOOD_TOKEN), "--challenge", NONCE.hex(), "--ear",
            str(tmp_path / "ear.out")]
    for c in corims:
        args += ["--corim", str(c)]
    return run([*args, *extra])


@pytest.mark.parametrize(("curve", "alg"), [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384")])
def test_signed_ear_verifies_with_raw_ecdsa(tmp_path: Path, curve: ec.EllipticCurve,
                                           alg: str) -> None:
    key_path, key = _write_key(tmp_path, curve)
    assert _appraise(tmp_path, "--ear-key", str(key_path)) == 0
    header, claims = _verify_jws((tmp_path / "ear.out").read_text(), key.public_key())
    assert header == {"alg": alg, "typ": "JWT"}
    assert claims["eat_profile"] == "tag:github.com,2023:veraison/ear"
    assert claims["submods"]["CCA_SSD_PLATFORM"]["ear.status"] == "affirming"
    assert claims["submods"]["CCA_REALM"]["ear.trustworthiness-vector"]["executables"] == 2
    assert claims["eat_nonce"] == base64.urlsafe_b64encode(NONCE).decode()
    assert _cddl_problems(claims) == []


def test_tampered_ear_does_not_verify(tmp_path: Path) -> None:
    """A relying party's check catches a status edited after signing."""
    key_path, key = _write_key(tmp_path, ec.SECP256R1())
    assert _appraise(tmp_path, "--ear-key", str(key_path), corims=(PLATFORM,)) == 1
    head, payload, sig = (tmp_path / "ear.out").read_text().split(".")
    claims = json.loads(_b64(payload))
    assert claims["submods"]["CCA_REALM"]["ear.status"] == "warning"
    claims["submods"]["CCA_REALM"]["ear.status"] = "affirming"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        _verify_jws(f"{head}.{forged}.{sig}", key.public_key())


def test_unsigned_ear_of_a_failed_appraisal(tmp_path: Path) -> None:
    """Without --ear-key: unsigned JSON; a wrong nonce gives Veraison's single ARM_CCA
    submod with every claim 99 and the problem in ear.veraison.policy-claims."""
    args = ["appraise", str(GOOD_TOKEN), "--corim", str(PLATFORM), "--corim", str(REALM),
            "--challenge", "00" * 64, "--ear", str(tmp_path / "ear.json")]
    assert run(args) == 1
    claims = json.loads((tmp_path / "ear.json").read_text())
    sub = claims["submods"]["ARM_CCA"]
    assert sub["ear.status"] == "contraindicated"
    assert set(sub["ear.trustworthiness-vector"].values()) == {99}
    assert sub["ear.veraison.policy-claims"]["problem"].startswith(
        "integrity validation failed: realm.challenge")
    assert _cddl_problems(claims) == []


def test_ear_key_on_an_unsupported_curve_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    key_path, _ = _write_key(tmp_path, ec.SECP521R1())
    assert _appraise(tmp_path, "--ear-key", str(key_path)) == 2
    assert "give a P-256 or P-384 private key" in capsys.readouterr().err
    assert not (tmp_path / "ear.out").exists()


def test_cddl_rejects_a_bad_ear() -> None:
    """The schema above is not vacuous: a wrong tier name and a missing iat are caught."""
    bad = {"eat_profile": "tag:github.com,2023:veraison/ear",
           "ear.verifier-id": {"developer": "x", "build": "y"},
           "submods": {"X": {"ear.status": "great"}}}
    assert _cddl_problems(bad)
