"""Outputs in the user's terms (issue 18, part B).

Each test is the mistake it stops: a JSON document a script cannot identify or whose null
RIM has its reason only on stderr, a YAML that says something else than the JSON, replay
telling a user who gave no images that a digest "is not in the reference images", a CCA
log's PCR-style index 0 shown as if it were a measurement, integer CBOR keys, a bare
lifecycle number, a Python ``b'...'`` RPV. Values come from outside rmtool where they
can: the third-party corpus (tokens, logs, CoRIMs) and the example inputs rmtool demo
makes (whose RIMs tests/test_examples.py pins).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from rmtool.cli._demo import run_demo
from rmtool.cli._output import SCHEMAS, Messages, document, fields_text, render
from rmtool.cli.main import cli, run
from rmtool.verify.token._claims import lifecycle_state, lifecycle_text
from tests import tokens
from tests.conftest import CORPUS, need_shared
from tests.provisioning import Provisioning, serving

BOOTLOG = CORPUS / "eventlogs" / "cca-realm" / "ccarealm_realm-bootlog.bin"
TPM_LOG = CORPUS / "eventlogs" / "tpm2" / "goattest_crypto_agile_eventlog.bin"
TOKENS = CORPUS / "tokens"
CORIMS = CORPUS / "corim" / "cbor"
# the kvmtool Realm of rmtool demo (tests/test_examples.py pins the same value)
KVMTOOL_RIM = "e55f0ee4479f971811dd5ef2544c1fd40a146c1fd4eaf60ea033313c4993b321"
KVMTOOL_ARGS = ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i",
                "initrd.cpio", "-p", "console=hvc0"]


def cli_run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``rmtool ARGS`` through the real error boundary: (status, stdout, stderr)."""
    capsys.readouterr()
    status = run(args)
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rmtool demo's example inputs (Image, initrd, host capability files, launch.toml)."""
    d = tmp_path_factory.mktemp("demo")
    run_demo(d)
    return d


def measure_globals(d: Path) -> list[str]:
    return ["-c", str(d / "qemu-max-8.2.conf"), "-c", str(d / "kvm.conf"),
            "-k", str(d / "Image"), "-i", str(d / "initrd.cpio")]


@pytest.fixture(scope="module")
def realm_log(demo: Path) -> tuple[Path, Path]:
    """The kvmtool Realm's log (``measure --emit-log``) and an --images directory holding
    only its kernel and initrd."""
    log = demo / "realm.log"
    images = demo / "images"
    images.mkdir()
    for name in ("Image", "initrd.cpio"):
        (images / name).write_bytes((demo / name).read_bytes())
    assert run(["measure", *measure_globals(demo), "--emit-log", str(log),
                *KVMTOOL_ARGS]) == 0
    return log, images


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url + "/submit"


def every_command(demo: Path, realm_log: tuple[Path, Path], server: str,
                  tmp: Path) -> dict[str, list[str]]:
    """One invocation (without --format) of every command with a structured output."""
    need_shared()
    log, images = realm_log
    token = str(TOKENS / "ccatoken_tf-rmm-original-fvp.cbor")
    measured = tmp / "measured.json"
    measured.write_text(json.dumps({"rim": KVMTOOL_RIM, "rems": ["00" * 32] * 4,
                                    "hash_algo": "sha256"}))
    corim = tmp / "realm.cbor"
    assert run(["corim", "create", str(measured), "-o", str(corim)]) == 0
    realm_token = tmp / "realm-token.cbor"  # the token of the Realm KVMTOOL_ARGS describe
    realm_token.write_bytes(tokens.token_bytes(bytes.fromhex(KVMTOOL_RIM), [bytes(32)] * 4))
    cpak = tokens.generated_keys().cpak_pem(tmp)
    return {
        "measure": ["measure", *measure_globals(demo), *KVMTOOL_ARGS],
        "replay": ["replay", str(log), "--images", str(images)],
        "compare": ["compare", token, "--log", str(log), "--images", str(images),
                    "--skip-platform-signature"],
        "token-show": ["token", "show", token],
        "token-verify": ["token", "verify", token, "--skip-platform-signature"],
        "log-show": ["log", "show", str(log)],
        "corim-create": ["corim", "create", str(measured), "-o", str(tmp / "again.cbor")],
        "corim-show": ["corim", "show", str(CORIMS / "cocli_corim_signed-corim.cbor")],
        "corim-lint": ["corim", "lint", str(corim)],
        "corim-submit": ["corim", "submit", str(corim), "--api-server", server],
        "launch": ["launch", "--config", str(demo / "launch.toml"), "--gen-measurements"],
        "demo": ["demo", "--dir", str(tmp / "demo")],
        "appraise": ["appraise", str(TOKENS / "services_arm-cca_cca-good.cbor"), "--corim",
                     str(CORIMS / "services_armcca_corim-cca-platform-valid.cbor"), "--corim",
                     str(CORIMS / "services_armcca_corim-cca-realm-valid.cbor")],
        "corim-verify": ["corim", "verify", str(CORIMS / "cocli_corim_signed-corim.cbor"),
                         "--key", str(CORPUS / "corim" / "src" / "corimlib_corim_src_ec-p256.jwk")],
        "diagnose": ["diagnose", str(realm_token), "--platform-key", str(cpak), "--",
                     *measure_globals(demo), *KVMTOOL_ARGS],
    }


