"""Red-team regressions: each test is an attack on a PASS/MATCH verdict (docs/security.md).

The attacker holds genuine corpus tokens (their bytes may be reused) and keys generated
here with ``cryptography``, never the CPAK or RAK private keys. Those published TEST keys
(corpus PROVENANCE.md: ``tfmtools_cca_platform.pem``, ``tfmtools_cca_realm.pem``) are used
only to stand in for the genuine platform, e.g. a platform that signs a header rmtool
must not accept. Every test asserts the exit status and the exact reason of the refusal.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from rmtool.cli.main import run
from rmtool.verify import cose
from rmtool.verify.token.codec import build_realm_token, decode_token
from tests.conftest import CORPUS

TOKENS = CORPUS / "tokens"
CPAK_FILE = TOKENS / "keys" / "tfmtools_cca_platform.pem"  # PROVENANCE: signs the tf-m tokens
GOOD = TOKENS / "tfmtools_cca_example_token_2024-05.cbor"  # tag 399, CPAK-signed, bound
OTHER = TOKENS / "tfmtools_cca_token_2022.cbor"  # another genuine token of the same CPAK

pytestmark = pytest.mark.skipif(not TOKENS.is_dir(), reason="shared token corpus not present")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _parts(path: Path = GOOD) -> tuple[bytes, bytes]:
    body = cbor2.loads(path.read_bytes()).value
    return body[44234], body[44241]


def _coll(platform: bytes, realm: bytes, tag: int = 399) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(tag, {44234: platform, 44241: realm}))


def _sign1(encoded: bytes) -> list[Any]:
    return list(cbor2.loads(encoded).value)


def _platform_signed(protected: bytes, unprotected: dict[Any, Any] | None = None) -> bytes:
    """The genuine platform's claims, signed by the (test) CPAK under ``protected``."""
    key = cose.load_key(CPAK_FILE)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = _sign1(_parts()[0])[2]
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(cose.ES384.hash())))
    sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected or {}, payload, sig]))


def _write(tmp_path: Path, data: bytes, name: str = "t.cbor") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _refs(path: Path | str = GOOD) -> list[str]:
    realm = decode_token(Path(path).read_bytes()).realm
    assert realm is not None and realm.claims.rim is not None and realm.claims.rems
    args = ["--rim", realm.claims.rim.hex()]
    for i, rem in enumerate(realm.claims.rems):
        args += [f"--rem{i}", rem.hex()]
    return args


def _verify_json(capsys: pytest.CaptureFixture[str], token: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                        "--format", "json")
    return code, {c["check"]: c for c in json.loads(out)["checks"]}


def _refused(capsys: pytest.CaptureFixture[str], token: str, check: str, reason: str) -> None:
    """token verify and compare (claims matching) both refuse, naming ``check``."""
    code, checks = _verify_json(capsys, token)
    assert code == 1
    assert checks[check]["status"] == "fail"
    assert reason in checks[check]["reason"]
    code, out, _ = _cli(capsys, "compare", token, "--platform-key", str(CPAK_FILE),
                        *_refs(token))
    assert code == 1
    assert "claims: MATCH" in out
    assert out.splitlines()[-1].startswith(f"verdict: FAIL (token verification failed: "
                                           f"{check}: ")


def _unusable(capsys: pytest.CaptureFixture[str], token: str, message: str) -> None:
    for args in (["token", "verify", token], ["compare", token, *_refs()]):
        code, out, err = _cli(capsys, *args, "--platform-key", str(CPAK_FILE))
        assert code == 2 and "PASS" not in out and "MATCH" not in out
        assert message in err


def test_baseline_genuine_token_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """The untouched corpus token passes: every refusal below is the attack's doing."""
    assert _cli(capsys, "token", "verify", str(GOOD), "--platform-key", str(CPAK_FILE))[0] == 0
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                        *_refs())
    assert code == 0 and out.splitlines()[-1] == "verdict: MATCH"


# ---------------------------------------------------------------- fixed: COSE headers


