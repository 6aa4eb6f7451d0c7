"""The examples that end every command's ``--help``, declared once.

The same command lines are run by ``docs/gen_cli_md.py`` (in a directory made by
``python -m rmtool.examples inputs ex && cd ex``) and pasted with their real output into
docs/cli.md, so the help and the documentation show the same, working commands
(tests/test_first_hour.py checks that every command has examples and that each one is in
docs/cli.md). Keys are command paths without the leading ``rmtool``; ``""`` is the group.
"""

from __future__ import annotations

import click

#: host-capability files made by ``python -m rmtool.examples inputs DIR``
HOST = "-c qemu-max-8.2.conf -c kvm.conf"
QEMU = ("qemu -M confidential-guest-support=rme0 "
        "-object rme-guest,id=rme0,measurement-algorithm=sha256 -cpu host -M virt "
        "-enable-kvm -smp 2 -m 1G -nographic -kernel Image -initrd initrd.cpio "
        "-append console=hvc0")
KVMTOOL = ("kvmtool --realm -c 2 -m 512M -k Image -i initrd.cpio --measurement-log "
           "-p console=hvc0")

#: the nonce of the appraisal examples (the example token's realm challenge, zero-padded)
NONCE = "0123456789abcdef"
#: the endorsements of the example token: its platform (python -m rmtool.examples token
#: --platform-corim-out) and its Realm (MEASURE_OUTPUTS)
APPRAISE = (f"rmtool appraise token.cbor --corim platform.corim --corim realm.corim "
            f"--challenge {NONCE}")

#: the measurement that writes realm.dtb, realm.corim and realm.log (used by later examples)
MEASURE_OUTPUTS = (f"rmtool measure {HOST} -k Image -i initrd.cpio --output-dtb realm.dtb "
                   f"--corim-output realm.corim --emit-log realm.log {KVMTOOL}")

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("rmtool demo --dir demo",
         f"rmtool measure {HOST} -k Image kvmtool --realm -c 2 -m 512M -k Image"),
    "demo": ("rmtool demo --dir demo",),
    "measure": (f"rmtool measure {HOST} -k Image -i initrd.cpio {KVMTOOL}",
                f"rmtool measure {HOST} -k Image -i initrd.cpio --format json {QEMU}"),
    "dtb": ("rmtool dtb show realm.dtb",),
    "dtb show": ("rmtool dtb show realm.dtb",),
    "dtb diff": ("rmtool dtb diff realm.dtb realm-c4.dtb",),
    "launch": ("rmtool launch --config launch.toml --vmm qemu",
               "rmtool launch --config launch.toml --vmm kvmtool --serial "
               "--corim-output k.corim"),
    "corim": ("rmtool corim show realm.corim",),
    "corim create": ("rmtool corim create m.json --output m.corim",),
    "corim show": ("rmtool corim show realm.corim",),
    "corim lint": ("rmtool corim lint realm.corim",),
    "corim verify": ("rmtool corim verify signed.corim --key signer-TEST.pub.pem",),
    "corim submit": ("RMTOOL_PROVISIONING_PASSWORD=s3cret rmtool corim submit realm.corim "
                     "--api-server http://127.0.0.1:9 --auth basic --username alice "
                     "--timeout 5",),
    "log": ("rmtool log show realm.log",),
    "log show": ("rmtool log show realm.log",),
    "replay": ("rmtool replay realm.log --images .",),
    "token": ("rmtool token show token.cbor",),
    "token show": ("rmtool token show token.cbor",),
    "token verify": ("rmtool token verify token.cbor --platform-key cpak.pem",),
    "compare": ("rmtool compare token.cbor --platform-key cpak.pem --corim realm.corim",
                "rmtool compare token.cbor --platform-key cpak.pem --rim 00"),
    "diagnose": (f"rmtool diagnose token.cbor --platform-key cpak.pem --log realm.log -- "
                 f"{HOST} -k Image -i initrd.cpio {KVMTOOL.replace('-c 2', '-c 4')}",
                 f"rmtool diagnose token.cbor --platform-key cpak.pem -- {HOST} -k Image "
                 f"-i initrd.cpio {KVMTOOL.replace('-m 512M', '-m 256M')}"),
    "appraise": (APPRAISE, f"{APPRAISE} --ear ear.json --format json"),
    "completion": ("rmtool completion bash",),
}

#: where the examples' input files come from (the last line of every examples block)
INPUTS_NOTE = "(files from: python -m rmtool.examples inputs ex && cd ex; see docs/cli.md)"


def epilog(path: str, prog: str = "rmtool") -> str | None:
    """The examples block of command ``path`` (``"token show"``), or None. ``prog``
    replaces the leading ``rmtool <path>`` (``realm-measurements`` shows its own name)."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    own = f"rmtool {path}".rstrip()
    shown = [prog + line[len(own):] if prog != "rmtool" and line.startswith(own) else line
             for line in lines]
    # "\b": click keeps the block's line breaks (no rewrapping of long command lines)
    return "\b\nExamples:\n" + "\n".join(f"  $ {line}" for line in shown) + \
        f"\n  {INPUTS_NOTE}"


def attach(command: click.Command, path: str) -> click.Command:
    """Set the examples as ``command``'s epilog (and its sub-commands', for a group whose
    sub-commands are loaded); returns ``command``."""
    if command.epilog is None:
        command.epilog = epilog(path)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach(sub, f"{path} {name}".strip())
    return command
