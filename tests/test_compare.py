"""Tests for `rmtool compare` and rmtool.verify.compare.compare (docs/cli-compare.md).

Reference values come from the corpus (Veraison's CoMID for its own e2e token), from the
reference tool's tests/cmdline.rs vector K2 as computed by
`rmtool measure`, and from tokens built here with the published test keys.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.verify import cose
from rmtool.verify.compare import compare as cmp
from rmtool.verify.token.codec import build_cca_token, decode_token, make_realm_claims

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TOKENS = CORPUS / "tokens"
KEYS = TOKENS / "keys"
COMID = CORPUS / "corim" / "json" / "services_e2e_src_comid-cca-realm-refval.json"

pytestmark = pytest.mark.skipif(not TOKENS.is_dir(), reason="shared token corpus not present")

# the reference's tests/cmdline.rs K2: `--num-wps 6 --num-bps 6 -f FW kvmtool --realm --firmware
# firmware -c 1 -m 512M`, FW = b"FW CONTENT" -> SHA-256 RIM, REMs zero.
K2_RIM = bytes.fromhex("cf37146fce0ad50e1be1a04580c1024e5449b430b0dd96b6ef5c9a2b73767bf5")
TF_TOKEN = "ccatoken_tf-rmm-original-fvp.cbor"  # real FVP token, RIM 7a56c95c...
# The published test CPAK (PROVENANCE.md): it signs the tokens built here and the tf-m ones.
PK = ("--platform-key", str(KEYS / "tfmtools_cca_platform.pem"))
IAK256 = ("--platform-key", str(KEYS / "services_ec.p256.jwk"))  # Veraison's services tokens


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    rak = cose.load_key(KEYS / "tfmtools_cca_realm.pem")
    cpak = cose.load_key(KEYS / "tfmtools_cca_platform.pem")
    assert isinstance(rak, ec.EllipticCurvePrivateKey)
    assert isinstance(cpak, ec.EllipticCurvePrivateKey)
    return rak, cpak


def _token(tmp_path: Path, rim: bytes, rems: list[bytes], name: str = "t.cbor",
           hash_algo: str = "sha-256", rpv: bytes = b"\x00" * 64) -> Path:
    rak, cpak = _keys()
    claims = make_realm_claims(rak, rim=rim, rems=rems, hash_algo=hash_algo, rpv=rpv)
    path = tmp_path / name
    path.write_bytes(build_cca_token(claims, rak=rak, cpak=cpak))
    return path


def _realm(name: str) -> Any:
    tok = decode_token((TOKENS / name).read_bytes())
    assert tok.realm is not None
    return tok.realm.claims


# ---------------------------------------------------------------- hex references


def test_own_rim_matches_other_rim_names_rim(capsys: pytest.CaptureFixture[str]) -> None:
    name = "tfmtools_cca_token_2022.cbor"  # same layout as the FVP token, CPAK-signed
    realm = _realm(name)
    token = str(TOKENS / name)
    code, out, _ = _cli(capsys, "compare", token, *PK, "--rim", realm.rim.hex())
    assert code == 0 and out.splitlines()[-1] == "verdict: MATCH"
    assert realm.rim == bytes(32)  # this sample token's RIM is zero
    other = "ff" * 32
    code, out, _ = _cli(capsys, "compare", token, *PK, "--rim", other)
    assert code == 1 and out.splitlines()[-1] == "verdict: MISMATCH"
    assert f"RIM mismatch: token {realm.rim.hex()}, command line expects {other}" in out


def test_fvp_token_own_rim_is_not_a_match(capsys: pytest.CaptureFixture[str]) -> None:
    """The FVP token's platform signature verifies with no published key and its platform
    challenge is not the RAK's hash (PROVENANCE.md): its own RIM must not make a MATCH."""
    realm = _realm(TF_TOKEN)
    keys = [a for k in ("tfmtools_cca_platform.pem", "services_ec.p256.jwk")
            for a in ("--platform-key", str(KEYS / k))]
    code, out, _ = _cli(capsys, "compare", str(TOKENS / TF_TOKEN), *keys, "--rim",
                        realm.rim.hex(), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["result"] == "fail" and doc["claims_result"] == "match"
    checks = {c["check"]: c["status"] for c in doc["verification"]["checks"]}
    assert checks["platform.signature"] == checks["binding"] == "fail"


def test_each_hex_option(capsys: pytest.CaptureFixture[str]) -> None:
    realm = _realm("tfmtools_cca_example_token.cbor")
    token = str(TOKENS / "tfmtools_cca_example_token.cbor")
    args = [*PK, "--rim", realm.rim.hex(), "--rpv", realm.personalization_value.hex()]
    for i, rem in enumerate(realm.rems):
        args += [f"--rem{i}", rem.hex()]
    code, out, _ = _cli(capsys, "compare", token, *args, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["result"] == "match"
    assert [c["status"] for c in doc["claims"]] == ["match"] * 6
    bad = [*PK, "--rem2", "ff" * 32]
    code, out, _ = _cli(capsys, "compare", token, *bad, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["mismatches"] == [f"REM2 mismatch: token {realm.rems[2].hex()}, "
                                 f"command line expects {'ff' * 32}"]
    assert {c["claim"]: c["status"] for c in doc["claims"]}["rim"] == "not given"


def test_slot_padding_and_short_rpv() -> None:
    realm = _realm(TF_TOKEN)
    slot = realm.rim + bytes(32)  # the reference tool prints the full 64-byte slot
    ref = cmp.from_hex(rim=slot.hex(), rpv=realm.personalization_value[:8].hex())
    assert ref is not None
    assert not any(realm.personalization_value[8:])  # this token's RPV is zero padded
    report = cmp.compare(realm, [ref])
    assert report.claims_ok
    assert not report.ok and report.verdict == "fail"  # nobody verified this token
    assert "zero padding" in report.results[0].note
    ok, note = cmp.equal_at_token_size(b"\x01" * 64, b"\x01" * 32)
    assert not ok and "length differs" in note


def test_no_reference_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "compare", str(TOKENS / TF_TOKEN))
    assert code == 2 and err.startswith("ERROR no reference values")
    code, _, err = _cli(capsys, "compare", str(TOKENS / TF_TOKEN), "--rim", "zz")
    assert code == 2
    code, _, err = _cli(capsys, "compare",
                        str(TOKENS / "platform/tfmtools_cca_platform_token.cbor"), "--rim", "00")
    assert code == 2 and "no realm token" in err


# ---------------------------------------------------------------- endorsements


def test_veraison_comid_matches_its_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "compare", str(TOKENS / "services_e2e_cca-evidence.cbor"),
                        *IAK256, "--endorsements", str(COMID), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert [c["status"] for c in doc["claims"]] == ["match"] * 6
    rim = next(c for c in doc["claims"] if c["claim"] == "rim")
    assert rim["expected"] == "43" * 64
    assert "labelled sha-512, token uses sha-256" in rim["note"]
    # the same CoMID against another token: RIM named
    code, out, _ = _cli(capsys, "compare", str(TOKENS / TF_TOKEN), "--endorsements", str(COMID))
    assert code == 1 and "RIM mismatch" in out and "REM0 mismatch" in out


def test_corim_rs_layout_and_bad_files(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    realm = _realm(TF_TOKEN)

    def b64(v: bytes) -> str:
        return base64.b64encode(v).decode().rstrip("=")

    doc = {"tag-identity": {"tag-id": "x"}, "triples": {"reference-triples": [[
        {"class": {}},
        [{"mkey": "cca.rim", "mval": {"digests": [f"sha-256;{b64(realm.rim)}"]}},
         {"mkey": "cca.rem3", "mval": {"digests": [f"sha-256;{b64(b'1' * 32)}"]}}]]]}}
    path = tmp_path / "comid.json"
    path.write_text(json.dumps(doc))
    code, out, _ = _cli(capsys, "compare", str(TOKENS / TF_TOKEN), "--endorsements", str(path))
    assert code == 1
    assert "REM3 mismatch" in out and "RIM mismatch" not in out
    path.write_text("{not json")
    assert _cli(capsys, "compare", str(TOKENS / TF_TOKEN), "--endorsements", str(path))[0] == 2
    path.write_text(json.dumps({"triples": {"reference-values": []}}))
    code, _, err = _cli(capsys, "compare", str(TOKENS / TF_TOKEN), "--endorsements", str(path))
    assert code == 2 and "no realm reference values" in err


# ---------------------------------------------------------------- end to end


def _measure_k2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"FW CONTENT")
    out = tmp_path / "k2-comid.json"
    code, _, err = _cli(capsys, "measure", "--num-wps", "6", "--num-bps", "6", "-f", str(fw),
                        "--endorsements-output", str(out), "kvmtool", "--realm", "--firmware",
                        "firmware", "-c", "1", "-m", "512M")
    assert code == 0, err
    return out


def test_e2e_measure_endorsements_then_compare(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    comid = _measure_k2(tmp_path, capsys)
    refs = cmp.load_endorsements(comid)
    assert refs[0].values["rim"] == [K2_RIM]  # rmtool's RIM equals the reference vector
    zero = [bytes(32)] * 4
    good = _token(tmp_path, K2_RIM, zero, "good.cbor")
    code, out, _ = _cli(capsys, "compare", str(good), *PK, "--endorsements", str(comid))
    assert code == 0, out
    # one REM changed by the guest: compare names REM1 only
    rems = [bytes(32), b"\x5a" * 32, bytes(32), bytes(32)]
    changed = _token(tmp_path, K2_RIM, rems, "rem1.cbor")
    code, out, _ = _cli(capsys, "compare", str(changed), *PK, "--endorsements", str(comid),
                        "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["mismatches"] == [f"REM1 mismatch: token {'5a' * 32}, {comid.name} "
                                 f"reference-values[0].measurements[0] expects {'00' * 32}"]
    # a realm built from another configuration: RIM named
    other = _token(tmp_path, bytes.fromhex("998dfdf6401d69f73ed88ac53d62d5ea2cfac6320b887ce4"
                                           "599aa8671791d4d0"), zero, "k1.cbor")
    code, out, _ = _cli(capsys, "compare", str(other), *PK, "--endorsements", str(comid))
    assert code == 1 and "RIM mismatch: token 998dfdf6" in out
    # reference-tool style 64-byte slots in base64 compare at the token's 32 bytes
    doc64 = json.loads(comid.read_text())
    regs = doc64["triples"]["reference-values"][0]["measurements"][0]["value"][
        "integrity-registers"]
    regs["rim"]["value"] = ["sha-256;" + base64.b64encode(K2_RIM + bytes(32)).decode()]
    slot = tmp_path / "slot.json"
    slot.write_text(json.dumps(doc64))
    code, out, _ = _cli(capsys, "compare", str(good), *PK, "--endorsements", str(slot))
    assert code == 0 and "zero padding" in out


def test_e2e_corim_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rmtool.verify.corim import realm as corim
    rems = [bytes(32), bytes(32), b"\x01" * 32, bytes(32)]
    rpv = b"\x07" * 64
    token = _token(tmp_path, K2_RIM, rems, "c.cbor", rpv=rpv)
    path = tmp_path / "realm.corim"
    path.write_bytes(corim.build_realm_corim(K2_RIM, rems, "sha-256", rpv))
    code, out, err = _cli(capsys, "compare", str(token), *PK, "--corim", str(path))
    assert code == 0, out + err
    path.write_bytes(corim.build_realm_corim(K2_RIM, [bytes(32)] * 4, "sha-256", rpv))
    code, out, _ = _cli(capsys, "compare", str(token), *PK, "--corim", str(path))
    assert code == 1 and "REM2 mismatch" in out


def test_sha512_token_against_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rim = bytes.fromhex("cf409055d866eea6c8d5e7862b540ff1cac9b11f125d088587d5ae97a0e3341667cf8fb3"
                        "983e7377bca5c01d037bd97081ebf3b4dcb648442149749f4d65eeb0")  # vector Q1
    token = _token(tmp_path, rim, [bytes(64)] * 4, "q1.cbor", hash_algo="sha-512")
    assert _cli(capsys, "compare", str(token), *PK, "--rim", rim.hex())[0] == 0
    code, out, _ = _cli(capsys, "compare", str(token), *PK, "--rim", rim[:32].hex())
    assert code == 1 and "length differs" in out


def test_references_from_object_adapter() -> None:
    class Obj:
        rim = b"\x01" * 32
        rems = [None, b"\x02" * 32, None, None]
        rpv = None
        hash_algo = "sha-256"

    refs = cmp.references_from_object([Obj(), {"rim": b"\x03" * 32}], "src")
    assert [r.values for r in refs] == [{"rim": [b"\x01" * 32], "rem1": [b"\x02" * 32]},
                                        {"rim": [b"\x03" * 32]}]
    assert refs[0].source == "src[0]" and refs[0].hash_algo == "sha-256"


@pytest.mark.parametrize("register", [0, 1, 2, 3, 4])
def test_corim_round_trip_one_bit_change_names_register(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], register: int) -> None:
    """CoRIM round trip: the CoRIM written for a token's values passes; the same CoRIM
    with one bit flipped in one register fails naming that register (0 = RIM)."""
    from rmtool.verify.corim import realm as corim
    rems = [bytes([i]) * 32 for i in range(1, 5)]
    rpv = b"\x09" * 64
    token = _token(tmp_path, K2_RIM, rems, "t.cbor", rpv=rpv)
    values = [K2_RIM, *rems]
    path = tmp_path / "realm.corim"
    path.write_bytes(corim.build_realm_corim(values[0], values[1:], "sha256", rpv))
    assert _cli(capsys, "compare", str(token), *PK, "--corim", str(path))[0] == 0
    flipped = bytearray(values[register])
    flipped[7] ^= 0x10
    values[register] = bytes(flipped)
    path.write_bytes(corim.build_realm_corim(values[0], values[1:], "sha256", rpv))
    code, out, _ = _cli(capsys, "compare", str(token), *PK, "--corim", str(path))
    name = "RIM" if register == 0 else f"REM{register - 1}"
    assert code == 1 and f"{name} mismatch" in out
    others = {"RIM", "REM0", "REM1", "REM2", "REM3"} - {name}
    assert not any(f"{o} mismatch" in out for o in others)
