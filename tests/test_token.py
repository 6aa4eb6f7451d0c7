"""Tests for CCA token decoding, `token show` and `token verify` (docs/security.md,
"Token verification").

Expected values come from the corpus PROVENANCE.md (claim layouts, which key verifies
which token, binding results), from an independent cbor2 decoding in the test, and from
pycose as a signature oracle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmtool.cli.main import run
from rmtool.errors import TokenError
from rmtool.verify import cose
from rmtool.verify.token.checks import verify_token
from rmtool.verify.token.codec import (
    TAG_CCA_907,
    build_cca_token,
    decode_token,
    make_realm_claims,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TOKENS = CORPUS / "tokens"
KEYS = TOKENS / "keys"

pytestmark = pytest.mark.skipif(not TOKENS.is_dir(), reason="shared token corpus not present")

CPAK = "tfmtools_cca_platform.pem"  # = ccatoken_tf-rmm_cca_platform.pub = rustccatoken_cpak.json
IAK256 = "services_ec.p256.jwk"  # = evcli_ec256.json

# (file, platform key that verifies it) from PROVENANCE.md
GOOD = [
    ("evcli_cca-integ.cbor", IAK256), ("evcli_token.cbor", IAK256),
    ("rustccatoken_cca-token-02.cbor", IAK256), ("services_arm-cca_cca-good.cbor", IAK256),
    ("services_e2e_cca-evidence.cbor", IAK256), ("services_parsec-cca_evidence.cbor", IAK256),
    ("tfmtools_cca_example_token.cbor", CPAK), ("tfmtools_cca_example_token_2024-05.cbor", CPAK),
    ("tfmtools_cca_example_token_2024-09.cbor", CPAK),
    ("tfmtools_cca_example_token_legacy.cbor", CPAK), ("tfmtools_cca_token.cbor", CPAK),
    ("tfmtools_cca_token_2022.cbor", CPAK), ("tfmtools_cca_token_2025-10.cbor", CPAK),
    ("trustee_cca-example-token.cbor", CPAK),
    ("platform/tfmtools_cca_example_platform_token.cbor", CPAK),
    ("platform/tfmtools_cca_example_platform_token_legacy.cbor", CPAK),
    ("platform/tfmtools_cca_platform_token.cbor", CPAK),
]
BAD = ["ccatoken_tf-rmm-original-fvp.cbor", "rustccatoken_bug-33-repro.cbor"]
ALL = [name for name, _ in GOOD] + BAD


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _raw_parts(path: Path) -> dict[str, dict[Any, Any]]:
    """Independent decoding of the claim maps with plain cbor2 (the test's oracle)."""
    obj = cbor2.loads(path.read_bytes())
    if isinstance(obj, dict):
        obj = obj["pat"]
    if obj.tag == 18:
        return {"platform": cbor2.loads(obj.value[2])}
    out = {}
    for key, name in ((44234, "platform"), (44241, "realm")):
        entry = obj.value[key]
        entry = entry[1] if isinstance(entry, tuple | list) else entry
        out[name] = cbor2.loads(cbor2.loads(entry).value[2])
    return out


@pytest.mark.parametrize("name", ALL)
def test_every_corpus_token_decodes_and_show_equals_claims(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = TOKENS / name
    code, out, err = _cli(capsys, "token", "show", "--format", "json", str(path))
    assert code == 0, err
    shown = json.loads(out)
    raw = _raw_parts(path)
    p, rp = shown["platform"], raw["platform"]
    assert p["profile"] == rp[265]
    assert p["challenge"] == rp[10].hex()
    assert p["implementation_id"] == rp[2396].hex()
    assert p["instance_id"] == rp[256].hex()
    assert p["lifecycle"] == rp[2395]
    assert p["hash_algo"] == rp[2402]
    assert [c["measurement_value"] for c in p["sw_components"]] == [
        c[2].hex() if 2 in c else None for c in rp[2399]]
    if "realm" in raw:
        r, rr = shown["realm"], raw["realm"]
        assert r["rim"] == rr[44238].hex()
        assert r["rems"] == [x.hex() for x in rr[44239]]
        assert r["personalization_value"] == rr[44235].hex()
        assert r["public_key"] == rr[44237].hex()
        assert r["hash_algo"] == rr[44236]
        assert r["public_key_hash_algo"] == rr[44240]
        assert r["profile"] == rr.get(265)
    else:
        assert shown["realm"] is None


def test_show_values_from_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    tok = decode_token((TOKENS / "tfmtools_cca_example_token.cbor").read_bytes())
    assert tok.format == "cca-907"
    assert tok.platform is not None and tok.realm is not None
    assert tok.platform.claims.profile == "tag:arm.com,2023:cca_platform#1.0.0"
    assert len(tok.platform.claims.sw_components or []) == 13
    assert tok.platform.claims.lifecycle == 0x3003
    assert tok.realm.claims.profile == "tag:arm.com,2024:realm#2.0.0"
    assert tok.realm.claims.mec_policy == 1
    assert tok.to_json()["realm"]["public_key_format"] == "cose-key"
    fvp = decode_token((TOKENS / "ccatoken_tf-rmm-original-fvp.cbor").read_bytes())
    assert fvp.to_json()["platform"]["alg"] is None
    assert fvp.to_json()["realm"]["public_key_format"] == "raw-ec-point"
    bug = decode_token((TOKENS / "rustccatoken_bug-33-repro.cbor").read_bytes())
    assert bug.platform is not None and len(bug.platform.claims.sw_components or []) == 16
    parsec = decode_token((TOKENS / "services_parsec-cca_evidence.cbor").read_bytes())
    assert parsec.format == "parsec-cca"
    code, out, _ = _cli(capsys, "token", "show", str(TOKENS / "evcli_token.cbor"))
    assert code == 0 and "realm token" in out and "secured" in out


@pytest.mark.parametrize("name,key", GOOD)
def test_verify_passes_with_listed_key(name: str, key: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "token", "verify", str(TOKENS / name),
                          "--platform-key", str(KEYS / key), "--format", "json")
    checks = {c["check"]: c["status"] for c in json.loads(out)["checks"]}
    assert checks["platform.signature"] == "pass"
    if not name.startswith("platform/"):
        assert code == 0, out + err
        assert checks["realm.signature"] == "pass"
        assert checks["binding"] == "pass"
    else:
        # A standalone platform token binds no realm: it cannot earn a PASS (docs/security.md).
        assert code == 1, out + err
        assert checks["realm.signature"] == checks["binding"] == "fail"


@pytest.mark.parametrize("key", ["ccatoken_tf-rmm_cca_platform.pub", "rustccatoken_cpak.json",
                                 "trustee_cpak-priv.json", CPAK])
def test_every_cpak_format_verifies(key: str) -> None:
    tok = decode_token((TOKENS / "tfmtools_cca_token.cbor").read_bytes())
    result = {c.name: c for c in verify_token(tok, [cose.load_key(KEYS / key)])}
    assert result["platform.signature"].status == "pass"


def test_verify_fvp_token_fails_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    keys = [a for k in ("tfmtools_cca_platform.pem", IAK256, "rustccatoken_pkey.json")
            for a in ("--platform-key", str(KEYS / k))]
    code, out, _ = _cli(capsys, "token", "verify",
                        str(TOKENS / "ccatoken_tf-rmm-original-fvp.cbor"), *keys,
                        "--format", "json")
    assert code == 1
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["platform.signature"]["status"] == "fail"
    assert "no alg" in checks["platform.signature"]["reason"]
    assert "no given key verifies" in checks["platform.signature"]["reason"]
    assert checks["binding"]["status"] == "fail"
    assert checks["realm.signature"]["status"] == "pass"


def test_verify_bug33_binding_false(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "token", "verify", str(TOKENS / "rustccatoken_bug-33-repro.cbor"),
                        "--platform-key", str(KEYS / CPAK), "--format", "json")
    assert code == 1
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["binding"]["status"] == "fail"
    assert "sha-256(RAK)" in checks["binding"]["reason"]
    assert checks["platform.signature"]["status"] == "pass"


def test_binding_follows_claim_44240() -> None:
    # evcli tokens: 44240 = sha-512 and the challenge is sha-512(RAK) (PROVENANCE).
    tok = decode_token((TOKENS / "evcli_token.cbor").read_bytes())
    result = {c.name: c for c in verify_token(tok)}
    assert result["binding"].status == "pass"
    assert result["binding"].reason == "platform challenge = sha-512(RAK)"


def test_strict_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    # evcli token: sha-256 realm with 64-byte RIM/REMs -> warn, fail under --strict.
    args = ["token", "verify", str(TOKENS / "evcli_token.cbor"), "--platform-key",
            str(KEYS / IAK256)]
    code, out, _ = _cli(capsys, *args)
    assert code == 0 and "realm.measurement_size" in out and "warn" in out
    code, out, _ = _cli(capsys, *args, "--strict")
    assert code == 1 and "(strict)" in out
    # no platform key: a failure that says how to supply it (docs/security.md), not a warning
    code, out, _ = _cli(capsys, "token", "verify", str(TOKENS / "tfmtools_cca_token.cbor"))
    assert code == 1 and "--platform-key CPAK.pem" in out
    assert out.splitlines()[-1] == "result: FAIL (failed: platform.signature)"


def test_key_alg_mismatch_fails() -> None:
    tok = decode_token((TOKENS / "tfmtools_cca_token.cbor").read_bytes())  # ES384 platform
    result = {c.name: c for c in verify_token(tok, [cose.load_key(KEYS / IAK256)])}
    assert result["platform.signature"].status == "fail"
    assert "does not match alg ES384" in result["platform.signature"].reason


# ---------------------------------------------------------------- builder + oracle


def _pycose_verify(sign1_bytes: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    from pycose.keys.ec2 import EC2Key
    from pycose.messages.sign1message import Sign1Message

    prot, unprot, payload, sig = cbor2.loads(sign1_bytes).value
    # pycose 1.1 cannot take cbor2 6's immutable tagged containers: pass plain ones.
    msg = Sign1Message.from_cose_obj([prot, dict(unprot), payload, sig], True)
    nums = key.public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P_256", "secp384r1": "P_384"}[key.curve.name]
    msg.key = EC2Key(crv=crv, x=nums.x.to_bytes(size, "big"), y=nums.y.to_bytes(size, "big"))
    return bool(msg.verify_signature())


def test_pycose_agrees_on_corpus_realm_signature() -> None:
    tok = decode_token((TOKENS / "tfmtools_cca_example_token.cbor").read_bytes())
    assert tok.realm is not None and tok.realm.claims.public_key is not None
    raw = cbor2.loads((TOKENS / "tfmtools_cca_example_token.cbor").read_bytes())
    realm_bytes = raw.value[44241][1]
    assert _pycose_verify(realm_bytes, cose.rak_key(tok.realm.claims.public_key)[0])


@pytest.mark.parametrize("collection,profile", [(399, None), (TAG_CCA_907,
                                                              "tag:arm.com,2024:realm#2.0.0")])
def test_built_token_verifies_with_pycose_and_rmtool(collection: int, profile: str | None,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rak = cose.load_key(KEYS / "tfmtools_cca_realm.pem")
    cpak = cose.load_key(KEYS / CPAK)
    assert isinstance(rak, ec.EllipticCurvePrivateKey)
    assert isinstance(cpak, ec.EllipticCurvePrivateKey)
    realm = make_realm_claims(rak, rim=bytes(range(32)), profile=profile)
    data = build_cca_token(realm, rak=rak, cpak=cpak, collection=collection)
    raw = cbor2.loads(data)
    assert raw.tag == collection
    entries = [e[1] if isinstance(e, tuple | list) else e for e in
               (raw.value[44234], raw.value[44241])]
    cpak_pub, rak_pub = cose.public_of(cpak), cose.public_of(rak)
    assert isinstance(cpak_pub, ec.EllipticCurvePublicKey)
    assert isinstance(rak_pub, ec.EllipticCurvePublicKey)
    assert _pycose_verify(entries[0], cpak_pub)
    assert _pycose_verify(entries[1], rak_pub)
    path = tmp_path / "built.cbor"
    path.write_bytes(data)
    code, out, err = _cli(capsys, "token", "verify", str(path), "--platform-key",
                          str(KEYS / "ccatoken_tf-rmm_cca_platform.pub"))
    assert code == 0, out + err
    tok = decode_token(data)
    assert tok.realm is not None and tok.realm.claims.rim == bytes(range(32))


# ---------------------------------------------------------------- malformed input


def _good_bytes() -> bytes:
    return (TOKENS / "tfmtools_cca_token_2022.cbor").read_bytes()


def _tagged(tag: int, value: Any) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(tag, value))


MALFORMED = {
    "truncated": _good_bytes()[:700] if TOKENS.is_dir() else b"",
    "empty": b"",
    "wrong-tag": _tagged(400, {}),
    "not-a-token": cbor2.dumps([1, 2, 3]),
    "collection-not-map": _tagged(399, [1, 2]),
    "no-realm": _tagged(399, {44234: b"\xa0"}),
    "entry-wrong-type": _tagged(399, {44234: 5, 44241: 6}),
    "sign1-wrong-shape": _tagged(399, {44234: _tagged(18, [b"", {}]), 44241: b"\xa0"}),
    "claim-wrong-type": _tagged(18, [cbor2.dumps({1: -35}), {}, cbor2.dumps({44238: "text",
                                                                             44236: "sha-256"}),
                                     b"\x00" * 96]),
    "huge-bstr": b"\xd9\x01\x8f\xa1\x19\xac\xca\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
    "huge-array": b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",
    "deep-nesting": b"\x81" * 5000 + b"\x00",
    "indefinite": b"\x9f\xff",
    "shared-ref": b"\xd8\x1c\x81\xd8\x1d\x00",
    "trailing": cbor2.dumps(1) + b"\x00",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_exit_2_one_line(case: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.cbor"
    path.write_bytes(MALFORMED[case])
    for cmd in (["token", "show"], ["token", "verify"], ["compare", "--rim", "00"]):
        args = [*cmd[:2], str(path), *cmd[2:]] if cmd[0] == "compare" else [*cmd, str(path)]
        code, out, err = _cli(capsys, *args)
        assert code == 2, (case, cmd, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR "), err


def test_malformed_reports_offset() -> None:
    with pytest.raises(TokenError) as info:
        decode_token(MALFORMED["huge-bstr"])
    assert info.value.offset == 7
    with pytest.raises(TokenError) as info:
        decode_token(MALFORMED["truncated"])
    assert "truncated" in str(info.value) or "remain" in str(info.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        decode_token(data)
    except TokenError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_corpus_token(data: st.DataObject) -> None:
    base = bytearray(_good_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(base) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(base)))
    try:
        tok = decode_token(bytes(base[:cut]))
    except TokenError:
        return
    verify_token(tok)  # a decodable token must also survive every check


_CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=100)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.integers(-5, 50000) | st.text(max_size=5), inner, max_size=5),
    max_leaves=20)
_LABELS = st.sampled_from([10, 256, 265, 2395, 2396, 2399, 2400, 2401, 2402, 44235, 44236,
                           44237, 44238, 44239, 44240, 44243, 7])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_LABELS, _CBOR_VALUES, max_size=10),
       st.dictionaries(_LABELS, _CBOR_VALUES, max_size=10),
       st.sampled_from([None, -7, -35, 0, "none"]))
def test_fuzz_claim_types(platform: dict[Any, Any], realm: dict[Any, Any], alg: Any) -> None:
    """Well-formed envelopes around arbitrary claim values: TokenError or a full verdict."""
    prot = cbor2.dumps({1: alg}) if alg is not None else b""

    def sign1(claims: dict[Any, Any]) -> bytes:
        return _tagged(18, [prot, {}, cbor2.dumps(claims), b"\x01" * 64])

    data = _tagged(399, {44234: sign1(platform), 44241: sign1(realm)})
    try:
        tok = decode_token(data)
    except TokenError:
        return
    json.dumps(tok.to_json())
    key = cose.load_key(KEYS / IAK256)
    assert all(c.status in ("pass", "fail", "warn") for c in verify_token(tok, [key]))
