"""The example endorsements of ``python -m rmtool.examples`` (issue 16): the platform CoRIM
of the example token and the TEST CoRIM signing key.

Each test is a mistake the examples could make: a CoRIM that endorses something other
than the token (another CPAK, other ids, other components), a CoRIM that any key
"verifies", a signing key that is not the one written. Values come from outside the CoRIM
builder where possible: the token as ``rmtool.verify.token`` decodes it, the CPAK public key
``--key-out`` writes, keys generated here with ``cryptography``, the IETF CoRIM CDDL of the
shared corpus.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool.cli.main import run
from rmtool.errors import CorimError, UsageError
from rmtool.examples import write_inputs
from rmtool.examples.__main__ import (
    PLATFORM_PROFILE,
    TEST_CPAK_SCALAR,
    TEST_RAK_SCALAR,
    corim_signer_key,
    example_claims,
    platform_corim,
)
from rmtool.examples.__main__ import main as examples_main
from rmtool.examples.__main__ import (
    test_key as example_key,
)
from rmtool.verify.appraise.appraisal import AppraisePolicy, appraise
from rmtool.verify.appraise.endorsements import endorsements_from_bytes, load_endorsements
from rmtool.verify.corim._lint import lint
from rmtool.verify.token.codec import build_cca_token, decode_token, read_token
from tests.conftest import CORPUS

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf"]
KVMTOOL = ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i", "initrd.cpio",
           "-p", "console=hvc0"]
NONCE = "0123456789abcdef"
# rmtool.verify.token.codec.make_platform_claims: the example token's platform
IMPL_ID = bytes(range(32))
INST_ID = b"\x01" + bytes(range(32))


def examples(*argv: str) -> int:
    return run(list(argv), prog_name="python -m rmtool.examples", command=examples_main)


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/cli.md's files: the Realm's measurements and realm.corim (rmtool measure),
    the example token with a nonce, its platform CoRIM and the CPAK public key."""
    d = tmp_path_factory.mktemp("ex")
    write_inputs(d)
    proc = subprocess.run([sys.executable, "-m", "rmtool.cli.main", "measure", *HOST, "-k",
                           "Image", "-i", "initrd.cpio", "--corim-output", "realm.corim",
                           "--format", "json", *KVMTOOL], cwd=d, capture_output=True,
                          text=True, check=True, timeout=300)
    (d / "k.json").write_text(proc.stdout)
    assert examples("token", "--measurements", str(d / "k.json"), "--challenge", NONCE,
                    "--out", str(d / "token.cbor"), "--key-out", str(d / "cpak.pem"),
                    "--platform-corim-out", str(d / "platform.corim")) == 0
    return d


def _measurements(ex: Path) -> dict[str, Any]:
    doc = json.loads((ex / "k.json").read_text())
    return {"rim": bytes.fromhex(doc["rim"]), "rems": [bytes.fromhex(r) for r in doc["rems"]],
            "hash_algo": "sha-256", "rpv": bytes.fromhex(doc["personalization_value"])}


# ---------------------------------------------------------------- the platform CoRIM


def test_platform_corim_endorses_the_tokens_platform(ex: Path) -> None:
    """appraise reads the example CoRIM as one trust anchor (the token's ids, the CPAK that
    --key-out writes) and one reference triple with the token's component and config."""
    data = (ex / "platform.corim").read_bytes()
    e = endorsements_from_bytes(data, "platform.corim")
    tok = read_token(str(ex / "token.cbor"))
    assert tok.platform is not None
    claims = tok.platform.claims
    [ta] = e.trust_anchors
    assert (ta.implementation_id, ta.instance_id) == (IMPL_ID, INST_ID)
    assert (ta.implementation_id, ta.instance_id) == (claims.implementation_id,
                                                      claims.instance_id)
    assert ta.key_pem() == (ex / "cpak.pem").read_text()
    assert ta.source == "platform.corim tags[1] platform attestation verification key at index 0"
    [ref] = e.platform
    assert ref.implementation_id == IMPL_ID
    assert [(c.label, c.version, c.signer_id, c.digests) for c in ref.components] == [
        ("RMM", "1.0.0", b"\x22" * 32, (("sha256", b"\x11" * 32),))]
    assert claims.sw_components is not None
    assert [(c.measurement_type, c.version, c.signer_id, c.measurement_value)
            for c in claims.sw_components] == [("RMM", "1.0.0", b"\x22" * 32, b"\x11" * 32)]
    assert (ref.config, ref.config_mask) == (b"\xcf\xcf\xcf\xcf", b"\xff\xff\xff\xff")
    assert ref.config == claims.config
    assert claims.lifecycle == 0x3000  # secured: judged by state, not endorsed
    assert e.realms == [] and e.notes == []