def _structured_commands() -> set[str]:
    """Every command (``group-sub``) whose --format offers json, from the click tree."""
    found: set[str] = set()

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, [*path, name])
            return
        for p in cmd.params:
            if "--format" in getattr(p, "opts", []) and isinstance(p.type, click.Choice):
                assert "yaml" in p.type.choices, f"{' '.join(path)}: --format without yaml"
                if "json" in p.type.choices:
                    found.add("-".join(path))

    walk(cli, [])
    return found


# ------------------------------------------------------------------ JSON / YAML contract


def test_every_json_command_has_a_documented_schema() -> None:
    """A command that grows --format json without a schema name (or a schema name for a
    command that no longer prints JSON) is caught here, and docs/json.md lists each."""
    assert _structured_commands() == set(SCHEMAS)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()
    for name in SCHEMAS:
        assert f"`rmtool/{name}/1`" in doc


def test_every_command_json_carries_schema_errors_warnings_and_yaml_is_the_same(
        demo: Path, realm_log: tuple[Path, Path], server: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    commands = every_command(demo, realm_log, server, tmp_path)
    assert set(commands) == set(SCHEMAS)  # every command is driven

    def with_format(args: list[str], name: str, fmt: str) -> list[str]:
        at = len(name.split("-"))  # right after the command's words (measure: before VMM)
        return [*args[:at], "--format", fmt, *args[at:]]

    for name, args in commands.items():
        status, out, err = cli_run(with_format(args, name, "json"), capsys)
        assert status in (0, 1), (name, err)
        doc = json.loads(out)
        assert next(iter(doc)) == "schema" and doc["schema"] == f"rmtool/{name}/1", name
        for key in ("errors", "warnings"):
            assert isinstance(doc[key], list), (name, key)
            assert all(isinstance(m, dict) and isinstance(m["message"], str)
                       for m in doc[key]), (name, key)
        if name == "demo":  # a second demo run writes its inputs again: same document
            doc["directory"] = None
        status_y, out_y, _ = cli_run(with_format(args, name, "yaml"), capsys)
        assert status_y == status, name
        again = yaml.safe_load(out_y)
        if name == "demo":
            again["directory"] = None
        assert again == doc, name


def test_replayed_rim_and_its_json_agree_with_measure(
        realm_log: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """With the images given, the replayed document has the measured RIM, no errors and
    no --images hint."""
    log, images = realm_log
    status, out, err = cli_run(["replay", str(log), "--images", str(images), "--format",
                                "json"], capsys)
    doc = json.loads(out)
    assert status == 0 and doc["rim"] == KVMTOOL_RIM
    assert doc["errors"] == [] and doc["warnings"] == []
    assert "--images" not in err


# ------------------------------------------------------------------ replay guidance


def test_replay_without_images_says_so_and_what_to_pass(
        realm_log: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """No --images: not "is not in the reference images" (there are none), but the
    option to pass; the null RIM's reason is in the JSON, not only on stderr."""
    log, _ = realm_log
    status, out, err = cli_run(["replay", str(log)], capsys)
    assert status == 1
    assert "not in the reference images" not in out + err
    assert ("hint: pass the kernel, initrd and DTB with --images DIR (a directory holding "
            "them, or a sha256sum file)") in err
    assert "ERROR RIM cannot be rebuilt: event 4 (KERNEL 0x80000000 +0x30000): sha256 " in err
    assert "cannot be matched: no reference images were given (--images)" in err
    status, out, _ = cli_run(["replay", str(log), "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["rim"] is None
    assert [e["field"] for e in doc["errors"]] == ["rim"]
    assert doc["errors"][0]["message"].startswith(
        "RIM cannot be rebuilt: event 4 (KERNEL 0x80000000 +0x30000): sha256 ")
    assert {"message": "no --images given: pass the kernel, initrd and DTB with --images "
                       "DIR (a directory holding them, or a sha256sum file)",
            "field": "--images"} in doc["warnings"]


def test_replay_with_images_that_lack_a_digest_keeps_naming_them(
        realm_log: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Images given, but not the kernel: the old message stays true and no hint is given."""
    log, images = realm_log
    only = tmp_path / "only-initrd"
    only.mkdir()
    (only / "initrd.cpio").write_bytes((images / "initrd.cpio").read_bytes())
    status, _, err = cli_run(["replay", str(log), "--images", str(only)], capsys)
    assert status == 1
    assert "is not in the reference images" in err and "hint:" not in err


def test_log_without_realm_create_says_what_it_means_and_what_to_pass(
        capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    status, out, err = cli_run(["replay", str(BOOTLOG), "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["rim"] is None
    text = ("the log has no REALM_CREATE event: the VMM did not log the Realm's creation "
            "parameters (hash algorithm, IPA width, SVE, PMU, breakpoints), which the RIM "
            "starts from, so no RIM can be rebuilt from this log alone (the REMs still "
            "replay); measure the VMM command line instead (rmtool measure VMM ARGS, or "
            "compare --measure-trace with its --format json --trace output)")
    assert {"message": text} in doc["warnings"]
    assert f"WARN {text}" in err


def test_compare_json_carries_the_replay_reasons_and_the_token_failures(
        realm_log: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """compare --log without --images: FAIL/MISMATCH, and the document says why (the
    token's failed binding, the null RIM and what to pass)."""
    need_shared()
    log, _ = realm_log
    token = str(TOKENS / "ccatoken_tf-rmm-original-fvp.cbor")
    status, out, err = cli_run(["compare", token, "--log", str(log),
                                "--skip-platform-signature", "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["result"] == "fail"
    fields = [e.get("field") for e in doc["errors"]]
    assert fields == ["binding", "rim"]
    assert "cannot be matched: no reference images were given" in doc["errors"][1]["message"]
    warned = {w.get("field") for w in doc["warnings"]}
    assert {"platform.signature", "--images"} <= warned
    assert "WARN no --images given: pass the kernel, initrd and DTB with --images DIR" in err


# ------------------------------------------------------------------ log show on CCA logs


def test_log_show_labels_index_zero_of_a_realm_log(
        realm_log: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The PCR-style extend of index 0 is not the RIM: the table and the document say
    so (the replayed RIM differs from it)."""
    log, _ = realm_log
    status, out, _ = cli_run(["log", "show", str(log)], capsys)
    assert status == 0
    row = next(line for line in out.splitlines() if line.endswith("RIM events: not the RIM "
                                                                    "(see note)"))
    assert row.split()[0] == "0"
    assert KVMTOOL_RIM not in row  # the value shown is not the Realm's RIM
    assert "  index  sha256 (PCR-style extend)" in out
    assert "note: index 0 holds the VMM's RIM events of an Arm CCA Realm log" in out
    status, out, _ = cli_run(["log", "show", str(log), "--format", "json"], capsys)
    doc = json.loads(out)
    assert [w["field"] for w in doc["warnings"]] == ["registers.sha256.0"]
    assert "not the Realm's RIM" in doc["warnings"][0]["message"]
    assert doc["registers"]["sha256"]["0"] != KVMTOOL_RIM


def test_log_show_of_a_tpm_log_has_no_realm_label(capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    status, out, _ = cli_run(["log", "show", str(TPM_LOG)], capsys)
    assert status == 0 and "RIM events" not in out and "not the RIM" not in out
    status, out, _ = cli_run(["log", "show", str(TPM_LOG), "--format", "json"], capsys)
    assert json.loads(out)["warnings"] == []


def test_log_show_realm_label_in_the_corpus_realm_log(
        capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    _, out, _ = cli_run(["log", "show", str(BOOTLOG)], capsys)
    assert ("\n      0  344c49ee07578074ff08afcb8d36df2d07a5e5aacff52edd7e4d42fbec58e8b2  "
            "RIM events: not the RIM (see note)\n") in out


# ------------------------------------------------------------------ readable values


def test_lifecycle_names_follow_the_psa_states() -> None:
    assert lifecycle_text(0x3003) == "0x3003 (secured)"
    assert lifecycle_text(0x30FF) == "0x30ff (secured)"
    assert lifecycle_text(0x0000) == "0x0000 (unknown)"
    assert lifecycle_text(0x1000) == "0x1000 (assembly-and-test)"
    assert lifecycle_text(0x2001) == "0x2001 (psa-rot-provisioning)"
    assert lifecycle_text(0x4000) == "0x4000 (non-psa-rot-debug)"
    assert lifecycle_text(0x5000) == "0x5000 (recoverable-psa-rot-debug)"
    assert lifecycle_text(0x6000) == "0x6000 (decommissioned)"
    # veraison/psatoken's lifecycle test vectors (value, state)
    for value, state in ((0x00A7, "unknown"), (0x00FF, "unknown"),
                         (0x1010, "assembly-and-test"), (0x20FF, "psa-rot-provisioning"),
                         (0x3090, "secured"), (0x4020, "non-psa-rot-debug"),
                         (0x50AF, "recoverable-psa-rot-debug"), (0x6001, "decommissioned"),
                         (0x60FF, "decommissioned")):
        assert lifecycle_text(value) == f"{value:#06x} ({state})"
        assert lifecycle_state(value) == state  # the JSON's lifecycle_state: same name
    # between the states and past the last one: no name is made up
    assert lifecycle_text(0x3100) == "0x3100 (not a PSA lifecycle state)"
    assert lifecycle_text(0x7000) == "0x7000 (not a PSA lifecycle state)"


def test_token_show_prints_lifecycle_of_corpus_tokens_with_its_state(
        capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    seen: dict[int, int] = {}
    for token in sorted(TOKENS.glob("*.cbor")):
        status, out, _ = cli_run(["token", "show", str(token), "--format", "json"], capsys)
        assert status == 0
        value = json.loads(out)["platform"]["lifecycle"]
        assert lifecycle_state(value) == "secured"
        _, table, _ = cli_run(["token", "show", str(token)], capsys)
        rows = [line.split(None, 1)[1] for line in table.splitlines()
                if line.startswith("lifecycle ")]
        assert rows == [f"{value:#06x} (secured)"], token.name
        assert "lifecycle_state" not in table
        seen[value] = seen.get(value, 0) + 1
    assert seen == {0x3000: 6, 0x3003: 10}


def test_corim_show_names_entities_regids_and_roles(
        capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    _, out, _ = cli_run(["corim", "show", str(CORIMS / "cocli_corim_signed-corim.cbor")],
                        capsys)
    head = out.split("\n\n")[0]
    rows = [tuple(line.split(None, 1)) for line in head.splitlines()]
    assert ("entity", "ACME Ltd. (reg-id acme.example; roles: manifest-creator)") in rows
    assert ("rim-validity", "not before 2021-12-31T00:00:00+00:00, not after "
            "2025-12-31T00:00:00+00:00") in rows
    assert ("corim-meta", "signer ACME Ltd signing key (https://acme.example); signature "
            "validity: not before 2021-12-31T00:00:00+00:00, not after "
            "2025-12-31T00:00:00+00:00") in rows
    assert ("dependent-rim", "href https://parent.example/rims/ccb3aa85-61b4-40f1-848e-"
            "02ad6e8a254b, thumbprint sha256:e45b72f5c0c0b572db4d8d3ab7e97f368ff74e62347a8"
            "24decb67a84e5224d75") in rows
    assert '"0"' not in head and "{" not in head  # no integer CBOR key, no raw map
    _, out, _ = cli_run(["corim", "show", str(CORIMS / "corimlib_corim_corim-roles.cbor")],
                        capsys)
    rows = [tuple(line.split(None, 1)) for line in out.split("\n\n")[0].splitlines()]
    assert ("entity", "OEM-A (reg-id https://oem-a.example; roles: manifest-signer)") in rows
    _, out, _ = cli_run(["corim", "show", str(CORIMS / "corimlib_hist_cocli_corim-cca-demo"
                                                        ".cbor"), "--format", "json"], capsys)
    doc = json.loads(out)
    assert doc["corim"]["entities"] == [{"entity-name": "ACME Ltd.", "reg-id": "acme.example",
                                         "roles": ["manifest-creator"]}]
    assert doc["comids"][0]["entities"] == [
        {"entity-name": "ACME Ltd.", "reg-id": "https://acme.example",
         "roles": ["tag-creator", "creator", "maintainer"]}]


def test_measure_verbose_prints_the_rpv_in_hex(demo: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A QEMU Realm with a personalization value: -v shows it as hex, never b'...'."""
    rpv = bytes(range(64))
    import base64

    args = ["measure", "-v", *measure_globals(demo), "qemu", "-M",
            "confidential-guest-support=rme0", "-object",
            "rme-guest,id=rme0,measurement-algorithm=sha256,personalization-value="
            + base64.b64encode(rpv).decode(),
            "-cpu", "host", "-M", "virt", "-enable-kvm", "-smp", "2", "-m", "1G",
            "-nographic", "-kernel", "Image", "-initrd", "initrd.cpio"]
    status, _, err = cli_run(args, capsys)
    assert status == 0, err
    line = next(x for x in err.splitlines() if x.startswith("realm parameters: "))
    assert f"rpv={rpv.hex()}" in line.split()
    assert "hash_algo=sha256" in line.split()
    assert "b'" not in line and "\\x" not in line


# ------------------------------------------------------------------ the helper itself


def test_document_keeps_existing_messages_and_puts_schema_first() -> None:
    msgs = Messages()
    msgs.warn("w1", field="f", echo=False)
    msgs.error("e1", offset=4, echo=False)
    doc = document("log-show", {"errors": [{"offset": 0, "field": "x", "message": "m"}],
                                "format": "tcg2", "warnings": ["plain"]}, msgs)
    assert list(doc) == ["schema", "format", "errors", "warnings"]
    assert doc["errors"] == [{"offset": 0, "field": "x", "message": "m"},
                             {"message": "e1", "offset": 4}]
    assert doc["warnings"] == [{"message": "plain"}, {"message": "w1", "field": "f"}]
    with pytest.raises(ValueError):
        document("no-such-command", {})


def test_yaml_of_values_json_would_quote_stays_strings() -> None:
    """Hex that YAML 1.1 would read as a number, a date or a bool stays a string."""
    doc = {"schema": "rmtool/replay/1", "rim": "1e10", "rems": ["0000", "0x10"],
           "n": "2021-12-31", "b": "yes", "null": None}
    assert yaml.safe_load(render(doc, "yaml")) == json.loads(render(doc, "json"))


def test_fields_text_shows_bytes_as_hex() -> None:
    from rmtool.measure.rmm.algorithms import ALGORITHMS
    from rmtool.measure.rmm.ops import RealmParams

    p = RealmParams(ALGORITHMS["sha512"], 48, rpv=b"\x01" * 64)
    text = fields_text(p)
    assert text.startswith("hash_algo=sha512 s2sz=48 ")
    assert f"rpv={'01' * 64}" in text.split() and "sve=" not in text


def test_demo_commands_in_the_document_are_shell_words(
        demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The demo document's commands run as printed (YAML keeps them as one string)."""
    status, out, _ = cli_run(["demo", "--dir", str(tmp_path), "--format", "yaml"], capsys)
    doc = yaml.safe_load(out)
    assert status == 0 and doc["schema"] == "rmtool/demo/1"
    kvm = next(r for r in doc["realms"] if r["vmm"] == "kvmtool")
    assert kvm["rim"] == KVMTOOL_RIM
    assert shlex.split(kvm["command"])[:2] == ["rmtool", "measure"]


# ------------------------------------------------- errors / warnings: the verdict's reasons


def test_token_verify_document_names_failed_and_waived_checks(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A script reading ``errors`` / ``warnings`` sees what the verdict rests on: nothing
    with the real CPAK (tokens/keys PROVENANCE: it verifies the tf-m tokens), the waived
    signature as a warning, the missing trust anchor as an error."""
    need_shared()
    good = str(TOKENS / "tfmtools_cca_example_token_2024-05.cbor")
    cpak = str(TOKENS / "keys" / "tfmtools_cca_platform.pem")
    status, out, _ = cli_run(["token", "verify", good, "--platform-key", cpak, "--format",
                              "json"], capsys)
    doc = json.loads(out)
    assert status == 0 and doc["result"] == "pass" and doc["errors"] == []
    status, out, _ = cli_run(["token", "verify", good, "--skip-platform-signature",
                              "--format", "yaml"], capsys)
    doc = yaml.safe_load(out)
    assert status == 0 and doc["schema"] == "rmtool/token-verify/1" and doc["errors"] == []
    assert [w["field"] for w in doc["warnings"]] == ["platform.signature"]
    assert "waived by --skip-platform-signature" in doc["warnings"][0]["message"]
    status, out, _ = cli_run(["token", "verify", good, "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["result"] == "fail"
    assert [e["field"] for e in doc["errors"]] == ["platform.signature"]


def test_corim_lint_document_lists_the_errors(capsys: pytest.CaptureFixture[str]) -> None:
    need_shared()
    bad = CORIMS / "corimlib_cca_cca-realm-invalid-missing-rim.cbor"
    status, out, _ = cli_run(["corim", "lint", str(bad), "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["valid"] is False
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert errors and [e["message"] for e in doc["errors"]] == [f["message"] for f in errors]


def test_corim_submit_document_says_why_it_was_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A refused submission (exit 1) has its reason in ``errors``."""

    class Refuse(Provisioning):
        reason = "RIM measurement is mandatory"

    corim = tmp_path / "realm.cbor"
    measured = tmp_path / "m.json"
    measured.write_text(json.dumps({"rim": KVMTOOL_RIM, "rems": ["00" * 32] * 4}))
    with serving(Refuse) as url:
        assert run(["corim", "create", str(measured), "-o", str(corim)]) == 0
        status, out, _ = cli_run(["corim", "submit", str(corim), "--api-server",
                                  url + "/fail/submit", "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["ok"] is False
    assert doc["errors"] == [{"message": "RIM measurement is mandatory",
                              "field": "submission"}]


def test_corim_entity_roles_are_named_only_when_the_draft_defines_them() -> None:
    """A role the draft does not define (7), or a CBOR ``true`` where a role number
    belongs, is never shown as a defined role (True == 1 == manifest-creator in Python)."""
    import cbor2

    from rmtool.verify.corim._model import CORIM_ROLE_NAMES
    from rmtool.verify.corim.realm import entity_json

    entity = {0: "Example", 1: cbor2.CBORTag(32, "https://example.com"), 2: [1, 2, 7, True]}
    assert entity_json(entity, CORIM_ROLE_NAMES) == {
        "entity-name": "Example", "reg-id": "https://example.com",
        "roles": ["manifest-creator", "manifest-signer", "role 7", True]}


def test_corim_show_escapes_control_characters_of_hostile_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An entity name with a newline cannot forge a table row (here a fake RIM line), nor
    an escape sequence recolour the terminal: both are shown escaped."""
    import cbor2

    forged = "Mallory\nRIM       " + "00" * 32 + "\x1b[2J"
    corim = cbor2.dumps(cbor2.CBORTag(501, {
        0: "forged-names", 1: [],
        5: [{0: forged, 1: cbor2.CBORTag(32, "https://evil\r.example"), 2: [1]}]}))
    path = tmp_path / "forged.cbor"
    path.write_bytes(corim)
    status, out, _ = cli_run(["corim", "show", str(path)], capsys)
    assert status == 0
    assert "\x1b" not in out and "\r" not in out
    assert not any(line.startswith("RIM") for line in out.splitlines())
    entity = next(line for line in out.splitlines() if line.startswith("entity"))
    assert entity.split(None, 1)[1] == (
        "Mallory\\nRIM       " + "00" * 32 + "\\u001b[2J (reg-id https://evil\\r.example; "
        "roles: manifest-creator)")


def test_token_show_escapes_control_characters_of_claim_texts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A realm profile claim carrying a newline and a forged ``rim`` row is shown escaped
    on its own row (tokens made with keys generated here)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from rmtool.verify.token.codec import build_cca_token, make_realm_claims

    rak = ec.generate_private_key(ec.SECP384R1())
    cpak = ec.generate_private_key(ec.SECP384R1())
    realm = make_realm_claims(rak, rim=b"\x11" * 32, rems=[bytes(32)] * 4,
                              profile="tag:arm.com,2023:realm#1.0.0\nrim  " + "22" * 32)
    token = build_cca_token(realm, rak=rak, cpak=cpak)
    path = tmp_path / "forged.cbor"
    path.write_bytes(token)
    status, out, _ = cli_run(["token", "show", str(path)], capsys)
    assert status == 0
    rims = [line.split() for line in out.splitlines() if line.startswith("rim ")]
    assert rims == [["rim", "11" * 32]]
    assert "tag:arm.com,2023:realm#1.0.0\\nrim  " + "22" * 32 in out
