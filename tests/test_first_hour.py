"""A new user's first hour (issue 18, part A): each test is a mistake a first-time user
makes, and what rmtool now says about it.

The reference tool's first stderr line is kept where scripts read it (the anchor vectors,
tests/test_vectors.py); rmtool adds one ``hint:`` line in the user's terms. The inputs are
the example files of ``python -m rmtool.examples inputs DIR`` (the README's ``ex``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest

from rmtool.cli._help_examples import EXAMPLES
from rmtool.cli.main import cli, realm_measurements, run
from rmtool.examples import write_inputs
from tests.conftest import ROOT

HOST = ["-c", "qemu-max-8.2.conf", "-c", "kvm.conf"]
README_KVMTOOL = ["-k", "Image", "kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image"]
NO_CAPS = "ERROR Failed to compute measurements: num_wps is not known"


@pytest.fixture()
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``python -m rmtool.examples inputs ex && cd ex``."""
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# ------------------------------------------------------------ 1. host capabilities


def test_measure_without_host_caps_names_the_files_and_options(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's command: the reference's line stays first (a guessed capability would
    be a wrong reference value, so it still fails), the hint names what to pass."""
    hint = ("hint: the host's num_wps and num_bps are not known (rmtool does not guess: a "
            "guessed value gives a wrong reference value); pass the host's capability files, "
            "e.g. -c qemu-max-8.2.conf -c kvm.conf (written by python -m rmtool.examples "
            "inputs DIR), or --num-wps N --num-bps N, before the VMM name")
    assert run(["measure", *README_KVMTOOL]) == 2
    assert err_lines(capsys) == [NO_CAPS, hint]
    # realm-measurements: the reference's exit status, the same two lines
    assert realm_measurements(README_KVMTOOL) == 1
    assert err_lines(capsys) == [NO_CAPS, hint]
    # following the hint works
    assert run(["measure", *HOST, *README_KVMTOOL]) == 0
    assert capsys.readouterr().out.startswith("RIM: ")


def test_hint_lists_only_the_capabilities_still_unknown(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["measure", "--num-wps", "4", *README_KVMTOOL]) == 2
    first, hint = err_lines(capsys)
    assert first == "ERROR Failed to compute measurements: num_bps is not known"
    assert hint.startswith("hint: the host's num_bps is not known ")
    assert "or --num-bps N, before the VMM name" in hint and "--num-wps" not in hint


@pytest.mark.parametrize("prog, argv, run_it", [
    ("rmtool measure", [], lambda a: run(["measure", *a])),
    ("realm-measurements", [], realm_measurements),
])
def test_measure_without_arguments_lists_the_vmms(
        prog: str, argv: list[str], run_it: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(run_it) and run_it(argv) == 2
    assert err_lines(capsys) == [
        f"Usage: {prog} [OPTIONS] [VMM] [VMM_ARGS]...",
        "VMM is one of: kvmtool, qemu, cloud-hv (then that VMM's own arguments)",
        f"Try '{prog} --help' for help."]


# ------------------------------------------------------------ 2. messages


SIZE_HINT = ("expected a size such as 512M (a number and at most one upper-case suffix B, K, "
             "M, G, T or P; no suffix means MiB)")


@pytest.mark.parametrize("vmm_args, first, shown", [
    (["kvmtool", "--realm", "-c", "2", "-m", "512X"], "-m: invalid digit found in string",
     "-m 512X"),
    (["qemu", "-m", "512X"], "-m: invalid digit found in string", "-m 512X"),
    (["qemu", "-m", "size=1X"], "-m size: invalid digit found in string", "-m size=1X"),
    (["cloud-hv", "--memory", "size=512X"], "--memory: invalid digit found in string",
     "--memory 512X"),
])
def test_bad_size_says_what_a_size_looks_like(
        ex: Path, vmm_args: list[str], first: str, shown: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["measure", *HOST, "-k", "Image", *vmm_args]) == 2
    assert err_lines(capsys) == [f"ERROR Cannot build parameters: {first}",
                                 f"hint: {shown}: {SIZE_HINT}"]


def test_kernel_given_as_host_config(ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-c Image``: the TOML reader's error stays first, the hint says what -c takes."""
    assert run(["measure", "-c", "Image", "kvmtool", "--realm", "-m", "512M"]) == 2
    assert err_lines(capsys) == [
        "ERROR Cannot build parameters: file Image error: stream did not contain valid UTF-8",
        "hint: Image is not a host-capability TOML file (it looks like an arm64 Linux kernel "
        "Image); -c takes files such as qemu-max-8.2.conf or kvm.conf (python -m "
        "rmtool.examples inputs DIR writes them)"]


def test_toml_with_wrong_keys_gets_no_misleading_hint(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """launch.toml is TOML: serde's "unknown field" already names the keys -c accepts."""
    assert run(["measure", "-c", "launch.toml", "kvmtool", "--realm", "-m", "512M"]) == 2
    lines = err_lines(capsys)
    assert lines[-1].startswith("unknown field `kernel`, expected one of `ipa_bits`")
    assert not any(line.startswith("hint:") for line in lines)


def test_initrd_given_as_kernel(ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["measure", *HOST, "-k", "initrd.cpio", "kvmtool", "--realm", "-c", "2", "-m",
                "512M", "-k", "initrd.cpio"]) == 2
    assert err_lines(capsys) == [
        "ERROR Cannot build parameters: file initrd.cpio error: invalid gzip header",
        "hint: -k initrd.cpio: not an arm64 Linux Image (no ARM\\x64 magic)"]


def test_vmm_kernel_option_without_global_kernel(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """kvmtool's own ``-k`` names the guest's kernel; its content is the global -k."""
    assert run(["measure", *HOST, "kvmtool", "--realm", "-c", "2", "-m", "512M", "-k",
                "Image"]) == 2
    assert err_lines(capsys) == [
        "ERROR Cannot build parameters: need kernel image",
        "hint: the VMM loads a kernel: pass its content with the global -k FILE, before the "
        "VMM name (rmtool measure -k FILE VMM ...)"]


@pytest.mark.parametrize("typo, meant", [("kvmtol", "kvmtool"), ("cloudhv", "cloud-hv"),
                                         ("kvm-tool", "kvmtool")])
def test_mistyped_vmm_name(typo: str, meant: str, capsys: pytest.CaptureFixture[str]) -> None:
    """clap's line for scripts, then the suggestion."""
    assert run(["measure", *HOST, typo, "--realm"]) == 2
    assert err_lines(capsys) == [f"error: unrecognized subcommand '{typo}'",
                                 f"hint: did you mean '{meant}'?"]


@pytest.mark.parametrize("argv, hint", [
    # a VMM's option before the VMM name
    (["-m", "512M", "kvmtool", "--realm"],
     "hint: -m is an option of kvmtool and qemu: put it after the VMM name (rmtool measure "
     "[OPTIONS] VMM -m ...)"),
    (["--realm", "kvmtool"], "hint: --realm is an option of kvmtool: put it after the VMM "
                             "name (rmtool measure [OPTIONS] VMM --realm ...)"),
    # a mistyped global option
    (["--num-wp", "4", "kvmtool"], "hint: did you mean '--num-wps' or '--num-bps'?"),
])
def test_misplaced_or_mistyped_global_option(argv: list[str], hint: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["measure", *argv]) == 2
    assert err_lines(capsys) == [f"error: unexpected argument '{argv[0]}' found", hint]


def test_second_config_file_without_its_option(ex: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``-c qemu-max-8.2.conf kvm.conf kvmtool``: clap takes kvm.conf as the VMM name."""
    assert run(["measure", "-k", "Image", "-c", "qemu-max-8.2.conf", "kvm.conf", "kvmtool",
                "--realm"]) == 2
    assert err_lines(capsys) == [
        "error: unrecognized subcommand 'kvm.conf'",
        "hint: kvm.conf is a file, not a VMM name (kvmtool, qemu, cloud-hv): each file needs "
        "its own option before the VMM name, e.g. -c kvm.conf"]


@pytest.mark.parametrize("argv, line", [
    (["launch", "--vmm", "qemuu"], "Error: Invalid value for '--vmm': 'qemuu' is not one of "
                                   "'kvmtool', 'qemu', 'cloud-hv'. Did you mean 'qemu'?"),
])
def test_mistyped_choice(argv: list[str], line: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    assert err_lines(capsys)[-1] == line


def test_mistyped_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["token", "show", "--format", "jsn", "t.cbor"]) == 2
    last = err_lines(capsys)[-1]  # the list of formats may grow (yaml)
    assert last.startswith("Error: Invalid value for '--format': 'jsn' is not one of 'table', ")
    assert last.endswith(". Did you mean 'json'?")


@pytest.mark.parametrize("argv, line", [
    (["mesure"], "Error: No such command 'mesure'. Did you mean 'measure'?"),
    (["replya", "x"], "Error: No such command 'replya'. Did you mean 'replay'?"),
    (["corim", "shw", "x"], "Error: No such command 'shw'. Did you mean 'show'?"),
    (["token", "verfy", "x"], "Error: No such command 'verfy'. Did you mean 'verify'?"),
])
def test_mistyped_subcommand(argv: list[str], line: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    assert err_lines(capsys)[-1] == line


def test_realm_measurements_help_shows_its_own_usage(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert realm_measurements(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Usage: realm-measurements [OPTIONS] [VMM] [VMM_ARGS]..."
    assert "rmtool measure" not in out
    assert "    $ realm-measurements -c qemu-max-8.2.conf -c kvm.conf -k Image" in out
    assert run(["measure", "--help"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == \
        "Usage: rmtool measure [OPTIONS] [VMM] [VMM_ARGS]..."


# ------------------------------------------------------------ 4. help with examples


def _commands() -> list[tuple[str, click.Command]]:
    """Every command and sub-command as (path without 'rmtool', command)."""
    found: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: str) -> None:
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}".strip())

    walk(cli, "")
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: p or "rmtool")
def test_every_help_ends_with_examples_that_docs_run(
        path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(EXAMPLES.get(path, ())) in (1, 2), f"no examples for rmtool {path}"
    assert run([*path.split(), "--help"]) == 0
    help_text = capsys.readouterr().out.rstrip()
    tail = help_text[help_text.rindex("Examples:"):].splitlines()
    assert tail[1:-1] == [f"    $ {e}" for e in EXAMPLES[path]]
    assert tail[-1] == ("    (files from: python -m rmtool.examples inputs ex && cd ex; see "
                        "docs/cli.md)")
    cli_md = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for example in EXAMPLES[path]:  # docs/gen_cli_md.py ran it and pasted its output
        assert f"```console\n$ {example}\n" in cli_md


def test_examples_have_no_stale_keys() -> None:
    assert set(EXAMPLES) == {p for p, _ in COMMANDS}


# ------------------------------------------------------------ 5. housekeeping


def test_demo_removes_its_temporary_directory_and_lists_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run(["demo"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"^Wrote 8 example input files \(made by rmtool.examples\) in (\S+):$",
                  out, re.M)
    assert m is not None and Path(m.group(1)).parent == tmp_path
    for name in ("Image", "QEMU_EFI.fd", "fvp.conf", "initrd.cpio", "kvm.conf", "launch.toml",
                 "qemu-max-8.2.conf", "rmm-1.0-eac5.conf"):
        assert re.search(rf"^  {re.escape(name)} +\d+ bytes", out, re.M), name
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert f"Removed {m.group(1)}: rerun with --keep" in out
    # the commands it prints name the files as in any examples directory
    assert "  rmtool measure -c qemu-max-8.2.conf -c kvm.conf -k Image -i initrd.cpio " \
        "kvmtool" in out


def test_demo_keep_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run(["demo", "--keep"]) == 0
    out = capsys.readouterr().out
    (kept,) = tmp_path.iterdir()
    assert f"Kept {kept} (the files above)." in out
    assert sorted(p.name for p in kept.iterdir()) == [
        "Image", "QEMU_EFI.fd", "fvp.conf", "initrd.cpio", "kvm.conf", "launch.toml",
        "qemu-max-8.2.conf", "rmm-1.0-eac5.conf"]


def test_demo_lists_only_what_it_wrote(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.txt").write_text("the user's own file")
    assert run(["demo", "--dir", str(tmp_path), "--format", "json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["kept"] is True and "mine.txt" not in doc["files"] and len(doc["files"]) == 8
    assert (tmp_path / "mine.txt").read_text() == "the user's own file"


def test_readme_example_directory_is_git_ignored() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "ex/Image", "demo/kvm.conf"],
                          capture_output=True, text=True, check=False)
    assert proc.stdout.split() == ["ex/Image", "demo/kvm.conf"]


def test_pytest_says_how_many_tests_need_shared(tmp_path: Path) -> None:
    """A checkout without ../shared: one summary line with the count."""
    tests = tmp_path / "checkout" / "tests"
    tests.mkdir(parents=True)
    (tests / "__init__.py").write_text("")
    (tests / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tests / "test_x.py").write_text(
        "from tests.conftest import need_shared\n"
        "def test_a():\n    need_shared()\n"
        "def test_b():\n    need_shared()\n"
        "def test_c():\n    assert 1 + 1 == 2\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tests)], cwd=tests.parent, capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("2 tests skipped because ../shared (third-party corpus and reference vectors) is "
            "absent: put it beside this checkout to run them") in proc.stdout.splitlines()


def test_launch_does_not_warn_about_its_own_arguments(
        ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --serial launch writes QEMU's -serial chardev:chr0 (the virtconsole); the
    reference's parser skips it as two unknown words. That is not the user's doing."""
    assert run(["launch", "--config", "launch.toml", "--vmm", "qemu"]) == 0
    assert "WARN" not in capsys.readouterr().err
    assert run(["launch", "--config", "launch.toml", "--vmm", "qemu", "-v"]) == 0
    err = capsys.readouterr().err
    assert ("NOTE measured as the reference does: Parameter -serial ignored (an argument "
            "rmtool generated)") in err.splitlines()


def test_only_generated_words_are_silenced() -> None:
    from rmtool.launch._plan import about_generated_word

    args = ["-serial", "chardev:chr0", "-device", "vhost-vsock-pci,guest-cid=5"]
    assert about_generated_word("Parameter -serial ignored", args)
    assert about_generated_word("ignored -device vhost-vsock-pci,guest-cid=5", args)
    assert not about_generated_word("Parameter -usb ignored", args)  # not ours: still a WARN
    assert not about_generated_word("ignored cpu parameter sve", args)


def test_kvmtool_without_realm_warns(ex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["measure", *HOST, "-k", "Image", "kvmtool", "-c", "2", "-m", "512M", "-k",
                "Image"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("RIM: ")
    assert err.splitlines() == ["WARN kvmtool without --realm: this is not a Realm; the "
                                "measurements describe nothing a Realm will report"]


def test_submit_password_alternatives_are_documented(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The behaviour (environment variable, --password-file, a warning for --password) is
    tested against a real server in tests/test_corim_submit.py; the help names both."""
    assert run(["corim", "submit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--password-file FILE basic: read the password from this file" in text
    assert "$RMTOOL_PROVISIONING_PASSWORD" in text