def test_platform_corim_envelope_is_the_current_platform_profile(ex: Path) -> None:
    """#6.501 with the profile as a #6.32 URI and two CoMIDs (#6.506 byte strings): the
    reference values and the attest-key triple, as veraison/services' CCA test CoRIMs."""
    top = cbor2.loads((ex / "platform.corim").read_bytes())
    assert top.tag == 501
    assert top.value[3] == cbor2.CBORTag(32, "tag:arm.com,2025:cca_platform#1.0.0")
    assert PLATFORM_PROFILE == "tag:arm.com,2025:cca_platform#1.0.0"
    refval, ta = (cbor2.loads(t.value) for t in top.value[1])
    assert [t.tag for t in top.value[1]] == [506, 506]
    assert list(refval[4]) == [0] and list(ta[4]) == [3]
    [[env, [key]]] = ta[4][3]
    assert env == {0: {0: cbor2.CBORTag(560, IMPL_ID)}, 1: cbor2.CBORTag(550, INST_ID)}
    assert key.tag == 554 and key.value.startswith("-----BEGIN PUBLIC KEY-----\n")
    [entity] = top.value[5]
    assert (entity[0], list(entity[2])) == ("rmtool example platform vendor (TEST)", [1])


def test_platform_corim_is_well_formed_ietf_corim(ex: Path) -> None:
    """The CoRIM CDDL of draft-ietf-rats-corim (corpus copy) accepts it; the realm-profile
    rules of lint do not apply to the platform profile (lint says so, not the CDDL)."""
    cddl = CORPUS / "cddl"
    if not (cddl / "ietf-corim").is_dir():
        pytest.skip("the CoRIM CDDL of the shared corpus is not available")
    findings = lint((ex / "platform.corim").read_bytes(), cddl_dir=cddl, use_env=False)
    assert [f for f in findings if f.rule.startswith("cddl")] == []  # CDDL ran, no error
    assert [f.rule for f in findings if f.severity == "error"][0] == "corim.profile-other"


def test_platform_corim_is_reproducible(ex: Path) -> None:
    """The same claims give the same bytes (the documentation's outputs are stable)."""
    _, platform = example_claims(_measurements(ex))
    assert platform_corim(platform) == (ex / "platform.corim").read_bytes()


