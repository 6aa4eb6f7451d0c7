"""Token verdicts must be earned (docs/security.md, "Token verification"), written as the attacks.

Forged tokens are built with rmtool's own builder (``rmtool.verify.token.codec``) and keys
generated here with ``cryptography``; the genuine ones are corpus tokens whose CPAK is
named in the corpus PROVENANCE.md (``tfmtools_cca_platform.pem``, a published TEST key).
Each test states the attack and asserts that neither ``token verify`` nor ``compare``
turns it into PASS / MATCH with exit 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.errors import CorimError, TokenError
from rmtool.verify import cose
from rmtool.verify.corim import realm as corim
from rmtool.verify.token import _claims as C
from rmtool.verify.token.codec import (
    build_cca_token,
    build_platform_token,
    build_realm_token,
    decode_token,
    make_platform_claims,
    make_realm_claims,
)
from tests.conftest import CORPUS

TOKENS = CORPUS / "tokens"
KEYS = TOKENS / "keys"
CPAK_FILE = KEYS / "tfmtools_cca_platform.pem"  # PROVENANCE: verifies the tf-m tokens
GOOD = TOKENS / "tfmtools_cca_example_token_2024-05.cbor"  # tag 399, CPAK-signed, bound

pytestmark = pytest.mark.skipif(not TOKENS.is_dir(), reason="shared token corpus not present")

RIM = bytes.fromhex("5a" * 32)
REMS = [bytes([i]) * 32 for i in range(1, 5)]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _cpak() -> ec.EllipticCurvePrivateKey:
    key = cose.load_key(CPAK_FILE)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _ref_args() -> list[str]:
    """References equal to the forged tokens' RIM and REMs: the claims always match."""
    args = ["--rim", RIM.hex()]
    for i, rem in enumerate(REMS):
        args += [f"--rem{i}", rem.hex()]
    return args


def _checks(out: str) -> dict[str, dict[str, str]]:
    doc = json.loads(out)
    checks = doc["verification"]["checks"] if "verification" in doc else doc["checks"]
    return {c["check"]: c for c in checks}


def _realm_only(tmp_path: Path) -> str:
    rak = _new_key()
    claims = make_realm_claims(rak, rim=RIM, rems=REMS)
    return _write(tmp_path, "realm-only.cbor", build_realm_token(claims, rak))


# ---------------------------------------------------------------- (a) realm-only token


@pytest.mark.parametrize("strict", [False, True])
def test_realm_only_token_signed_by_any_key_fails_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], strict: bool) -> None:
    """A bare realm COSE_Sign1 signed with the attacker's own RAK proves nothing."""
    token = _realm_only(tmp_path)
    extra = ["--strict"] if strict else []
    code, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                        *extra, "--format", "json")
    assert code == 1
    checks = _checks(out)
    assert json.loads(out)["result"] == "fail"
    assert checks["realm.signature"]["status"] == "pass"  # self-signed: of course it verifies
    assert checks["platform.signature"]["status"] == "fail"
    assert "no platform token" in checks["platform.signature"]["reason"]
    assert checks["binding"]["status"] == "fail"
    # the waiver does not waive a platform token that is not there
    code, out, _ = _cli(capsys, "token", "verify", token, "--skip-platform-signature", *extra)
    assert code == 1
    assert out.splitlines()[-1] == "result: FAIL (failed: platform.signature, binding)"


