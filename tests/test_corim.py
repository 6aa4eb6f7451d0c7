"""CoRIM in the CCA realm profile: build, read, lint, sign, CLI (docs/cli.md, "rmtool corim").

Expected values come from outside rmtool: Veraison's own CoRIMs and cocli templates in the
corpus, the error texts of veraison/services scheme/arm-cca corim_test.go and
veraison/corim profiles/cca, the anchor vectors, and pycose for signatures.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from rmtool.cli.main import cli
from rmtool.errors import CorimError, RmtoolError
from rmtool.verify import cose
from rmtool.verify.corim._lint import has_errors
from rmtool.verify.corim._sign import load_signing_key, verify_signature
from rmtool.verify.corim.realm import (
    REALM_PROFILE,
    build_realm_corim,
    describe,
    lint,
    load_reference_values,
    media_type_for,
    reference_values_from_bytes,
    sign_corim,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
CBOR = CORPUS / "corim" / "cbor"
JSON_DIR = CORPUS / "corim" / "json"
CDDL = CORPUS / "cddl"

pytestmark = pytest.mark.skipif(not CBOR.is_dir(), reason="shared corpus not available")

# Upstream expectations: veraison/services scheme/arm-cca/corim_test.go (services_*) and the
# veraison/corim profiles/cca test case names / realm.go messages (corimlib_*).
REALM_CASES: dict[str, str | None] = {
    "corimlib_cca_cca-realm-valid.cbor": None,
    "corimlib_cca_cca-realm-invalid-missing-rim.cbor":
        "RIM (cca.rim) measurement is mandatory but not found",
    "corimlib_cca_cca-realm-invalid-rim-size.cbor": "RIM must be 32, 48, or 64 bytes",
    "services_armcca_corim-cca-realm-valid.cbor": None,
    "services_armcca_corim-cca-realm-bad-instance.cbor": "RIM must be of type 'bytes', got 'uuid'",
    "services_armcca_corim-cca-realm-bad-no-instance.cbor":
        "environment.class is required for CCA Realm profile",
    "services_armcca_corim-cca-realm-bad-no-rim.cbor":
        "RIM (cca.rim) measurement is mandatory but not found",
    "services_armcca_corim-cca-realm-bad-no-raw-value.cbor": "raw-value is mandatory for cca.rpv",
    "services_armcca_corim-cca-realm-bad-no-integ-regs.cbor":
        "digests field is mandatory but not set",
}


def invoke(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI like rmtool.cli.main.run: RmtoolError -> one ERROR line + its exit code."""
    r = CliRunner().invoke(cli, args)
    if isinstance(r.exception, RmtoolError):
        return r.exception.exit_code, r.stdout, r.stderr + f"ERROR {r.exception}\n"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def cddl_args() -> list[str]:
    return ["--cddl", str(CDDL)] if (CDDL / "ietf-corim").is_dir() else []


# ---------------------------------------------------------------- acceptance: corpus lint

def test_nine_realm_corims_present() -> None:
    legacy = {"services_e2e_cca-realm-endorsements.cbor"}
    names = {p.name for p in CBOR.glob("*cca-realm*")} - legacy
    assert names == set(REALM_CASES)


@pytest.mark.parametrize("name", sorted(REALM_CASES))
def test_corpus_realm_lint_cli(name: str) -> None:
    code, out, _ = invoke(["corim", "lint", str(CBOR / name), *cddl_args(), "--format", "json"])
    report = json.loads(out)
    expected = REALM_CASES[name]
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    if expected is None:
        assert code == 0 and report["valid"] is True and errors == []
    else:
        assert code == 1 and report["valid"] is False
        assert any(expected in f["message"] for f in errors), errors
    # all nine are well-formed IETF CoRIM: no CDDL error, and CDDL really ran
    assert not [f for f in errors if f["rule"] == "cddl"]
    if cddl_args():
        assert not [f for f in report["findings"] if f["rule"] == "cddl.skipped"]