def test_unprotected_alg_beside_the_signed_one(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: add ``alg`` ES256 to the UNSIGNED bucket of a genuine platform token.

    RFC 9052 §3: a label must not occur in both buckets; a verifier that reads the
    unprotected one would judge another algorithm than the one that was signed. Used to
    PASS; now platform.signature fails.
    """
    plat, realm = _parts()
    parts = _sign1(plat)
    parts[1] = {1: -7}
    token = _write(tmp_path, _coll(cbor2.dumps(cbor2.CBORTag(18, parts)), realm))
    _refused(capsys, token, "platform.signature",
             "platform header label 1 is in both the protected and the unprotected header "
             "(RFC 9052 §3)")


def test_crit_in_unprotected_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: an unsigned ``crit`` (2). RFC 9052 §3.1: crit must be protected."""
    plat, realm = _parts()
    parts = _sign1(plat)
    parts[1] = {2: [99]}
    token = _write(tmp_path, _coll(cbor2.dumps(cbor2.CBORTag(18, parts)), realm))
    _refused(capsys, token, "platform.signature", "crit (2) is in the unprotected header")


def test_signed_crit_naming_an_unknown_parameter(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A platform signs ``crit: [99]``: RFC 9052 §3.1 says processing MUST fail when a
    critical parameter is not understood. Used to PASS (crit was ignored)."""
    prot = cbor2.dumps({1: -35, 2: [99], 99: 1})
    token = _write(tmp_path, _coll(_platform_signed(prot), _parts()[1]))
    _refused(capsys, token, "platform.signature",
             "crit (2) names header parameter 99, which rmtool does not understand")
    # crit naming alg (RFC 9052 §3.1: always understood) is fine
    ok = _write(tmp_path, _coll(_platform_signed(cbor2.dumps({1: -35, 2: [1]})), _parts()[1]),
                "ok.cbor")
    assert _verify_json(capsys, ok)[0] == 0


@pytest.mark.parametrize("protected,encoded", [
    (b"\xa1\xf5\x38\x22", "f5"),  # {true: -35}: Python's dict reads True as label 1
    (b"\xa1\xf9\x3c\x00\x38\x22", "f93c00"),  # {1.0: -35}: a half-float key
])
def test_alg_under_a_key_that_only_python_calls_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], protected: bytes,
        encoded: str) -> None:
    """A protected header whose ``alg`` sits under ``true`` or ``1.0``: COSE labels are
    int / tstr (RFC 9052 §1.5), so it has no alg; rmtool read it as alg ES384 and PASSed."""
    token = _write(tmp_path, _coll(_platform_signed(protected), _parts()[1]))
    _unusable(capsys, token, f"platform token protected header: CBOR map key encoded as "
              f"{encoded} is not an integer or text string")


# ---------------------------------------------------------------- fixed: collection encoding


def _map_with_key(key: bytes) -> bytes:
    plat, realm = _parts()
    return (b"\xd9\x01\x8f\xa2" + key + cbor2.dumps(plat) + cbor2.dumps(44241)
            + cbor2.dumps(realm))


@pytest.mark.parametrize("key,encoded", [
    (b"\xfa" + struct.pack(">f", 44234.0), "fa472cca00"),
    (cbor2.dumps(cbor2.CBORTag(2, (44234).to_bytes(2, "big"))), "c242acca"),
    (cbor2.dumps(cbor2.CBORTag(4, [0, 44234])), "c4820019acca"),
])
def test_collection_key_that_decodes_equal_to_44234(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: bytes, encoded: str) -> None:
    """The platform entry under 44234.0 / bignum 44234 / decimal 44234: cbor2 yields a
    value equal to the int, other decoders do not (RFC 8949 §3.4.3, §5.6; RFC 8392 §3
    keys are int / tstr). Used to PASS; now unusable input."""
    token = _write(tmp_path, _map_with_key(key))
    _unusable(capsys, token, f"token: CBOR map key encoded as {encoded} is not an integer or "
              "text string (RFC 9052 §1.5, RFC 8392 §3) (offset 0x4)")


def test_duplicate_pat_hidden_by_a_stringref(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A Parsec wrapper naming "pat" twice, the second time as stringref tag 25(0) inside
    tag 256: the per-key duplicate scan (RFC 8949 §5.6) cannot resolve the reference, and
    cbor2 keeps the LAST token while a first-wins verifier reads the first. Used to PASS
    with the second token; aliasing tags are now refused like 28/29."""
    first = GOOD.read_bytes()
    second = OTHER.read_bytes()
    data = (b"\xd9\x01\x00\xa2" + cbor2.dumps("pat") + first
            + cbor2.dumps(cbor2.CBORTag(25, 0)) + second)
    assert cbor2.loads(data)["pat"].value[44241] == cbor2.loads(second).value[44241]
    token = _write(tmp_path, data)
    _unusable(capsys, token, "token: CBOR aliasing tag 256 (shared value or string reference) "
              "not allowed (offset 0x0)")


# ---------------------------------------------------------------- fixed: reference files


def _endorsements(tmp_path: Path, regs: dict[str, Any] | str) -> str:
    realm = decode_token(GOOD.read_bytes()).realm
    assert realm is not None and realm.claims.personalization_value is not None
    rpv = base64.b64encode(realm.claims.personalization_value).decode()
    regs_text = regs if isinstance(regs, str) else json.dumps(regs)
    raw_value = json.dumps({"type": "bytes", "value": rpv})
    mval = '{"integrity-registers": ' + regs_text + ', "raw-value": ' + raw_value + "}"
    doc = ('{"tag-identity": {"id": "x"}, "triples": {"reference-values": '
           '[{"environment": {}, "measurements": [{"value": ' + mval + '}]}]}}')
    path = tmp_path / "endorsements.json"
    path.write_text(doc)
    return str(path)


WRONG = "sha-256;" + base64.b64encode(b"\x66" * 32).decode()


@pytest.mark.parametrize("name", ["RIM", "cca.rim"])
def test_endorsement_rim_under_another_spelling_is_compared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """A wrong RIM reference under "RIM" / "cca.rim" was skipped, so MATCH rested on the
    RPV alone. It is now read as the RIM (as the CoRIM reader does) and mismatches."""
    ref = _endorsements(tmp_path, {name: [WRONG]})
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                        "--endorsements", ref)
    assert code == 1 and out.splitlines()[-1] == "verdict: MISMATCH"
    assert "RIM mismatch: token " in out


def test_endorsement_with_an_unknown_register(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A register rmtool cannot compare ("rim1") used to be ignored silently: MATCH on
    the RPV alone. docs/security.md: MATCH needs every reference given to match."""
    ref = _endorsements(tmp_path, {"rim1": [WRONG]})
    code, out, err = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                          "--endorsements", ref)
    assert code == 2 and "MATCH" not in out
    assert "integrity-registers: unknown register 'rim1' (expected rim, rem0..rem3)" in err


def test_endorsement_naming_rim_twice(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """{"rim": wrong, "rim": right}: Python keeps the last (MATCH), other JSON readers the
    first (MISMATCH). RFC 8259 §4: names SHOULD be unique; now an error."""
    realm = decode_token(GOOD.read_bytes()).realm
    assert realm is not None and realm.claims.rim is not None
    right = "sha-256;" + base64.b64encode(realm.claims.rim).decode()
    ref = _endorsements(tmp_path, f'{{"rim": ["{WRONG}"], "rim": ["{right}"]}}')
    code, out, err = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                          "--endorsements", ref)
    assert code == 2 and "MATCH" not in out
    assert 'duplicate JSON object key "rim"' in err


def test_endorsement_with_an_empty_rim_list(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """{"rim": []} gave no RIM reference at all, and MATCH rested on the RPV."""
    ref = _endorsements(tmp_path, {"rim": []})
    code, out, err = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                          "--endorsements", ref)
    assert code == 2 and "MATCH" not in out
    assert "measurements[0].rim: no digest value (an empty reference matches nothing)" in err


# ---------------------------------------------------------------- refused before (guards)


def test_genuine_platform_with_attackers_realm_token(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Attacker's RAK signs edited realm claims beside the genuine platform token: the
    platform challenge is the hash of the genuine RAK (draft-ffm-rats-cca-token §3)."""
    plat, realm = _parts()
    claims = cbor2.loads(_sign1(realm)[2])
    rak = ec.generate_private_key(ec.SECP384R1())
    claims[44237] = cose.encode_raw_point(rak.public_key())
    claims[44238] = b"\x66" * 32
    token = _write(tmp_path, _coll(plat, build_realm_token(claims, rak)))
    _refused(capsys, token, "binding", "!= sha-256(RAK)")


def test_genuine_realm_token_with_edited_rim(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The genuine realm COSE_Sign1 with its RIM claim edited: RFC 9052 §4.4, the
    signature covers the payload bytes."""
    plat, realm = _parts()
    parts = _sign1(realm)
    claims = cbor2.loads(parts[2])
    claims[44238] = b"\x66" * 32
    parts[2] = cbor2.dumps(claims)
    token = _write(tmp_path, _coll(plat, cbor2.dumps(cbor2.CBORTag(18, parts))))
    _refused(capsys, token, "realm.signature", "ES384 signature does not verify")


def _with_signature(tmp_path: Path, sig: bytes) -> str:
    plat, realm = _parts()
    parts = _sign1(plat)
    parts[3] = sig
    return _write(tmp_path, _coll(cbor2.dumps(cbor2.CBORTag(18, parts)), realm))


def test_der_and_resized_signatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 9053 §2.1: an ECDSA signature is r || s, each the curve's size; DER, padded,
    trimmed and empty encodings of the genuine signature are not it."""
    sig = _sign1(_parts()[0])[3]
    r, s = int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big")
    der = encode_dss_signature(r, s)
    for bad, found in ((der, len(der)), (b"\x00" + sig, 97), (sig[:-1], 95), (b"", 0)):
        _refused(capsys, _with_signature(tmp_path, bad), "platform.signature",
                 f"ES384 signature must be 96 bytes, found {found}")
    _refused(capsys, _with_signature(tmp_path, sig[:48] + bytes(48)), "platform.signature",
             "ES384 signature does not verify")


def test_other_sig_structure_context_or_external_aad(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 9052 §4.4: Sign1 signs ["Signature1", protected, h'', payload]; a signature
    made over the "Signature" context or with external_aad does not verify."""
    key = cose.load_key(CPAK_FILE)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    plat, realm = _parts()
    prot, _, payload, _ = _sign1(plat)
    for context, aad in (("Signature", b""), ("Signature1", b"x")):
        tbs = cbor2.dumps([context, prot, aad, payload])
        r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(cose.ES384.hash())))
        sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        _refused(capsys, _with_signature(tmp_path, sig), "platform.signature",
                 "ES384 signature does not verify")


@pytest.mark.parametrize("value,reason", [("SHA-256", "'SHA-256' is not known"),
                                          ("sha256", "'sha256' is not known")])
def test_rak_hash_algorithm_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     value: str, reason: str) -> None:
    """Claim 44240 is a Named Information hash name, case-sensitive ("sha-256",
    draft-ffm-rats-cca-token §4.2): other spellings fail the binding, not pass it."""
    rak = cose.load_key(TOKENS / "keys" / "tfmtools_cca_realm.pem")
    assert isinstance(rak, ec.EllipticCurvePrivateKey)
    plat, realm = _parts()
    claims = cbor2.loads(_sign1(realm)[2])
    claims[44240] = value
    token = _write(tmp_path, _coll(plat, build_realm_token(claims, rak)))
    _refused(capsys, token, "binding", f"RAK hash algorithm (44240) {reason}")


def test_rim_claim_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A realm payload naming 44238 twice (RFC 8949 §5.6), the second as a non-preferred
    4-byte integer: the scan compares keys as decoded and refuses the token."""
    plat, realm = _parts()
    claims = cbor2.loads(_sign1(realm)[2])
    encoded = cbor2.dumps(claims)
    assert len(claims) < 23
    dup = (bytes([0xa0 | (len(claims) + 1)]) + encoded[1:] + b"\x1a"
           + (44238).to_bytes(4, "big") + cbor2.dumps(b"\x66" * 32))
    parts = _sign1(realm)
    parts[2] = dup
    token = _write(tmp_path, _coll(plat, cbor2.dumps(cbor2.CBORTag(18, parts))))
    _unusable(capsys, token, "realm token claims: duplicate CBOR map key 44238")


def test_realm_token_alone_and_wrong_challenge(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """User mistakes on a GENUINE token: the realm token without its platform token, and
    a --challenge that is not the token's (draft-ffm-rats-cca-token §3: freshness)."""
    realm_only = _write(tmp_path, _parts()[1])
    _refused(capsys, realm_only, "platform.signature", "the token has no platform token")
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--platform-key", str(CPAK_FILE),
                        "--challenge", "00" * 64, *_refs())
    assert code == 1 and "verification: FAIL (failed: realm.challenge)" in out