def test_realm_only_token_is_never_a_match(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """(e) compare with references equal to the forged claims: FAIL, exit 1."""
    token = _realm_only(tmp_path)
    code, out, _ = _cli(capsys, "compare", token, "--platform-key", str(CPAK_FILE),
                        *_ref_args())
    assert code == 1
    assert "claims: MATCH" in out
    last = out.splitlines()[-1]
    assert last.startswith("verdict: FAIL (token verification failed: platform.signature: "
                           "the token has no platform token")
    code, out, _ = _cli(capsys, "compare", token, "--skip-platform-signature", *_ref_args(),
                        "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["result"] == "fail" and doc["claims_result"] == "match"


# ---------------------------------------------------------------- (b) no trust anchor


def test_no_platform_key_is_a_failure_with_the_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "token", "verify", str(GOOD), "--format", "json")
    assert code == 1
    reason = _checks(out)["platform.signature"]["reason"]
    assert reason == ("ES384; not checked: no trust anchor given (give the CPAK with "
                      "--platform-key CPAK.pem, or waive this check with "
                      "--skip-platform-signature)")


def test_waived_platform_signature_passes_as_unverified(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "token", "verify", str(GOOD), "--skip-platform-signature")
    assert code == 0
    assert out.splitlines()[-1] == ("result: PASS (UNVERIFIED: platform.signature waived by "
                                    "--skip-platform-signature)")
    code, out, _ = _cli(capsys, "token", "verify", str(GOOD), "--skip-platform-signature",
                        "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["result"] == "pass"
    assert doc["unverified"] == ["platform.signature"]
    assert _checks(out)["platform.signature"]["status"] == "waived"
    # with the real CPAK nothing is unverified
    code, out, _ = _cli(capsys, "token", "verify", str(GOOD), "--platform-key", str(CPAK_FILE),
                        "--format", "json")
    assert code == 0 and json.loads(out)["unverified"] == []
    # a key and the waiver together are a usage error, not a silent choice
    code, _, err = _cli(capsys, "token", "verify", str(GOOD), "--platform-key", str(CPAK_FILE),
                        "--skip-platform-signature")
    assert code == 2 and "--skip-platform-signature and --platform-key" in err


def test_compare_waived_is_match_unverified(capsys: pytest.CaptureFixture[str]) -> None:
    realm = decode_token(GOOD.read_bytes()).realm
    assert realm is not None and realm.claims.rim is not None
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--rim", realm.claims.rim.hex())
    assert code == 1 and "verdict: FAIL (token verification failed: platform.signature" in out
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--skip-platform-signature", "--rim",
                        realm.claims.rim.hex())
    assert code == 0
    assert out.splitlines()[-1] == ("verdict: MATCH (UNVERIFIED: platform.signature waived by "
                                    "--skip-platform-signature)")
    code, out, _ = _cli(capsys, "compare", str(GOOD), "--skip-platform-signature", "--rim",
                        realm.claims.rim.hex(), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["result"] == "match" and doc["unverified"] == ["platform.signature"]
    assert doc["verification"]["unverified"] == ["platform.signature"]


# ---------------------------------------------------------------- (c) attacker's CPAK


def test_complete_token_signed_with_attackers_platform_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An attacker builds a complete, bound token with their own CPAK and RAK."""
    rak, attacker = _new_key(), _new_key()
    token = _write(tmp_path, "own-cpak.cbor",
                   build_cca_token(make_realm_claims(rak, rim=RIM, rems=REMS), rak=rak,
                                   cpak=attacker))
    for extra in ([], ["--strict"]):  # item 3: without a key this used to PASS
        code, out, _ = _cli(capsys, "token", "verify", token, *extra, "--format", "json")
        assert code == 1 and _checks(out)["platform.signature"]["status"] == "fail"
    code, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                        "--format", "json")
    checks = _checks(out)
    assert code == 1
    assert checks["platform.signature"] == {
        "check": "platform.signature", "status": "fail",
        "reason": "no given key verifies it: ES384 signature does not verify"}
    assert checks["realm.signature"]["status"] == checks["binding"]["status"] == "pass"
    code, out, _ = _cli(capsys, "compare", token, "--platform-key", str(CPAK_FILE),
                        *_ref_args())
    assert code == 1 and "verdict: FAIL (token verification failed: platform.signature" in out


def test_genuine_realm_token_with_platform_resigned_by_attacker(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus realm token kept byte for byte; its platform claims re-signed."""
    raw = cbor2.loads(GOOD.read_bytes())
    tok = decode_token(GOOD.read_bytes())
    assert tok.platform is not None
    forged = build_platform_token(tok.platform.raw_claims, _new_key())
    data = cbor2.dumps(cbor2.CBORTag(399, {C.PLATFORM_KEY: forged,
                                           C.REALM_KEY: raw.value[C.REALM_KEY]}))
    token = _write(tmp_path, "resigned.cbor", data)
    code, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                        "--format", "json")
    checks = _checks(out)
    assert code == 1 and checks["platform.signature"]["status"] == "fail"
    assert checks["binding"]["status"] == "pass"  # the claims are genuine, the signer is not
    # the untouched original passes with the same key: the failure is the forgery
    assert _cli(capsys, "token", "verify", str(GOOD), "--platform-key", str(CPAK_FILE))[0] == 0


# ---------------------------------------------------------------- (d) broken signature, binding


def _zeroed_platform_signature(tmp_path: Path) -> str:
    rak = _new_key()
    data = build_cca_token(make_realm_claims(rak, rim=RIM, rems=REMS), rak=rak, cpak=_cpak())
    outer = cbor2.loads(data)
    plat = cbor2.loads(outer.value[C.PLATFORM_KEY])
    prot, unprot, payload, sig = plat.value
    zeroed = cbor2.dumps(cbor2.CBORTag(18, [prot, dict(unprot), payload, bytes(len(sig))]))
    body = {C.PLATFORM_KEY: zeroed, C.REALM_KEY: outer.value[C.REALM_KEY]}
    return _write(tmp_path, "zero-sig.cbor", cbor2.dumps(cbor2.CBORTag(399, body)))


def _bound_to_other_rak(tmp_path: Path) -> str:
    """Real CPAK signs a platform token whose challenge is the hash of ANOTHER RAK."""
    rak, other = _new_key(), _new_key()
    realm = make_realm_claims(rak, rim=RIM, rems=REMS)
    platform = make_platform_claims(make_realm_claims(other, rim=RIM, rems=REMS))
    data = build_cca_token(realm, rak=rak, cpak=_cpak(), platform=platform)
    return _write(tmp_path, "other-rak.cbor", data)


@pytest.mark.parametrize("forge,failed", [(_zeroed_platform_signature, "platform.signature"),
                                          (_bound_to_other_rak, "binding")])
def test_broken_platform_token_fails_verify_and_compare(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], forge: Any, failed: str) -> None:
    token = forge(tmp_path)
    code, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                        "--format", "json")
    checks = _checks(out)
    assert code == 1 and checks[failed]["status"] == "fail"
    assert [n for n, c in checks.items() if c["status"] == "fail"] == [failed]
    # compare: the RIM and every REM match the references, still not a MATCH
    code, out, _ = _cli(capsys, "compare", token, "--platform-key", str(CPAK_FILE),
                        *_ref_args(), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["claims_result"] == "match" and doc["result"] == "fail"
    assert doc["verification"]["result"] == "fail"
    code, out, _ = _cli(capsys, "compare", token, "--platform-key", str(CPAK_FILE),
                        *_ref_args())
    assert code == 1 and "MATCH" not in out.splitlines()[-1]
    assert out.splitlines()[-1].startswith(f"verdict: FAIL (token verification failed: "
                                           f"{failed}: ")


def test_bound_to_other_rak_reason() -> None:
    rak, other = _new_key(), _new_key()
    realm = make_realm_claims(rak, rim=RIM, rems=REMS)
    platform = make_platform_claims(make_realm_claims(other, rim=RIM, rems=REMS))
    tok = decode_token(build_cca_token(realm, rak=rak, cpak=_cpak(), platform=platform))
    from rmtool.verify.token.checks import VerifyPolicy, verify
    result = verify(tok, VerifyPolicy(platform_keys=(_cpak().public_key(),)))
    binding = {c.name: c for c in result.checks}["binding"]
    assert binding.status == "fail"
    assert platform.challenge is not None
    assert binding.reason.startswith(f"platform challenge {platform.challenge.hex()[:16]}... "
                                     "!= sha-256(RAK)")


# ---------------------------------------------------------------- (g) --challenge


def test_challenge_right_and_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nonce = bytes(range(64))
    rak = _new_key()
    cpak = _cpak()
    data = build_cca_token(make_realm_claims(rak, rim=RIM, rems=REMS, challenge=nonce),
                           rak=rak, cpak=cpak)
    token = _write(tmp_path, "nonce.cbor", data)
    key = ["--platform-key", str(CPAK_FILE)]
    code, out, _ = _cli(capsys, "token", "verify", token, *key, "--challenge", nonce.hex(),
                        "--format", "json")
    assert code == 0 and _checks(out)["realm.challenge"]["status"] == "pass"
    wrong = bytes(64).hex()
    code, out, _ = _cli(capsys, "token", "verify", token, *key, "--challenge", wrong,
                        "--format", "json")
    assert code == 1
    assert _checks(out)["realm.challenge"] == {
        "check": "realm.challenge", "status": "fail",
        "reason": f"realm challenge {nonce.hex()} != expected {wrong}"}
    # compare judges the token with the same option
    code, out, _ = _cli(capsys, "compare", token, *key, "--challenge", wrong, *_ref_args())
    assert code == 1 and "verification: FAIL (failed: realm.challenge)" in out
    assert out.splitlines()[-1].startswith("verdict: FAIL (token verification failed: "
                                           f"realm.challenge: realm challenge {nonce.hex()}")
    code, out, _ = _cli(capsys, "compare", token, *key, "--challenge", nonce.hex(), *_ref_args())
    assert code == 0 and out.splitlines()[-1] == "verdict: MATCH"
    # not hex: unusable input
    assert _cli(capsys, "token", "verify", token, *key, "--challenge", "xyz")[0] == 2


# ---------------------------------------------------------------- (f) duplicate map keys


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + n.to_bytes(2, "big")


def _dup_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A CBOR map with the pairs as given, duplicates included (cbor2 cannot write one)."""
    return _head(5, len(pairs)) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in pairs)


def _sign_raw(protected: bytes, payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA384())))
    sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, sig]))


def _dup_token(where: str) -> tuple[bytes, bytes]:
    """A signed token with one map naming a key twice; returns (token, duplicated key)."""
    rak, cpak = _new_key(), _cpak()
    realm = make_realm_claims(rak, rim=RIM, rems=REMS)
    platform = make_platform_claims(realm)
    prot = cbor2.dumps({1: -35})
    realm_payload = cbor2.dumps(realm.to_map())
    plat_payload = cbor2.dumps(platform.to_map())
    if where == "realm claims":  # a second RIM: last-wins decoders see this one
        realm_payload = _dup_map([*realm.to_map().items(), (C.R_RIM, b"\xee" * 32)])
        key = cbor2.dumps(C.R_RIM)
    elif where == "platform claims":
        plat_payload = _dup_map([*platform.to_map().items(), (C.CHALLENGE, b"\x00" * 32)])
        key = cbor2.dumps(C.CHALLENGE)
    elif where == "sw component":  # depth 2 inside the platform claims
        comp = _dup_map([(1, "RMM"), (2, b"\x11" * 32), (2, b"\x22" * 32)])
        items = [(k, v) for k, v in platform.to_map().items() if k != C.P_SW_COMPONENTS]
        plat_payload = (_head(5, len(items) + 1)
                        + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in items)
                        + cbor2.dumps(C.P_SW_COMPONENTS) + _head(4, 1) + comp)
        key = b"\x02"
    elif where == "protected header":
        prot = _dup_map([(1, -35), (1, -7)])
        key = b"\x01"
    p_tok = _sign_raw(prot if where == "protected header" else cbor2.dumps({1: -35}),
                      plat_payload, cpak)
    r_tok = _sign_raw(cbor2.dumps({1: -35}), realm_payload, rak)
    return cbor2.dumps(cbor2.CBORTag(399, {C.PLATFORM_KEY: p_tok, C.REALM_KEY: r_tok})), key


@pytest.mark.parametrize("where", ["realm claims", "platform claims", "sw component",
                                   "protected header"])
def test_duplicate_map_key_in_token_is_rejected(
        where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, key = _dup_token(where)
    with pytest.raises(TokenError) as info:
        decode_token(data)
    exc = info.value
    assert "duplicate CBOR map key" in exc.message
    assert exc.offset is not None
    # the offset points at the second occurrence of the key in the token file
    assert data[exc.offset:exc.offset + len(key)] == key
    assert data.find(key) < exc.offset
    name = str(cbor2.loads(key))
    assert f"duplicate CBOR map key {name} " in exc.message
    token = _write(tmp_path, "dup.cbor", data)
    for cmd in (["token", "verify", token, "--platform-key", str(CPAK_FILE)],
                ["compare", token, "--platform-key", str(CPAK_FILE), *_ref_args()],
                ["token", "show", token]):
        code, out, err = _cli(capsys, *cmd)
        assert code == 2 and out == ""
        assert err == f"ERROR {exc}\n"
        assert f"offset {exc.offset:#x}" in err


def test_duplicate_collection_entry_is_rejected() -> None:
    good = cbor2.loads(GOOD.read_bytes()).value
    data = (b"\xd9\x01\x8f" + _head(5, 3) + cbor2.dumps(C.PLATFORM_KEY)
            + cbor2.dumps(good[C.PLATFORM_KEY]) + cbor2.dumps(C.REALM_KEY)
            + cbor2.dumps(good[C.REALM_KEY]) + cbor2.dumps(C.PLATFORM_KEY) + cbor2.dumps(b"x"))
    with pytest.raises(TokenError, match="duplicate CBOR map key 44234"):
        decode_token(data)


def test_duplicate_key_compared_as_decoded() -> None:
    """10 and its non-preferred encoding 0x180a are one key to every decoder."""
    with pytest.raises(TokenError, match="duplicate CBOR map key 10") as info:
        decode_token(bytes.fromhex("a20a01180a02"))
    assert info.value.offset == 3


def _dup_corim(tmp_path: Path, nested: bool) -> tuple[bytes, bytes]:
    good = corim.build_realm_corim(RIM, REMS, "sha-256", b"\x07" * 64)
    top = cbor2.loads(good)
    items = list(top.value.items())
    if not nested:  # corim-map names its id (0) twice
        body = _dup_map([*items, (0, "another-id")])
        return b"\xd9\x01\xf5" + body, b"\x00"
    # inside the CoMID (tag 506 bstr): tag-identity (1) twice
    comid_tag = top.value[1][0]
    comid = cbor2.loads(comid_tag.value)
    comid_dup = _dup_map([*comid.items(), (1, comid[1])])
    tags = cbor2.dumps([cbor2.CBORTag(506, comid_dup)])
    rest = [(k, v) for k, v in items if k != 1]
    body = (_head(5, len(items)) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in rest)
            + b"\x01" + tags)
    return b"\xd9\x01\xf5" + body, comid_dup


@pytest.mark.parametrize("nested", [False, True])
def test_duplicate_map_key_in_corim_is_rejected(
        nested: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, marker = _dup_corim(tmp_path, nested)
    with pytest.raises(CorimError) as info:
        corim.reference_values_from_bytes(data, "dup.corim")
    exc = info.value
    assert "duplicate CBOR map key" in exc.message and exc.offset is not None
    if nested:  # a file offset inside the bstr-wrapped CoMID, past its first key 1
        assert "duplicate CBOR map key 1 " in exc.message
        assert data.find(marker) < exc.offset < data.find(marker) + len(marker)
        assert data[exc.offset:exc.offset + 1] == b"\x01"
    else:
        assert "duplicate CBOR map key 0 " in exc.message
        assert data[exc.offset:exc.offset + 1] == marker
    path = _write(tmp_path, "dup.corim", data)
    good_token = _write(tmp_path, "t.cbor", build_cca_token(
        make_realm_claims(k := _new_key(), rim=RIM, rems=REMS), rak=k, cpak=_cpak()))
    for cmd in (["corim", "show", path],
                ["compare", good_token, "--platform-key", str(CPAK_FILE), "--corim", path]):
        code, out, err = _cli(capsys, *cmd)
        assert code == 2, (cmd, out, err)
        assert "duplicate CBOR map key" in err and "offset 0x" in err
        assert err.count("\n") == 1


# ------------------------------------------------- measurement sizes versus the algorithm


@pytest.mark.parametrize(("algo", "size", "status", "code"), [
    ("sha-512", 32, "fail", 1),   # shorter than a SHA-512 digest: cannot be one
    ("sha-384", 32, "fail", 1),
    ("sha-256", 64, "warn", 0),   # the 64-byte slot of early RMMs and Veraison's samples
    ("sha-512", 64, "pass", 0),
])
def test_measurement_shorter_than_its_algorithm_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], algo: str, size: int, status: str,
        code: int) -> None:
    """A correctly signed and bound token whose RIM/REMs are shorter than the digest of the
    hash algorithm it names is no PASS (a RAK holder's mistake or forgery); a longer
    64-byte slot only warns unless --strict."""
    rak = _new_key()
    claims = make_realm_claims(rak, rim=b"\x5a" * 64, rems=[b"\x01" * 64] * 4,
                               hash_algo="sha-512")
    claims = C.RealmClaims(**{**claims.__dict__, "hash_algo": algo, "rim": b"\x5a" * size,
                              "rems": [b"\x01" * size] * 4})
    token = _write(tmp_path, "sizes.cbor", build_cca_token(claims, rak=rak, cpak=_cpak()))
    got, out, _ = _cli(capsys, "token", "verify", token, "--platform-key", str(CPAK_FILE),
                       "--format", "json")
    assert (got, _checks(out)["realm.measurement_size"]["status"]) == (code, status)
    if status == "fail":
        assert _checks(out)["realm.measurement_size"]["reason"] == (
            f"{algo} digests are {C.HASH_SIZES[algo]} bytes but rim {size} bytes, "
            f"rem0 {size} bytes, rem1 {size} bytes, rem2 {size} bytes, rem3 {size} bytes")