def test_legacy_end_to_end_corim_rejected_with_reason() -> None:
    findings = lint((CBOR / "services_e2e_cca-realm-endorsements.cbor").read_bytes(),
                    cddl_dir=CDDL if CDDL.is_dir() else None)
    rules = {f.rule for f in findings if f.severity == "error"}
    assert "corim.profile-legacy" in rules and "realm.rim-missing" in rules


def test_lint_without_cddl_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RMTOOL_CORIM_CDDL", raising=False)
    findings = lint((CBOR / "services_armcca_corim-cca-realm-valid.cbor").read_bytes())
    assert [f.rule for f in findings] == ["cddl.skipped"]
    assert not has_errors(findings)


@pytest.mark.parametrize("content", [b"", b"\xff\xff", b"hello world", b"\xd9\x01\xf5",
                                     b'{"not": "cbor"}', b"\xa1\x00\x01"])
def test_lint_unreadable_exit_2(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "x.cbor"
    f.write_bytes(content)
    code, _, err = invoke(["corim", "lint", str(f)])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("ERROR ")


def test_lint_missing_file_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke(["corim", "lint", str(tmp_path / "absent.cbor")])
    assert code == 2 and "cannot read" in err


# ---------------------------------------------------------------- building

def _templates() -> tuple[dict[str, Any], dict[str, Any]]:
    corim_t = json.loads((JSON_DIR / "services_armcca_src_corim-cca-realm.json").read_text())
    comid_t = json.loads((JSON_DIR / "services_armcca_src_comid-cca-realm-refval.json").read_text())
    return corim_t, comid_t


def test_build_is_byte_identical_to_veraison_valid_realm_corim() -> None:
    corim_t, comid_t = _templates()
    got = build_realm_corim(b"C" * 64, [b"C" * 64] * 4, "sha512", b"AD" * 32,
                            template=corim_t, comid_template=comid_t,
                            corim_id="00000000-0000-0000-cca4-0000000000001")
    assert got == (CBOR / "services_armcca_corim-cca-realm-valid.cbor").read_bytes()


@pytest.mark.parametrize("algo,size", [("sha256", 32), ("sha384", 48), ("sha512", 64)])
def test_round_trip(tmp_path: Path, algo: str, size: int) -> None:
    rim = bytes(range(size))
    rems = [bytes([i + 1]) * size for i in range(4)]
    rpv = bytes(range(64, 128))
    data = build_realm_corim(rim, rems, algo, rpv)
    f = tmp_path / "r.cbor"
    f.write_bytes(data)
    rv = load_reference_values(f)
    assert (rv.rim, rv.rems, rv.rpv, rv.hash_algo) == (rim, rems, rpv, algo)
    assert rv.class_id == rim and rv.instance is None and rv.profile == REALM_PROFILE
    assert lint(data, cddl_dir=CDDL if CDDL.is_dir() else None, use_env=False) == [] or \
        not CDDL.is_dir()
    assert media_type_for(data) == f'application/rim+cbor; profile="{REALM_PROFILE}"'


def test_build_is_reproducible_and_truncates_zero_padded_slots() -> None:
    rim = bytes(range(32))
    a = build_realm_corim(rim + bytes(32), [bytes(64)] * 4, "sha256", None)
    b = build_realm_corim(rim, [bytes(32)] * 4, "sha256", None)
    assert a == b
    assert reference_values_from_bytes(a)[0].rim == rim
    with pytest.raises(CorimError):
        build_realm_corim(rim + b"\x01" * 32, [None] * 4, "sha256", None)
    with pytest.raises(CorimError):
        build_realm_corim(rim, [None] * 4, "md5", None)
    with pytest.raises(CorimError):
        build_realm_corim(rim, [None] * 4, "sha256", b"short")


def _anchor_rows() -> list[dict[str, str]]:
    tsv = SHARED / "vectors" / "anchor-visible.tsv"
    if not tsv.exists():
        pytest.skip("anchor vectors not available")
    lines = tsv.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, ln.split("\t"), strict=False)) for ln in lines[1:] if ln.strip()]
    return [r for r in rows if r["exit_code"] == "0"]


