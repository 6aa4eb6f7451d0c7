"""``rmtool launch``: the run script's VMM arguments are exactly the measured ones.

For each VMM: ``launch`` writes run-<vmm>.sh; the script's ``--print-measure-args``,
fed to ``rmtool measure``, must give the RIM that ``launch --corim-output`` put into the
CoRIM (read back with rmtool.verify.corim.realm.load_reference_values). The reference
script's broken combinations (docs/launch.md) are refused with exit 2.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from rmtool.cli.main import run
from rmtool.examples import write_inputs

VMMS = ("kvmtool", "qemu", "cloud-hv")
# earlycon address = UART | 1 << (s2sz - 1): the reference script's hard-coded IPA widths
# (41 QEMU, 33 kvmtool, 48 cloud-hv) are what the Realms below get.
EARLYCON = {"kvmtool": "earlycon=uart,mmio,0x101000000 console=ttyS0",
            "qemu": "earlycon=pl011,0x10009000000 console=ttyAMA0",
            "cloud-hv": "earlycon=pl011,0x800009000000 console=ttyAMA0"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("launch")
    write_inputs(d)
    return d


def _rmtool(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _script_lines(script: Path, flag: str) -> list[str]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    proc = subprocess.run(["bash", str(script), flag], capture_output=True, text=True,
                          check=True, timeout=30)
    return proc.stdout.splitlines()


@pytest.mark.parametrize("extra", [(), ("--serial", "--disk", "--network", "tap")],
                         ids=["default", "serial-disk-tap"])
@pytest.mark.parametrize("vmm", VMMS)
def test_run_script_measures_as_corim(vmm: str, extra: tuple[str, ...], inputs: Path,
                                      tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(inputs / "launch.toml")
    out_dir = tmp_path / "out"
    code, out, err = _rmtool(capsys, "launch", "--config", cfg, "--vmm", vmm,
                             "--output-dir", str(out_dir), *extra)
    assert code == 0, err
    script = out_dir / f"run-{vmm}.sh"
    assert f"wrote script: {script}" in out
    assert script.stat().st_mode & 0o111
    launch_rim = re.search(r"^RIM: ([0-9a-f]+)$", out, re.M)
    assert launch_rim is not None

    # the run script: host paths from the config, the measured DTB
    args = _script_lines(script, "--print-args")
    assert "/srv/realm/Image" in args
    dtb_name = {"kvmtool": "kvmtool-gen.dtb", "qemu": "qemu-gen.dtb",
                "cloud-hv": "cloudhv-gen.dtb"}[vmm]
    assert f"/srv/realm/{dtb_name}" in args
    dtb = (out_dir / dtb_name).read_bytes()
    assert hashlib.sha256(dtb).hexdigest() in script.read_text()
    if "--serial" in extra:
        assert any(EARLYCON[vmm] in a for a in args), args
        assert any("root=/dev/vda2" in a for a in args)
    if "--network" in extra and vmm != "kvmtool":
        assert 'exec 3<>"/dev/tap$TAP_INDEX"' in script.read_text()

    # its arguments fed to rmtool measure ...
    measure_argv = _script_lines(script, "--print-measure-args")
    assert measure_argv[0] == "measure"
    assert measure_argv[measure_argv.index(vmm) + 1:] == args
    code, out2, err2 = _rmtool(capsys, measure_argv[0], "--format", "json", *measure_argv[1:])
    assert code == 0, err2
    measured = json.loads(out2)

    # ... give the RIM that launch --corim-output wrote
    corim = tmp_path / "realm.corim"
    endorsements = tmp_path / "realm.json"
    code, out3, err3 = _rmtool(capsys, "launch", "--config", cfg, "--vmm", vmm,
                               "--output-dir", str(out_dir), *extra,
                               "--corim-output", str(corim),
                               "--endorsements-output", str(endorsements))
    assert code == 0, err3
    corim_mod = pytest.importorskip("rmtool.verify.corim.realm")
    rv = corim_mod.load_reference_values(corim)
    assert rv.rim is not None
    assert measured["rim"] == rv.rim.hex() == launch_rim.group(1)
    assert rv.hash_algo == measured["hash_algo"]
    comid = json.loads(endorsements.read_text())
    regs = comid["triples"]["reference-values"][0]["measurements"][0]["value"][
        "integrity-registers"]
    alg, b64 = regs["rim"]["value"][0].split(";")
    assert base64.b64decode(b64).hex() == measured["rim"]
    assert alg == {"sha256": "sha-256", "sha512": "sha-512"}[measured["hash_algo"]]


def test_kvmtool_restricted_mem_is_fixed(inputs: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                             "--vmm", "kvmtool", "--restricted-mem", "--output-dir",
                             str(tmp_path), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert "--restricted_mem" in doc["vmm_args"]
    assert "--restricted-mem" not in doc["vmm_args"]
    assert "NOTE kvmtool: emitting --restricted_mem" in err


def test_no_pmu_is_measured(inputs: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    rims = {}
    for flags in ((), ("--no-pmu",)):
        code, out, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                                 "--vmm", "qemu", "--output-dir", str(tmp_path),
                                 "--format", "json", *flags)
        assert code == 0, err
        doc = json.loads(out)
        rims[flags] = doc["rim"]
    assert rims[()] != rims[("--no-pmu",)]
    assert "host,pmu=off" in doc["vmm_args"]


@pytest.mark.parametrize(("argv", "message"), [
    (("--vmm", "kvmtool", "--edk2"), "duplicate blob"),
    (("--kvmtool", "--edk2"), "needs --disk-boot"),
    (("--vmm", "cloud-hv", "--edk2"), "passes -bios, which cloud-hypervisor rejects"),
    (("--cloudhv", "--eventlog"), "--eventlog is not available with cloud-hv"),
    (("--vmm", "qemu", "--disk-boot"), "--disk-boot needs --edk2"),
    (("--vmm", "qemu", "--restricted-mem"), "--restricted-mem is a kvmtool option"),
    (("--vmm", "cloud-hv", "--network", "user"), "no user-mode network"),
    (("--no-gen-dtb",), "--no-gen-dtb is not supported"),
    (("--no-rme",), "--no-rme is not supported"),
    (("--kvmtool", "--cloudhv"), "choose one VMM"),
])
def test_refused_combinations(argv: tuple[str, ...], message: str, inputs: Path,
                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                             "--output-dir", str(tmp_path), *argv)
    assert code == 2
    assert err.startswith("ERROR ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_kvmtool_edk2_disk_boot(inputs: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                             "--vmm", "kvmtool", "--edk2", "--disk-boot", "--output-dir",
                             str(tmp_path), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    args = doc["vmm_args"]
    assert args[args.index("-f") + 1] == "/srv/realm/QEMU_EFI.fd"
    assert "-k" not in args and "-i" not in args
    assert args[args.index("-d") + 1] == "/srv/realm/disk.img"
    assert "-f" in doc["measure_argv"]  # the firmware content is measured


def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('kernel = "Image"\nkernal = "typo"\n')
    code, _, err = _rmtool(capsys, "launch", "--config", str(bad))
    assert code == 2 and "unknown key 'kernal'" in err
    code, _, err = _rmtool(capsys, "launch", "--vmm", "qemu")
    assert code == 2 and "no kernel given" in err


VICTIM = b"#!/bin/sh\n# someone else's file: launch must never write it\n"


def _plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


@pytest.mark.parametrize("planted", ["run-qemu.sh.tmp", "run-qemu.sh", "qemu-gen.dtb"])
def test_symlink_planted_in_output_dir_is_not_followed(planted: str, inputs: Path,
                                                       tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """The attack: a symlink at the fixed temporary name (old code: opened it with "w"
    and chmod 0755 through it) or at the script / DTB itself points at another file."""
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    victim.chmod(0o600)
    out_dir = tmp_path / "out"
    _plant(out_dir / planted, victim)
    old = os.umask(0o022)
    try:
        code, out, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                                 "--vmm", "qemu", "--output-dir", str(out_dir))
    finally:
        os.umask(old)
    assert code == 0, err
    assert victim.read_bytes() == VICTIM
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    script = out_dir / "run-qemu.sh"
    assert not script.is_symlink()
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    dtb = out_dir / "qemu-gen.dtb"
    assert not dtb.is_symlink() and dtb.read_bytes()[:4] == b"\xd0\x0d\xfe\xed"
    leftovers = sorted(p.name for p in out_dir.iterdir())
    assert leftovers == sorted({"qemu-gen.dtb", "run-qemu.sh", planted})


def test_no_output_when_a_later_one_fails(inputs: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--output-dtb and --endorsements-output are built, then the CoRIM template is not
    JSON: nothing is written (outputs are written only once all of them are built)."""
    bad = tmp_path / "corim-template.json"
    bad.write_text("{not json")
    dtb, comid, corim = (tmp_path / n for n in ("r.dtb", "r.json", "r.corim"))
    code, _, err = _rmtool(capsys, "launch", "--config", str(inputs / "launch.toml"),
                           "--vmm", "kvmtool", "--output-dtb", str(dtb),
                           "--endorsements-output", str(comid), "--corim-output", str(corim),
                           "--corim-template", str(bad))
    assert code == 2, err
    assert err.startswith(f"ERROR {bad}: not JSON: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corim-template.json"]
