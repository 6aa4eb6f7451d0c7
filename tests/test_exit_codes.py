"""The exit-code contract of every command (rmtool.errors, docs/cli.md "Exit status").

0: ok / pass / match; 1: a check ran on usable input and failed (a verdict); 2: unusable
input or usage (missing file, a directory where a file is expected, unknown option,
malformed input). Every command of ``rmtool.cli.main.COMMANDS`` (and each group's
sub-commands, and ``python -m rmtool.examples``) is run on a missing file, a directory and
an unknown option; commands with a verdict also on a well-formed input that fails the check
and on one that passes. Inputs: the example inputs rmtool generates
(``rmtool.examples.write_inputs``) and the third-party corpus (tokens, keys, CoRIMs).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import click
import pytest

from rmtool.cli.main import COMMANDS, cli, run
from tests import tokens
from tests.conftest import CORPUS
from tests.provisioning import serving

TOKENS = CORPUS / "tokens"
CORIMS = CORPUS / "corim" / "cbor"
HOST = ["-c", "{ex}/qemu-max-8.2.conf", "-c", "{ex}/kvm.conf", "-k", "{ex}/Image",
        "-i", "{ex}/initrd.cpio"]
KVMTOOL = ["kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i",
           "initrd.cpio", "--measurement-log", "-p", "console=hvc0"]

@dataclass(frozen=True)
class Case:
    command: str               # "corim lint", "measure", ... ("examples token" for -m)
    kind: str                  # missing | directory | usage | fail | pass | malformed
    argv: tuple[str, ...]      # {placeholders} filled from the ``paths`` fixture
    expected: int
    corpus: bool = False


def _c(command: str, kind: str, argv: list[str], expected: int, corpus: bool = False) -> Case:
    return Case(command, kind, tuple(argv), expected, corpus)


CASES: list[Case] = [
    # measure: no verdict (it computes); inputs are -k/-i/-f/-c/--dtb files
    _c("measure", "missing", ["measure", *HOST[:4], "-k", "{missing}", *KVMTOOL], 2),
    _c("measure", "directory", ["measure", *HOST[:4], "-k", "{dir}", *KVMTOOL], 2),
    _c("measure", "usage", ["measure", "--bogus", *KVMTOOL], 2),
    _c("measure", "malformed", ["measure", *HOST, "--dtb-template", "{ex}/Image",
                                *KVMTOOL], 2),
    _c("measure", "pass", ["measure", *HOST, *KVMTOOL], 0),
    # dtb
    _c("dtb show", "missing", ["dtb", "show", "{missing}"], 2),
    _c("dtb show", "directory", ["dtb", "show", "{dir}"], 2),
    _c("dtb show", "usage", ["dtb", "show", "--bogus", "{realm_dtb}"], 2),
    _c("dtb show", "malformed", ["dtb", "show", "{ex}/Image"], 2),
    _c("dtb show", "pass", ["dtb", "show", "{realm_dtb}"], 0),
    _c("dtb diff", "missing", ["dtb", "diff", "{realm_dtb}", "{missing}"], 2),
    _c("dtb diff", "directory", ["dtb", "diff", "{dir}", "{realm_dtb}"], 2),
    _c("dtb diff", "usage", ["dtb", "diff", "--bogus", "{realm_dtb}", "{realm_dtb}"], 2),
    _c("dtb diff", "fail", ["dtb", "diff", "{realm_dtb}", "{other_dtb}"], 1),
    _c("dtb diff", "pass", ["dtb", "diff", "{realm_dtb}", "{realm_dtb_copy}"], 0),
    # token
    _c("token show", "missing", ["token", "show", "{missing}"], 2),
    _c("token show", "directory", ["token", "show", "{dir}"], 2),
    _c("token show", "usage", ["token", "show", "--bogus", "{token}"], 2, corpus=True),
    _c("token show", "malformed", ["token", "show", "{truncated_token}"], 2, corpus=True),
    _c("token show", "pass", ["token", "show", "{token}"], 0, corpus=True),
    _c("token verify", "missing", ["token", "verify", "{missing}"], 2),
    _c("token verify", "directory", ["token", "verify", "{dir}"], 2),
    _c("token verify", "missing", ["token", "verify", "{token}", "--platform-key",
                                   "{missing}"], 2, corpus=True),
    _c("token verify", "usage", ["token", "verify", "--bogus", "{token}"], 2, corpus=True),
    _c("token verify", "malformed", ["token", "verify", "{truncated_token}",
                                     "--platform-key", "{cpak}"], 2, corpus=True),
    _c("token verify", "pass", ["token", "verify", "{token}", "--platform-key", "{cpak}"], 0,
       corpus=True),
    _c("token verify", "fail", ["token", "verify", "{tampered_token}", "--platform-key",
                                "{cpak}"], 1, corpus=True),
    _c("token verify", "fail", ["token", "verify", "{bug33_token}", "--platform-key",
                                "{cpak}"], 1, corpus=True),
    # no trust anchor: the platform signature was not checked, so no PASS
    _c("token verify", "fail", ["token", "verify", "{token}"], 1, corpus=True),
    # replay: 0 every register rebuilt, 1 the RIM cannot be rebuilt
    _c("replay", "missing", ["replay", "{missing}"], 2),
    _c("replay", "directory", ["replay", "{dir}"], 2),
    _c("replay", "usage", ["replay", "--bogus", "{realm_log}"], 2),
    _c("replay", "malformed", ["replay", "{ex}/Image"], 2),
    _c("replay", "malformed", ["replay", "{truncated_log}", "--images", "{ex}"], 2),
    _c("replay", "fail", ["replay", "{realm_log}"], 1),   # no reference images
    _c("replay", "pass", ["replay", "{realm_log}", "--images", "{ex}"], 0),
    # compare
    _c("compare", "missing", ["compare", "{missing}", "--rim", "00"], 2),
    _c("compare", "directory", ["compare", "{dir}", "--rim", "00"], 2),
    _c("compare", "missing", ["compare", "{token}", "--corim", "{missing}"], 2, corpus=True),
    _c("compare", "usage", ["compare", "--bogus", "{token}"], 2, corpus=True),
    _c("compare", "usage", ["compare", "{token}"], 2, corpus=True),  # no reference given
    _c("compare", "malformed", ["compare", "{token}", "--log", "{truncated_log}"], 2,
       corpus=True),
    _c("compare", "fail", ["compare", "{token}", "--rim", "{other_rim}", "--platform-key",
                           "{cpak}"], 1, corpus=True),
    # no trust anchor: the claims match but the token was not verified, so no MATCH
    _c("compare", "fail", ["compare", "{token}", "--rim", "{token_rim}"], 1, corpus=True),
    _c("compare", "fail", ["compare", "{tampered_token}", "--rim", "{token_rim}",
                           "--platform-key", "{cpak}"], 1, corpus=True),
    _c("compare", "pass", ["compare", "{token}", "--rim", "{token_rim}", "--platform-key",
                           "{cpak}"], 0, corpus=True),
    # diagnose: 0 match, 1 mismatch with causes (or a token that fails verification),
    # 3 unexplained (tests/test_diagnose.py), 2 unusable; the token is the -c 1 Realm's
    _c("diagnose", "missing", ["diagnose", "{missing}", "--", *HOST, *KVMTOOL], 2),
    _c("diagnose", "directory", ["diagnose", "{dir}", "--", *HOST, *KVMTOOL], 2),
    _c("diagnose", "missing", ["diagnose", "{diag_token}", "--log", "{missing}", "--",
                               *HOST, *KVMTOOL], 2),
    _c("diagnose", "usage", ["diagnose", "--bogus", "{diag_token}"], 2),
    _c("diagnose", "usage", ["diagnose", "{diag_token}"], 2),  # no MEASURE_ARGS
    _c("diagnose", "malformed", ["diagnose", "{diag_token}", "--platform-key", "{diag_cpak}",
                                 "--log", "{truncated_log}", "--", *HOST, *KVMTOOL], 2),
    _c("diagnose", "fail", ["diagnose", "{diag_token}", "--platform-key", "{diag_cpak}",
                            "--jobs", "1", "--", *HOST, *KVMTOOL], 1),  # -c 1, not 2
    _c("diagnose", "fail", ["diagnose", "{diag_token}", "--", *HOST, *KVMTOOL[:3], "1",
                            *KVMTOOL[4:]], 1),  # no trust anchor: never a match
    _c("diagnose", "pass", ["diagnose", "{diag_token}", "--platform-key", "{diag_cpak}",
                            "--", *HOST, *KVMTOOL[:3], "1", *KVMTOOL[4:]], 0),
    # log show: no verdict (digest checks are shown); malformed is unusable input
    _c("log show", "missing", ["log", "show", "{missing}"], 2),
    _c("log show", "directory", ["log", "show", "{dir}"], 2),
    _c("log show", "usage", ["log", "show", "--bogus", "{realm_log}"], 2),
    _c("log show", "malformed", ["log", "show", "{truncated_log}"], 2),
    _c("log show", "pass", ["log", "show", "{realm_log}"], 0),
    # corim
    _c("corim create", "missing", ["corim", "create", "{missing}", "-o", "{out}"], 2),
    _c("corim create", "directory", ["corim", "create", "{dir}", "-o", "{out}"], 2),
    _c("corim create", "directory", ["corim", "create", "{m_json}", "-o", "{dir}"], 2),
    _c("corim create", "usage", ["corim", "create", "--bogus", "{m_json}", "-o", "{out}"], 2),
    _c("corim create", "malformed", ["corim", "create", "{ex}/Image", "-o", "{out}"], 2),
    _c("corim create", "pass", ["corim", "create", "{m_json}", "-o", "{out}"], 0),
    _c("corim show", "missing", ["corim", "show", "{missing}"], 2),
    _c("corim show", "directory", ["corim", "show", "{dir}"], 2),
    _c("corim show", "usage", ["corim", "show", "--bogus", "{realm_corim}"], 2),
    _c("corim show", "malformed", ["corim", "show", "{ex}/Image"], 2),
    _c("corim show", "pass", ["corim", "show", "{realm_corim}"], 0),
    _c("corim lint", "missing", ["corim", "lint", "{missing}"], 2),
    _c("corim lint", "directory", ["corim", "lint", "{dir}"], 2),
    _c("corim lint", "usage", ["corim", "lint", "--bogus", "{realm_corim}"], 2),
    _c("corim lint", "malformed", ["corim", "lint", "{ex}/Image"], 2),
    _c("corim lint", "fail", ["corim", "lint", "{corim_no_rim}"], 1, corpus=True),
    _c("corim lint", "pass", ["corim", "lint", "{corim_valid}"], 0, corpus=True),
    _c("corim submit", "missing", ["corim", "submit", "{missing}", "--api-server",
                                   "{server}/ok"], 2),
    _c("corim submit", "directory", ["corim", "submit", "{dir}", "--api-server",
                                     "{server}/ok"], 2),
    _c("corim submit", "usage", ["corim", "submit", "--bogus", "{realm_corim}",
                                 "--api-server", "{server}/ok"], 2),
    _c("corim submit", "fail", ["corim", "submit", "{corim_no_rim}", "--api-server",
                                "{server}/ok"], 1, corpus=True),  # lint refuses it
    _c("corim submit", "fail", ["corim", "submit", "{realm_corim}", "--api-server",
                                "{server}/fail"], 1),  # the service rejects it
    _c("corim submit", "pass", ["corim", "submit", "{realm_corim}", "--api-server",
                                "{server}/ok"], 0),
    _c("corim verify", "missing", ["corim", "verify", "{missing}", "--key", "{corim_key}"], 2,
       corpus=True),
    _c("corim verify", "directory", ["corim", "verify", "{dir}", "--key", "{corim_key}"], 2,
       corpus=True),
    _c("corim verify", "usage", ["corim", "verify", "{signed_corim}"], 2, corpus=True),
    _c("corim verify", "malformed", ["corim", "verify", "{corim_valid}", "--key",
                                     "{corim_key}"], 2, corpus=True),  # not signed
    _c("corim verify", "fail", ["corim", "verify", "{signed_corim}", "--key", "{cpak}"], 1,
       corpus=True),
    _c("corim verify", "pass", ["corim", "verify", "{signed_corim}", "--key", "{corim_key}"],
       0, corpus=True),
    # appraise: 0 affirming, 1 warning / contraindicated
    _c("appraise", "missing", ["appraise", "{missing}", "--corim", "{corim_valid}"], 2,
       corpus=True),
    _c("appraise", "directory", ["appraise", "{dir}", "--corim", "{corim_valid}"], 2,
       corpus=True),
    _c("appraise", "missing", ["appraise", "{good_token}", "--corim", "{missing}"], 2,
       corpus=True),
    _c("appraise", "usage", ["appraise", "--bogus", "{good_token}"], 2, corpus=True),
    _c("appraise", "malformed", ["appraise", "{truncated_token}", "--corim",
                                 "{corim_valid}"], 2, corpus=True),
    _c("appraise", "malformed", ["appraise", "{good_token}", "--corim", "{corim_no_rim}"], 2,
       corpus=True),
    _c("appraise", "pass", ["appraise", "{good_token}", "--corim", "{platform_corim}",
                            "--corim", "{corim_valid}", "--challenge", "{good_nonce}"], 0,
       corpus=True),
    _c("appraise", "fail", ["appraise", "{good_token}", "--corim", "{platform_corim}",
                            "--challenge", "{good_nonce}"], 1, corpus=True),  # no realm RVs
    _c("appraise", "fail", ["appraise", "{good_token}", "--corim", "{platform_corim}",
                            "--corim", "{corim_valid}", "--challenge", "00"], 1, corpus=True),
    # launch: no verdict
    _c("launch", "missing", ["launch", "--config", "{missing}"], 2),
    _c("launch", "missing", ["launch", "--config", "{ex}/launch.toml", "--kernel",
                             "{missing}", "--output-dir", "{outdir}"], 2),
    _c("launch", "directory", ["launch", "--config", "{dir}"], 2),
    _c("launch", "usage", ["launch", "--bogus"], 2),
    _c("launch", "malformed", ["launch", "--config", "{ex}/Image"], 2),
    _c("launch", "pass", ["launch", "--config", "{ex}/launch.toml", "--output-dir",
                          "{outdir}"], 0),
    # demo and completion read no file
    _c("demo", "directory", ["demo", "--dir", "{ex}/Image"], 2),  # a file, not a directory
    _c("demo", "usage", ["demo", "--bogus"], 2),
    _c("demo", "pass", ["demo", "--dir", "{outdir}", "--format", "json"], 0),
    _c("completion", "usage", ["completion", "--bogus"], 2),
    _c("completion", "usage", ["completion", "tcsh"], 2),
    _c("completion", "pass", ["completion", "bash"], 0),
    # the top level
    _c("rmtool", "usage", ["bogus-command"], 2),
    _c("rmtool", "usage", ["--bogus"], 2),
    # python -m rmtool.examples
    _c("examples inputs", "directory", ["inputs", "{ex}/Image"], 2),
    _c("examples inputs", "usage", ["inputs", "--bogus", "{outdir}"], 2),
    _c("examples inputs", "pass", ["inputs", "{outdir}"], 0),
    _c("examples token", "missing", ["token", "--measurements", "{missing}", "--out",
                                     "{out}"], 2),
    _c("examples token", "directory", ["token", "--measurements", "{dir}", "--out",
                                       "{out}"], 2),
    _c("examples token", "usage", ["token", "--bogus"], 2),
    _c("examples token", "malformed", ["token", "--measurements", "{ex}/Image", "--out",
                                       "{out}"], 2),
    _c("examples token", "pass", ["token", "--measurements", "{m_json}", "--out",
                                  "{out}"], 0),
]

#: Commands that give a verdict (exit 1 on a check that fails).
VERDICTS = {"dtb diff", "token verify", "replay", "compare", "diagnose", "corim lint",
            "corim submit", "corim verify", "appraise"}
#: Commands that read no file (no "missing" case).
NO_INPUT_FILE = {"demo", "completion", "rmtool", "examples inputs"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory, server: str) -> dict[str, str]:
    from rmtool.examples import write_inputs

    base = tmp_path_factory.mktemp("exit-codes")
    ex = base / "ex"
    write_inputs(ex)
    (base / "a-directory").mkdir()
    p = {"ex": str(ex), "missing": str(base / "no-such-file"), "dir": str(base / "a-directory"),
         "server": server}
    fill = {"ex": str(ex)}
    host = [a.format(**fill) for a in HOST]
    out = {"realm_dtb": base / "realm.dtb", "other_dtb": base / "other.dtb",
           "realm_log": base / "realm.log", "realm_corim": base / "realm.corim"}
    assert run(["measure", *host, "--output-dtb", str(out["realm_dtb"]), "--emit-log",
                str(out["realm_log"]), "--corim-output", str(out["realm_corim"]),
                *KVMTOOL]) == 0
    other = [*KVMTOOL[:3], "1", *KVMTOOL[4:]]  # one vCPU: another DTB
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(["measure", *host, "--output-dtb", str(out["other_dtb"]), "--format",
                    "json", *other]) == 0
    (base / "m.json").write_text(buf.getvalue())
    p["m_json"] = str(base / "m.json")
    (base / "diag.cbor").write_bytes(tokens.from_measure_json(json.loads(buf.getvalue())))
    p["diag_token"] = str(base / "diag.cbor")
    p["diag_cpak"] = str(tokens.generated_keys().cpak_pem(base))
    p.update({k: str(v) for k, v in out.items()})
    copy = base / "realm-copy.dtb"
    copy.write_bytes(out["realm_dtb"].read_bytes())
    p["realm_dtb_copy"] = str(copy)
    log = out["realm_log"].read_bytes()
    (base / "truncated.log").write_bytes(log[:len(log) // 2])
    p["truncated_log"] = str(base / "truncated.log")
    if TOKENS.is_dir():
        token = TOKENS / "tfmtools_cca_example_token.cbor"
        p["token"] = str(token)
        p["cpak"] = str(TOKENS / "keys" / "tfmtools_cca_platform.pem")
        p["bug33_token"] = str(TOKENS / "rustccatoken_bug-33-repro.cbor")
        data = token.read_bytes()
        (base / "truncated.cbor").write_bytes(data[:len(data) // 2])
        p["truncated_token"] = str(base / "truncated.cbor")
        p["tampered_token"] = str(_tamper_realm_signature(data, base / "tampered.cbor"))
        rim = _token_rim(data)
        assert any(rim)  # a real RIM, so a one-bit change is a different value
        p["token_rim"] = rim.hex()
        p["other_rim"] = bytes([rim[0] ^ 1]).hex() + rim[1:].hex()
    if CORIMS.is_dir():
        p["corim_valid"] = str(CORIMS / "services_armcca_corim-cca-realm-valid.cbor")
        p["corim_no_rim"] = str(CORIMS / "services_armcca_corim-cca-realm-bad-no-rim.cbor")
        p["platform_corim"] = str(CORIMS / "services_armcca_corim-cca-platform-valid.cbor")
        p["signed_corim"] = str(CORIMS / "corimlib_corim_signed-good-corim.cbor")
        p["corim_key"] = str(CORPUS / "corim" / "src" / "corimlib_corim_src_ec-p256.jwk")
        p["good_token"] = str(TOKENS / "services_arm-cca_cca-good.cbor")
        # scheme/arm-cca/scheme_test.go testNonce (the realm challenge of cca-good.cbor)
        p["good_nonce"] = ("6f24d6b9635a2c8bbf58e908b94e04c1bfb3ae80cdebe832424578499fe31761"
                           "e7f5e1d8bce0121844f54abdfa5286da88f53a657b15335c9396b4329254bc5c")
    return p


def _realm_entry(token: bytes) -> tuple[Any, bytes, Any]:
    """(outer tag, realm COSE_Sign1 bytes, how to put new bytes back) of a CCA token: tag
    399 maps 44241 to the bytes, tag 907 (CMW collection) to [content-type, bytes]."""
    outer = cbor2.loads(token)
    entry = outer.value[44241]
    if isinstance(entry, bytes):
        return outer, entry, lambda new: new
    return outer, entry[1], lambda new: [entry[0], new]


def _token_rim(token: bytes) -> bytes:
    _, realm, _ = _realm_entry(token)
    payload = cbor2.loads(realm).value[2]  # COSE_Sign1 (tag 18): payload
    return bytes(cbor2.loads(payload)[44238])  # RIM claim


def _tamper_realm_signature(token: bytes, out: Path) -> Path:
    """The same CCA token with one bit of the realm COSE_Sign1 signature flipped:
    well-formed, its RIM unchanged, not authentic."""
    outer, realm_bytes, put = _realm_entry(token)
    realm = cbor2.loads(realm_bytes)
    parts = list(realm.value)
    parts[3] = bytes([parts[3][0] ^ 1]) + bytes(parts[3][1:])
    claims = dict(outer.value)
    claims[44241] = put(cbor2.dumps(cbor2.CBORTag(realm.tag, parts)))
    out.write_bytes(cbor2.dumps(cbor2.CBORTag(outer.tag, claims)))
    return out


def _params() -> list[Any]:
    out = []
    seen: dict[str, int] = {}
    for case in CASES:
        key = f"{case.command}-{case.kind}"
        seen[key] = seen.get(key, 0) + 1
        ident = key if seen[key] == 1 else f"{key}{seen[key]}"
        out.append(pytest.param(case, id=ident.replace(" ", "-")))
    return out


@pytest.mark.parametrize("case", _params())
def test_exit_code(case: Case, paths: dict[str, str], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    if case.corpus and not TOKENS.is_dir():
        pytest.skip("../shared/corpus is not beside this checkout")
    fill = {**paths, "out": str(tmp_path / "out.bin"), "outdir": str(tmp_path / "outdir")}
    argv = [a.format(**fill) for a in case.argv]
    capsys.readouterr()
    if case.command.startswith("examples "):
        from rmtool.examples.__main__ import main as examples_main

        code = run(argv, prog_name="python -m rmtool.examples", command=examples_main)
    else:
        code = run(argv)
    captured = capsys.readouterr()
    assert code == case.expected, captured.out[-2000:] + captured.err
    assert "Traceback" not in captured.err
    if case.expected == 2:
        assert captured.err.strip(), "an unusable input is reported on stderr"
    if case.kind in ("missing", "directory", "usage", "malformed"):
        assert not (tmp_path / "out.bin").exists()  # nothing written on a refusal


def _all_commands() -> set[str]:
    names: set[str] = {"rmtool", "examples inputs", "examples token"}
    ctx = click.Context(cli)
    for _, attr in COMMANDS:
        cmd = cli.get_command(ctx, attr.replace("_", "-"))
        assert cmd is not None
        if isinstance(cmd, click.Group):
            names.update(f"{cmd.name} {sub}" for sub in cmd.list_commands(ctx))
        else:
            names.add(str(cmd.name))
    return names


def test_table_covers_every_command() -> None:
    """A new command (or sub-command) must get its rows in CASES."""
    kinds: dict[str, set[str]] = {}
    for case in CASES:
        kinds.setdefault(case.command, set()).add(case.kind)
    assert set(kinds) == _all_commands()
    for command, have in kinds.items():
        need = {"usage"} | ({"fail", "pass"} if command in VERDICTS else set())
        if command not in NO_INPUT_FILE:
            need |= {"missing", "directory"}
        assert need <= have, (command, need - have)


def test_docs_state_the_contract() -> None:
    """docs/cli.md carries the generator's exit-status section verbatim (so regenerating
    it changes nothing there), and names exactly the commands with a verdict."""
    import importlib.util
    import re

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_cli_md", root / "docs" / "gen_cli_md.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    section = "\n".join(gen.EXIT_STATUS)
    assert section in (root / "docs" / "cli.md").read_text(encoding="utf-8")
    line = next(x for x in gen.EXIT_STATUS if x.startswith("Commands with a verdict"))
    assert set(re.findall(r"`([a-z ]+)`", line)) == VERDICTS