def test_anchor_vectors_corims_lint_clean_and_show_rim(tmp_path: Path) -> None:
    rows = _anchor_rows()
    assert len(rows) == 20
    for row in rows:
        rim = bytes.fromhex(row["rim"])
        algo = {32: "sha256", 48: "sha384", 64: "sha512"}[len(rim)]
        rems = [bytes.fromhex(row[f"rem{i}"]) for i in range(4)]
        data = build_realm_corim(rim, rems, algo, bytes(64))
        findings = lint(data, cddl_dir=CDDL if CDDL.is_dir() else None, use_env=False)
        assert not has_errors(findings), (row["name"], findings)
        f = tmp_path / f"{row['name']}.cbor"
        f.write_bytes(data)
        code, out, _ = invoke(["corim", "show", str(f)])
        assert code == 0 and row["rim"] in out


# ---------------------------------------------------------------- reading

def test_read_legacy_realm1_corim() -> None:
    rv = load_reference_values(CBOR / "services_e2e_cca-realm-endorsements.cbor")
    assert rv.encoding == "legacy realm/1" and rv.profile == "http://arm.com/cca/realm/1"
    assert rv.rim == b"C" * 64 and rv.rems == [b"C" * 64] * 4 and rv.rpv == b"AD" * 32
    assert rv.instance == b"C" * 64 and rv.hash_algo == "sha512"


def test_cocli_json_gives_same_values_as_compiled_cbor() -> None:
    from_json = load_reference_values(JSON_DIR / "services_armcca_src_comid-cca-realm-refval.json")
    from_cbor = load_reference_values(CBOR / "services_armcca_corim-cca-realm-valid.cbor")
    for attr in ("rim", "rems", "rpv", "hash_algo", "class_id", "tag_id"):
        assert getattr(from_json, attr) == getattr(from_cbor, attr), attr


def test_reference_tool_comid_json() -> None:
    rv = load_reference_values(JSON_DIR / "ccarealmmeas_comid-cca-realm.json")
    assert rv.hash_algo == "sha384" and rv.encoding == "legacy realm/1"
    assert rv.rim is not None and rv.rim.hex().startswith("4284b5694ca6c0d2")
    assert rv.rpv is not None and len(rv.rpv) == 64


def test_corimlib_valid_values() -> None:
    rv = load_reference_values(CBOR / "corimlib_cca_cca-realm-valid.cbor")
    assert rv.rim is not None and rv.rim.hex().startswith("1d1150bb35a9d1f1")
    assert rv.rems[3] is not None and rv.rems[3].hex().startswith("f76deff9")
    assert rv.rpv == b"The quick brown fox jumps over 13 lazy dogs."


def test_describe_every_corpus_file_without_traceback() -> None:
    kinds: dict[str, int] = {}
    for f in sorted(CBOR.glob("*.cbor")):
        try:
            d = describe(f.read_bytes())
        except CorimError:
            continue
        json.dumps(d)
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    assert kinds.get("signed-corim", 0) >= 5 and kinds.get("comid", 0) >= 20


def test_truncated_and_flipped_inputs_raise_only_corim_error() -> None:
    data = (CBOR / "corimlib_cca_cca-realm-valid.cbor").read_bytes()
    for n in range(len(data)):
        for blob in (data[:n], data[:n] + bytes([data[n] ^ 0xFF]) + data[n + 1:]):
            try:
                lint(blob, use_env=False)
                describe(blob)
            except CorimError:
                pass


# ---------------------------------------------------------------- rmtool's own rules

def _rebuild(edit: Any) -> bytes:
    top = cbor2.loads(build_realm_corim(bytes(range(32)), [bytes(32)] * 4, "sha256", bytes(64)))
    corim = {k: v for k, v in top.value.items()}
    comid = cbor2.loads(corim[1][0].value)
    comid = {k: v for k, v in comid.items()}
    triple = [dict(comid[4][0][0][0]), [dict(m) for m in comid[4][0][0][1]]]
    edit(corim, triple)
    comid[4] = {0: [triple]}
    corim[1] = [cbor2.CBORTag(506, cbor2.dumps(comid))]
    return cbor2.dumps(cbor2.CBORTag(501, corim))


