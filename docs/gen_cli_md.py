"""Regenerate docs/cli.md: run every documented command and paste its real output.

Usage (from the repository root, after ``pip install -e .``)::

    python docs/gen_cli_md.py > docs/cli.md

The commands run in a fresh directory made by ``python -m rmtool.examples inputs``;
its path is shown as ``ex`` in the output. Long outputs are cut (marked ``[...]``).
The examples that end every command's ``--help`` (``rmtool/cli/_help_examples.py``) are
among the commands run, so the help and this page show the same working lines
(tests/test_first_hour.py checks it).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from rmtool.cli._help_examples import EXAMPLES, HOST, KVMTOOL, MEASURE_OUTPUTS, NONCE, QEMU

MAX_LINES = 40
EX = EXAMPLES  # every command's --help examples (rmtool/cli/_help_examples.py): all run here
# setup commands: the files later examples read
DTB_C4 = (f"rmtool measure {HOST} -k Image --no-measurements --output-dtb realm-c4.dtb "
          "kvmtool --realm -c 4 -m 512M -k Image")
M_JSON = f"rmtool measure {HOST} -k Image -i initrd.cpio --format json {QEMU} > m.json"
K_JSON = f"rmtool measure {HOST} -k Image -i initrd.cpio --format json {KVMTOOL} > k.json"
TOKEN = ("python -m rmtool.examples token --measurements k.json --out token.cbor "
         "--key-out cpak.pem")
# the TEST CoRIM signing key and a CoRIM signed with it (corim verify)
SIGNER = ("python -m rmtool.examples corim-signer --key-out signer-TEST.pem "
          "--public-out signer-TEST.pub.pem")
SIGNED = "rmtool corim create m.json --key signer-TEST.pem --output signed.corim"
# the example token again, with a nonce, and the platform CoRIM that endorses it (appraise)
APPRAISE_TOKEN = (f"python -m rmtool.examples token --measurements k.json --challenge {NONCE} "
                  "--out token.cbor --platform-corim-out platform.corim")

SECTIONS: list[tuple[str, str, list[str]]] = [
    ("rmtool", "Commands; `rmtool COMMAND --help` documents each option and ends with the "
     "examples of this page.",
     ["rmtool --help"]),
    ("rmtool demo", "Generates example inputs and measures three Realms: no input needed. "
     "Lists every file it wrote; without `--dir` the temporary directory is removed at the "
     "end (`--keep` keeps it).",
     [*EX["demo"]]),
    ("rmtool measure", "The reference tool's CLI (`realm-measurements` is an alias): global "
     "options, then the VMM name and the VMM's own arguments. Values are printed at the "
     "Realm's hash size. The host's capabilities (`-c` files such as `qemu-max-8.2.conf` "
     "and `kvm.conf`, or `--num-wps`, `--num-bps`, ...) must be given: rmtool does not "
     "guess them, because a measurement with guessed host capabilities is a wrong "
     "reference value. An error keeps the reference tool's first line; a second line "
     "`hint: ...` says what to pass.",
     [*EX["measure"], f"rmtool measure {HOST} -k Image -i initrd.cpio --trace {KVMTOOL}",
      MEASURE_OUTPUTS, EX[""][1], "rmtool measure -k Image kvmtool --realm -c 2 -m 512M -k Image",
      "rmtool measure kvmtool --realm"]),
    ("rmtool dtb", "Inspect and compare device trees (e.g. the one a Realm was measured "
     "with).", [DTB_C4, *EX["dtb show"], *EX["dtb diff"]]),
    ("rmtool launch", "Run script + DTB for a Realm, or its reference values "
     "(docs/launch.md).",
     [*EX["launch"], "out/run-qemu.sh --print-args",
      "rmtool launch --config launch.toml --vmm kvmtool --edk2"]),
    ("rmtool corim", "CoRIM reference values in the CCA realm profile. `corim submit` "
     "takes the password from `--password-file` or `$RMTOOL_PROVISIONING_PASSWORD` (a "
     "`--password` on the command line is visible in ps); here no service listens. "
     "`corim verify` checks the signature of a signed CoRIM, here one signed with the TEST "
     "key of `python -m rmtool.examples corim-signer`.",
     [M_JSON, *EX["corim create"], *EX["corim show"], *EX["corim lint"], SIGNER, SIGNED,
      *EX["corim verify"], *EX["corim submit"]]),
    ("rmtool log", "Decode an event log.", [*EX["log show"]]),
    ("rmtool replay", "Rebuild the RIM and REMs from an event log.", [*EX["replay"]]),
    ("rmtool token", "Decode and verify CCA attestation tokens (here a test token made by "
     "`python -m rmtool.examples token`).",
     [K_JSON, TOKEN, *EX["token show"], *EX["token verify"]]),
    ("rmtool compare", "Which realm claim differs from which reference value.",
     [*EX["compare"]]),
    ("rmtool diagnose", "Why a token's Realm is not the expected one (docs/diagnose.md): "
     "the expected Realm's `rmtool measure` arguments after `--`; causes from the token's "
     "claims, from `--log`, or from a search of nearby configurations.",
     [f"rmtool diagnose token.cbor --platform-key cpak.pem -- {HOST} -k Image "
      f"-i initrd.cpio {KVMTOOL}", *EX["diagnose"]]),
    ("rmtool appraise", "What Veraison would conclude about a token, offline "
     "(docs/appraise.md): the trust anchor and reference values come from CoRIMs, here the "
     "platform CoRIM `python -m rmtool.examples token --platform-corim-out` writes for the "
     "example token (TEST keys) and the Realm's `realm.corim`. `--challenge` is the nonce the "
     "token must carry; without it freshness is named UNVERIFIED.",
     [APPRAISE_TOKEN, *EX["appraise"]]),
    ("rmtool completion", "Shell completion (bash, zsh, fish); see the end of this page.",
     [*EX["completion"]]),
]


def run(cmd: str, cwd: Path) -> str:
    proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)
    text = (proc.stdout + proc.stderr).rstrip("\n").replace(str(cwd), "ex")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + ["[...]"]
    if proc.returncode:
        lines.append(f"(exit status {proc.returncode})")
    return "\n".join(lines)


HEADER = ["# rmtool command line", "",
          "Every command below was run as shown, in a directory made with",
          "`python -m rmtool.examples inputs ex && cd ex` (example inputs generated by",
          "rmtool itself); the output is pasted unchanged except that long outputs are cut",
          "(`[...]`). Regenerate with `python docs/gen_cli_md.py > docs/cli.md`.",
          "Errors are one `ERROR ...` line on stderr; the exit status follows the contract",
          "below.", ""]

# The exit-code contract (rmtool/errors.py; tests/test_exit_codes.py runs every command
# against it) and how outputs are written (rmtool/_files.py; tests/test_files.py).
EXIT_STATUS = [
    "## Exit status", "",
    "Every command follows one contract:", "",
    "| status | meaning |",
    "|---|---|",
    "| 0 | ok: the command did its job; for a command with a verdict, every check behind "
    "it ran and passed (PASS, MATCH, valid, identical) |",
    "| 1 | a check ran on usable input and failed: the verdict is negative "
    "(`token verify` FAIL, `compare` MISMATCH, `replay` cannot rebuild the RIM or a REM, "
    "`corim lint` INVALID, `corim submit` refused by the lint or rejected by the service, "
    "`corim verify` INVALID signature, `appraise` not affirming, "
    "`dtb diff` of DTBs that differ) |",
    "| 2 | unusable input or usage: a file that is missing, unreadable, a directory, a "
    "device, too large or malformed; an unknown option or options that conflict; an "
    "output that cannot be written |",
    "| 3 | `diagnose` only: the token's Realm differs from the expected one and no cause "
    "explains it (verdict UNEXPLAINED) |", "",
    "Commands with a verdict (status 1 possible): `dtb diff`, `token verify`, `replay`, "
    "`compare`, `diagnose`, `corim lint`, `corim submit`, `corim verify`, `appraise`. The "
    "others exit 0 or 2.",
    "`realm-measurements` (the reference tool's entry point) keeps the reference tool's",
    "status 1 for its `ERROR` lines; its usage errors stay 2.", "",
    "### Output files", "",
    "Every file rmtool writes (`measure --output-dtb`, `--emit-log`, `--corim-output`,",
    "`--endorsements-output`; `corim create -o`; `launch`'s run script and DTB;",
    "`demo` and `python -m rmtool.examples`) is written atomically: a new file is created",
    "beside the target, written, flushed to disk and renamed over the target. A symlink at",
    "the target is replaced, never written through; if the write fails (disk full,",
    "`ulimit -f`) the command exits 2 and the previous file is left as it was, with no",
    "partial or temporary file. A target that is a directory, a device or a FIFO",
    "(`/dev/null`, `/dev/stdout`) is refused. Files get mode 0644 (the run script 0755),",
    "less the umask. `measure --output-dtb` is written before the measurement, as by the",
    "reference tool; the other outputs only once everything they depend on succeeded.", "",
]


def main() -> None:
    out = [*HEADER, *EXIT_STATUS]
    with tempfile.TemporaryDirectory(prefix="rmtool-docs-") as tmp:
        cwd = Path(tmp)
        subprocess.run([sys.executable, "-m", "rmtool.examples", "inputs", tmp], check=True,
                       capture_output=True)
        for title, intro, cmds in SECTIONS:
            out += [f"## {title}", "", intro, ""]
            for cmd in cmds:
                out += ["```console", f"$ {cmd}", run(cmd, cwd), "```", ""]
    out += ["## Shell completion", "",
            "bash: add `eval \"$(rmtool completion bash)\"` to `~/.bashrc`;",
            "zsh: add `eval \"$(rmtool completion zsh)\"` to `~/.zshrc`;",
            "fish: `rmtool completion fish > ~/.config/fish/completions/rmtool.fish`.",
            "This is click's completion (`_RMTOOL_COMPLETE=bash_source rmtool` prints the",
            "same script). It completes commands, options, choices (`--vmm <TAB>`), the VMM",
            "names of `rmtool measure` and, after one, that VMM's own options, and files;",
            "it prints nothing but the candidates.",
            ""]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