def test_example_token_is_affirming_against_the_example_corims(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md's appraisal: every check ran (the nonce too) and the verdict is
    affirming, exit 0."""
    result = appraise(read_token(str(ex / "token.cbor")),
                      load_endorsements([ex / "platform.corim", ex / "realm.corim"]),
                      AppraisePolicy(challenge=bytes.fromhex(NONCE)))
    assert result.status == "affirming" and result.exit_code == 0
    assert result.waived == []
    assert {c.name: c.status for c in result.checks}["realm.challenge"] == "pass"
    assert all(c.status == "pass" for c in result.checks)
    vectors = {s.name: s.vector for s in result.submods}
    assert vectors["CCA_SSD_PLATFORM"] == {
        "instance-identity": 2, "configuration": 2, "executables": 2, "file-system": 0,
        "hardware": 2, "runtime-opaque": 2, "storage-opaque": 2, "sourced-data": 0}
    assert vectors["CCA_REALM"]["executables"] == 2
    assert run(["appraise", str(ex / "token.cbor"), "--corim", str(ex / "platform.corim"),
                "--corim", str(ex / "realm.corim"), "--challenge", NONCE]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ear.status: affirming")


def test_changed_component_is_a_warning_naming_it(
        ex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--changed-component RMM: the CoRIM endorses another RMM digest; the token's RMM then
    matches no reference value (executables 33, warning, exit 1)."""
    changed = tmp_path / "platform-rmm.corim"
    assert examples("token", "--measurements", str(ex / "k.json"), "--out",
                    str(tmp_path / "t.cbor"), "--platform-corim-out", str(changed),
                    "--changed-component", "RMM") == 0
    [ref] = endorsements_from_bytes(changed.read_bytes()).platform
    assert ref.components[0].digests == (("sha256", b"\xee" * 32),)
    capsys.readouterr()
    assert run(["appraise", str(ex / "token.cbor"), "--corim", str(changed), "--corim",
                str(ex / "realm.corim"), "--challenge", NONCE, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    platform = doc["submods"]["CCA_SSD_PLATFORM"]
    assert platform["status"] == "warning" and doc["ear.status"] == "warning"
    assert platform["trustworthiness-vector"]["executables"] == {
        "value": 33, "tier": "warning",
        "reason": "platform component RMM version 1.0.0 digest 11111111… matches no reference "
                  "value"}


@pytest.mark.parametrize("argv, message", [
    (["--changed-component", "BL2"], "--changed-component 'BL2' is not a component of the "
     "example platform (RMM)"),
    (["--changed-component", "RMM", "--no-corim"], "--changed-component changes the CoRIM "
     "of --platform-corim-out; give --platform-corim-out"),
    (["--challenge", "00" * 65], "--challenge is 65 bytes; a realm challenge is 1 to 64"),
    (["--challenge", "xyz"], "--challenge 'xyz' is not hex"),
])
def test_bad_token_options_are_refused_and_write_nothing(
        ex: Path, tmp_path: Path, argv: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in --changed-component would silently give an unchanged (affirming) CoRIM,
    a nonce too long would be cut: refused with exit 2 and nothing written."""
    corim = [] if "--no-corim" in argv else ["--platform-corim-out", str(tmp_path / "p.corim")]
    args = [a for a in argv if a != "--no-corim"]
    assert examples("token", "--measurements", str(ex / "k.json"), "--out",
                    str(tmp_path / "t.cbor"), *corim, *args) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_token_signed_by_another_cpak_is_not_endorsed(ex: Path) -> None:
    """The attest-key triple pins the TEST CPAK: a token with the same ids and claims but
    signed by a key generated here is not affirmed (its signature fails the CPAK)."""
    realm, platform = example_claims(_measurements(ex), bytes.fromhex(NONCE).ljust(64, b"\0"))
    forged = build_cca_token(realm, rak=example_key(TEST_RAK_SCALAR),
                             cpak=ec.generate_private_key(ec.SECP384R1()), platform=platform)
    result = appraise(decode_token(forged),
                      load_endorsements([ex / "platform.corim", ex / "realm.corim"]),
                      AppraisePolicy(challenge=bytes.fromhex(NONCE)))
    assert result.status == "contraindicated" and result.exit_code == 1
    assert {c.name: c.status for c in result.checks}["platform.signature"] == "fail"


def test_platform_corim_needs_the_ids_it_endorses(ex: Path) -> None:
    """Claims without an instance id cannot make an attest-key triple: refused, not a
    CoRIM whose trust anchor no verifier can select."""
    _, platform = example_claims(_measurements(ex))
    platform.instance_id = None
    with pytest.raises(UsageError, match="need an implementation id, an instance id"):
        platform_corim(platform)


# ---------------------------------------------------------------- the TEST signing key


@pytest.fixture(scope="module")
def signed(ex: Path) -> Path:
    """The example signed CoRIM: corim create with the TEST key of corim-signer."""
    assert examples("corim-signer", "--key-out", str(ex / "signer-TEST.pem"), "--public-out",
                    str(ex / "signer-TEST.pub.pem")) == 0
    out = ex / "signed.corim"
    assert run(["corim", "create", str(ex / "k.json"), "--key", str(ex / "signer-TEST.pem"),
                "--output", str(out)]) == 0
    return out


def test_signer_key_is_the_fixed_p256_test_key(ex: Path, signed: Path) -> None:
    key = serialization.load_pem_private_key((ex / "signer-TEST.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert key.private_numbers() == corim_signer_key().private_numbers()
    assert key.private_numbers().private_value == int.from_bytes(
        b"rmtool example corim signer TEST", "big")
    pub = serialization.load_pem_public_key((ex / "signer-TEST.pub.pem").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.public_numbers() == key.public_key().public_numbers()
    assert (ex / "signer-TEST.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_corim_verify_passes_with_the_test_key(
        ex: Path, signed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["corim", "verify", str(signed), "--key", str(ex / "signer-TEST.pub.pem"),
                "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["alg"] == "ES256"
    assert doc["reason"] == "ES256 signature verifies"
    # appraise reads the signed CoRIM's values, and says it did not check the signature
    e = load_endorsements([signed])
    assert [r.values.rim for r in e.realms] == [_measurements(ex)["rim"]]
    assert e.notes == ["signed.corim: signed CoRIM; its signature is not checked here "
                       "(rmtool corim verify)"]


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()],
                         ids=["other P-256 key", "P-384 key"])
def test_corim_verify_fails_with_another_key(
        signed: Path, tmp_path: Path, curve: ec.EllipticCurve,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A key generated here (same curve or not) does not verify the example CoRIM: exit 1,
    INVALID."""
    other = ec.generate_private_key(curve).public_key()
    path = tmp_path / "other.pem"
    path.write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    capsys.readouterr()
    assert run(["corim", "verify", str(signed), "--key", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{signed}: INVALID (" in out


def test_corim_verify_fails_on_a_tampered_payload(
        ex: Path, signed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One RIM byte changed after signing: the TEST key no longer verifies it."""
    data = bytearray(signed.read_bytes())
    rim = _measurements(ex)["rim"]
    at = bytes(data).index(rim)
    data[at] ^= 0x01
    tampered = tmp_path / "tampered.corim"
    tampered.write_bytes(bytes(data))
    capsys.readouterr()
    assert run(["corim", "verify", str(tampered), "--key", str(ex / "signer-TEST.pub.pem")]) == 1
    assert f"{tampered}: INVALID (" in capsys.readouterr().out


def test_truncated_platform_corim_is_refused_and_the_whole_one_pins_the_test_cpak(
        ex: Path) -> None:
    """A truncated copy is unusable input (CorimError, exit 2), never an empty set of
    endorsements; the whole one carries exactly the TEST CPAK's public key."""
    data = (ex / "platform.corim").read_bytes()
    with pytest.raises(CorimError):
        endorsements_from_bytes(data[:-10], "platform.corim")
    cpak = example_key(TEST_CPAK_SCALAR).public_key()
    [ta] = endorsements_from_bytes(data).trust_anchors
    assert isinstance(ta.key, ec.EllipticCurvePublicKey)
    assert ta.key.public_numbers() == cpak.public_numbers()


def test_outputs_replace_a_planted_symlink(ex: Path, tmp_path: Path) -> None:
    """A symlink planted where the platform CoRIM or the signing key goes is replaced, never
    written through (rmtool._files.write_atomic)."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    targets = [tmp_path / n for n in ("t.cbor", "p.corim", "k.pem", "k.pub.pem")]
    for t in targets:
        t.symlink_to(victim)
    assert examples("token", "--measurements", str(ex / "k.json"), "--out", str(targets[0]),
                    "--platform-corim-out", str(targets[1])) == 0
    assert examples("corim-signer", "--key-out", str(targets[2]), "--public-out",
                    str(targets[3])) == 0
    assert victim.read_bytes() == b"precious"
    assert not any(t.is_symlink() for t in targets)
    assert targets[1].read_bytes() == (ex / "platform.corim").read_bytes()
    assert targets[2].read_bytes() == corim_signer_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
