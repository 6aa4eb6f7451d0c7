"""``rmtool corim verify``: signed CoRIMs (COSE_Sign1, as cocli / veraison/corim sign them).

The corpus signed CoRIMs of veraison/cocli and veraison/corim are signed with the P-256 test
key ``corim/src/corimlib_corim_src_ec-p256.jwk`` (veraison/corim corim/testcases/src); the
certificate case signs a CoRIM here with ``rmtool corim sign``'s library and a certificate made
with ``cryptography``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rmtool.cli.main import run
from rmtool.verify.corim._sign import sign_corim
from tests.conftest import CORPUS, need_shared

CBOR = CORPUS / "corim" / "cbor"
KEY = CORPUS / "corim" / "src" / "corimlib_corim_src_ec-p256.jwk"
SIGNED = ["cocli_corim_signed-corim.cbor", "cocli_corim_signed-corim-cbor.cbor",
          "cocli_cmdtest_signed-corim-valid.cbor",
          "cocli_cmdtest_signed-corim-valid-with-cots.cbor",
          "corimlib_corim_signed-good-corim.cbor", "corimlib_corim_signed-example-corim.cbor",
          "corimlib_corim_signed-corim-with-extensions.cbor"]


@pytest.fixture(autouse=True)
def _shared() -> None:
    need_shared()


def _sign1(name: str) -> list[Any]:
    """The four COSE_Sign1 items of a corpus signed CoRIM, as a list to edit."""
    return list(cbor2.loads((CBOR / name).read_bytes()).value)


def _write(path: Path, items: list[Any]) -> Path:
    path.write_bytes(cbor2.dumps(cbor2.CBORTag(18, items)))
    return path


@pytest.mark.parametrize("name", SIGNED)
def test_upstream_signed_corims_verify(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["corim", "verify", str(CBOR / name), "--key", str(KEY), "--format",
                "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["valid"], out["alg"], out["reason"]) == (True, "ES256",
                                                         "ES256 signature verifies")


def test_flipped_signature_bit_is_invalid(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    items = _sign1("corimlib_corim_signed-good-corim.cbor")
    sig = bytearray(items[3])
    sig[5] ^= 1
    items[3] = bytes(sig)
    path = _write(tmp_path / "bad.cbor", items)
    assert run(["corim", "verify", str(path), "--key", str(KEY)]) == 1
    assert "INVALID (ES256 signature does not verify)" in capsys.readouterr().out


def test_payload_swapped_under_a_valid_signature_is_invalid(tmp_path: Path) -> None:
    """The payload of one signed CoRIM under the signature of another."""
    a = _sign1("corimlib_corim_signed-good-corim.cbor")
    a[2] = _sign1("corimlib_corim_signed-example-corim.cbor")[2]
    path = _write(tmp_path / "swapped.cbor", a)
    assert run(["corim", "verify", str(path), "--key", str(KEY)]) == 1


def test_wrong_key_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert run(["corim", "verify", str(CBOR / "cocli_corim_signed-corim.cbor"), "--key",
                str(other)]) == 1
    assert "ES256 signature does not verify" in capsys.readouterr().out


def test_key_of_another_curve_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    p384 = CORPUS / "tokens" / "keys" / "tfmtools_cca_platform.pem"
    assert run(["corim", "verify", str(CBOR / "cocli_corim_signed-corim.cbor"), "--key",
                str(p384)]) == 1
    assert "key curve secp384r1 does not match alg ES256" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "message"), [
    ("cocli_corim_unsigned-corim.cbor", "is an unsigned CoRIM: nothing to verify"),
    ("cocli_cmdtest_signed-corim-invalid.cbor", "signed CoRIM payload is not a corim-map"),
    ("cocli_corim_signed-corim-bad-signature.cbor", "trailing bytes after the CBOR item"),
])
def test_unusable_input_exits_2(name: str, message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["corim", "verify", str(CBOR / name), "--key", str(KEY)]) == 2
    assert message in capsys.readouterr().err


def test_key_and_cert_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["corim", "verify", str(CBOR / "cocli_corim_signed-corim.cbor")]) == 2
    assert "exactly one of --key KEY and --cert CERT" in capsys.readouterr().err


def _cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rmtool test signer")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def test_cert_verifies_a_corim_signed_with_its_key(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = _cert(key)
    der = cert.public_bytes(serialization.Encoding.DER)
    unsigned = (CBOR / "services_armcca_corim-cca-realm-valid.cbor").read_bytes()
    signed = tmp_path / "signed.cbor"
    signed.write_bytes(sign_corim(unsigned, key, cert_chain=[der]))
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert run(["corim", "verify", str(signed), "--cert", str(pem), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["alg"], out["x5chain_leaf_matches_cert"]) == ("ES384", True)
    other = tmp_path / "other.pem"
    other.write_bytes(_cert(ec.generate_private_key(ec.SECP384R1())).public_bytes(
        serialization.Encoding.PEM))
    assert run(["corim", "verify", str(signed), "--cert", str(other), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["valid"], out["x5chain_leaf_matches_cert"]) == (False, False)


def test_alg_only_in_unprotected_header_is_invalid(tmp_path: Path) -> None:
    """An attacker moving alg out of the signed header (RFC 9052 §3: alg is protected)."""
    items = _sign1("corimlib_corim_signed-good-corim.cbor")
    prot = dict(cbor2.loads(items[0]))
    alg = prot.pop(1)
    items[0] = cbor2.dumps(prot)
    items[1] = {1: alg}
    path = _write(tmp_path / "moved.cbor", items)
    assert run(["corim", "verify", str(path), "--key", str(KEY)]) == 1