def _rules(data: bytes) -> set[str]:
    return {f.rule for f in lint(data, use_env=False) if f.severity == "error"}


def test_rule_rim_class_mismatch() -> None:
    def edit(_c: dict[int, Any], t: list[Any]) -> None:
        t[0] = {0: {0: cbor2.CBORTag(560, b"\x01" * 32)}}
    assert _rules(_rebuild(edit)) == {"realm.rim-class-mismatch"}


def test_rule_digest_alg_and_duplicate_and_unknown_mkey() -> None:
    def edit(_c: dict[int, Any], t: list[Any]) -> None:
        t[1][1] = {0: "cca.rem0", 1: {2: [[8, bytes(32)]]}}
        t[1].append({0: "cca.rem0", 1: {2: [[1, bytes(32)]]}})
        t[1].append({0: "cca.bogus", 1: {2: [[1, bytes(32)]]}})
        t[1].append({0: 7, 1: {2: [[1, bytes(32)]]}})
    assert _rules(_rebuild(edit)) == {"realm.digest-alg", "realm.mkey-duplicate",
                                      "realm.mkey-unknown", "realm.mkey-type"}


def test_rule_profile_legacy_and_untagged_profile() -> None:
    assert "corim.profile-legacy" in _rules(_rebuild(
        lambda c, t: c.__setitem__(3, "http://arm.com/cca/realm/1")))
    assert "corim.profile-encoding" in _rules(_rebuild(
        lambda c, t: c.__setitem__(3, REALM_PROFILE)))
    assert "corim.profile-missing" in _rules(_rebuild(lambda c, t: c.pop(3)))


# ---------------------------------------------------------------- signing

def _jwk_key() -> bytes:
    return (CORPUS / "corim" / "src" / "corimlib_corim_src_ec-p256.jwk").read_bytes()


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rmtool test signer")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_sign_verifies_with_pycose_and_has_veraison_header() -> None:
    pytest.importorskip("pycose")
    from pycose.keys import EC2Key  # type: ignore[attr-defined]
    from pycose.keys.curves import P256
    from pycose.messages import Sign1Message  # type: ignore[attr-defined]

    key = load_signing_key(_jwk_key())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    unsigned = build_realm_corim(b"\x11" * 32, [b"\x22" * 32] * 4, "sha256", bytes(64))
    cert = _self_signed(key)
    signed = sign_corim(unsigned, key, cert_chain=[cert])
    tagged = cbor2.loads(signed)
    assert tagged.tag == 18
    v = tagged.value
    msg = Sign1Message.from_cose_obj([v[0], dict(v[1]), v[2], v[3]], True)
    pn = key.public_key().public_numbers()
    msg.key = EC2Key(crv=P256, x=pn.x.to_bytes(32, "big"), y=pn.y.to_bytes(32, "big"))
    assert msg.verify_signature()
    prot = cbor2.loads(v[0])
    assert prot[1] == -7 and prot[3] == "application/rim+cbor" and prot[33] == cert
    assert cbor2.loads(prot[8]) == {0: {0: "rmtool"}}
    assert v[2] == unsigned
    assert lint(signed, cddl_dir=CDDL if CDDL.is_dir() else None, use_env=False) == [] or \
        not CDDL.is_dir()
    assert media_type_for(signed).startswith("application/rim+cose; ")


def test_sign_ed25519_pem_and_tamper_detection() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signed = sign_corim(build_realm_corim(b"\x01" * 48, [None] * 4, "sha384", None), pem)
    assert verify_signature(signed, key.public_key())
    bad = bytearray(signed)
    bad[-70] ^= 1  # inside the payload
    try:
        assert not verify_signature(bytes(bad), key.public_key())
    except CorimError:
        pass
    warn = [f.rule for f in lint(signed, use_env=False) if f.severity == "warning"]
    assert warn == ["signed.x5chain"]


# ---------------------------------------------------------------- CLI create / show

