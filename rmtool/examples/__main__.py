"""``python -m rmtool.examples``: write the example inputs, or build a signed test token.

* ``inputs DIR [--changed-initrd]`` — the files of :func:`rmtool.examples.write_inputs`;
* ``token --measurements M.json --out TOKEN [--key-out RAK.pem]`` — a CCA attestation token
  (platform + realm, spec: the CCA token format as :mod:`rmtool.verify.token.codec` builds it)
  whose realm claims carry the RIM/REMs/RPV of ``rmtool measure --format json`` output,
  signed with a fixed **test** key pair made here (never use it for anything real).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool import hashalgo
from rmtool.errors import InputFileError
from rmtool.examples import write_inputs
from rmtool.files import LIMITS, read_bounded, write_atomic

# fixed private scalars: deterministic TEST keys (RAK and CPAK, P-384)
TEST_RAK_SCALAR = int.from_bytes(b"rmtool example realm attestation key (test only)", "big")
TEST_CPAK_SCALAR = int.from_bytes(b"rmtool example platform attestation key (test)", "big")
_TOKEN_ALGO = {a.name: a.ni_name for a in hashalgo.REALM if a.ni_name}


def test_key(scalar: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(scalar, ec.SECP384R1())


def _measurements(path: str) -> dict[str, Any]:
    data = read_bounded(path, LIMITS["json"], "measurements")
    try:
        doc = json.loads(data)
        return {"rim": bytes.fromhex(doc["rim"]), "rems": [bytes.fromhex(r) for r in doc["rems"]],
                "hash_algo": _TOKEN_ALGO[doc["hash_algo"]],
                "rpv": bytes.fromhex(doc["personalization_value"])}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InputFileError(f"{path} is not `rmtool measure --format json` output: "
                             f"{exc}") from None


def build_token(measurements: dict[str, Any]) -> bytes:
    """A signed CCA token whose realm claims carry *measurements*."""
    from rmtool.verify.token.codec import build_cca_token, make_realm_claims

    rak = test_key(TEST_RAK_SCALAR)
    claims = make_realm_claims(rak, rim=measurements["rim"], rems=measurements["rems"],
                               hash_algo=measurements["hash_algo"], rpv=measurements["rpv"])
    return build_cca_token(claims, rak=rak, cpak=test_key(TEST_CPAK_SCALAR))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Example inputs and test tokens made by rmtool's own code."""


@main.command("inputs")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--changed-initrd", is_flag=True, help="Also write initrd-changed.cpio.")
def inputs(directory: str, changed_initrd: bool) -> None:
    """Write the example kernel, initrd, firmware and host files into DIRECTORY."""
    for name, path in write_inputs(directory, changed_initrd=changed_initrd).items():
        click.echo(f"{name:<22} {path.stat().st_size:>7} bytes")


@main.command("token")
@click.option("--measurements", required=True, type=click.Path(dir_okay=False),
              help="Output of `rmtool measure --format json`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Token file.")
@click.option("--key-out", type=click.Path(dir_okay=False),
              help="Also write the platform TEST public key (PEM) for `rmtool token verify`.")
def token(measurements: str, out: str, key_out: str | None) -> None:
    """Build a CCA token signed with a fixed TEST key, carrying these measurements."""
    data = build_token(_measurements(measurements))
    pem = test_key(TEST_CPAK_SCALAR).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    write_atomic(out, data)
    click.echo(f"wrote token: {out} ({len(data)} bytes, signed with the rmtool TEST keys)")
    if key_out:
        write_atomic(key_out, pem)
        click.echo(f"wrote platform public key: {key_out}")


def run() -> int:
    from rmtool.cli.main import run as run_cli

    return run_cli(prog_name="python -m rmtool.examples", command=main)


if __name__ == "__main__":
    sys.exit(run())