def test_cli_create_from_measure_json_with_templates_and_key(tmp_path: Path) -> None:
    m = {"rim": "ab" * 48, "rems": ["00" * 48, "01" * 48, "02" * 48, "03" * 48],
         "hash_algo": "sha384", "personalization_value": "5a" * 64, "rmm_version": "1.0"}
    mj = tmp_path / "m.json"
    mj.write_text(json.dumps(m))
    key = tmp_path / "k.jwk"
    key.write_bytes(_jwk_key())
    out = tmp_path / "o.cbor"
    code, stdout, err = invoke([
        "corim", "create", str(mj), "-o", str(out), "--key", str(key), "--format", "json",
        "--template", str(JSON_DIR / "ccarealmmeas_corim-cca-realm.json"),
        "--template", str(JSON_DIR / "ccarealmmeas_comid-cca-realm.json")])
    assert code == 0, err
    info = json.loads(stdout)
    assert info["signed"] is True and info["rim"] == "ab" * 48
    assert info["media_type"] == f'application/rim+cose; profile="{REALM_PROFILE}"'
    code, stdout, _ = invoke(["corim", "show", str(out), "--format", "json"])
    d = json.loads(stdout)
    assert d["kind"] == "signed-corim" and d["corim"]["profile"] == REALM_PROFILE
    # identities and entities from the (legacy) templates, profile always the current one
    assert d["corim"]["id"] == "5c57e8f4-46cd-421b-91c9-08cf93e13cfc"
    assert d["corim"]["rim-validity"] == {"0": "2021-12-31T00:00:00+00:00",
                                          "1": "2025-12-31T00:00:00+00:00"}
    assert d["comids"][0]["tag-identity"]["tag-id"] == "43bbe37f-2e61-4b33-aed3-53cff1428b16"
    assert d["comids"][0]["language"] == "en-GB"
    realm = d["realms"][0]
    assert realm["rems"][3] == "03" * 48 and realm["rpv"] == "5a" * 64
    assert realm["vendor"] == "Workload Client Ltd" and realm["instance"] is None


def test_cli_create_from_hex_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "o.cbor"
    code, _, _ = invoke(["corim", "create", "--rim", "aa" * 32, "--rem1", "bb" * 32,
                         "-o", str(out)])
    assert code == 0
    rv = load_reference_values(out)
    assert rv.rems == [None, b"\xbb" * 32, None, None] and rv.rpv is None
    code, _, err = invoke(["corim", "create", "--rim", "zz", "-o", str(out)])
    assert code == 2 and "not hex" in err
    code, _, err = invoke(["corim", "create", "--rim", "aa" * 20, "-o", str(out)])
    assert code == 2 and "--hash-algo" in err


def test_cli_show_table_lists_values() -> None:
    code, out, _ = invoke(["corim", "show", str(CBOR / "corimlib_cca_cca-realm-valid.cbor")])
    assert code == 0
    assert "1d1150bb35a9d1f18620a5cc2612e54e70f150b8fa1468939d520269e913d0ff" in out
    assert base64.b16encode(b"The quick").decode().lower() in out
    assert "tag:arm.com,2025:cca_realm#1.0.0 (uri)" in out


def test_signed_corim_with_unknown_crit_header_does_not_verify() -> None:
    """Attack: a validly signed CoRIM whose protected header marks an unknown parameter
    critical (RFC 9052 §3.1: the recipient must reject it). The CoRIM signature check now
    runs through the one COSE module, so it applies the token's header rules too."""
    key = ec.generate_private_key(ec.SECP256R1())
    corim = build_realm_corim(b"\x01" * 48, [None] * 4, "sha384", None)
    signed = cose.sign(corim, key, cose.ES256, {3: "application/rim+cbor", 2: [99], 99: 1})
    assert cose.decode_sign1(signed, "x").header_problem() == (
        "crit (2) names header parameter 99, which rmtool does not understand "
        "(RFC 9052 §3.1: processing must fail)")
    assert not verify_signature(signed, key.public_key())
    honest = cose.sign(corim, key, cose.ES256, {3: "application/rim+cbor"})
    assert verify_signature(honest, key.public_key())
