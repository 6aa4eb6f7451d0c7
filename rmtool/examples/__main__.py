"""``python -m rmtool.examples``: write the example inputs, a signed test token, its
endorsements and a TEST CoRIM signing key.

* ``inputs DIR [--changed-initrd]`` — the files of :func:`rmtool.examples.write_inputs`;
* ``token --measurements M.json --out TOKEN [--key-out CPAK.pem] [--platform-corim-out
  PLATFORM.corim [--changed-component TYPE]]`` — a CCA attestation token (platform + realm,
  spec: the CCA token format as :mod:`rmtool.verify.token.codec` builds it) whose realm
  claims carry the RIM/REMs/RPV of ``rmtool measure --format json`` output, signed with
  fixed **test** key pairs made here (never use them for anything real); and the platform
  CoRIM that endorses it (:func:`platform_corim`);
* ``corim-signer --key-out KEY [--public-out PUB]`` — a fixed **TEST** P-256 key for
  ``rmtool corim create --key`` and ``rmtool corim verify --key``.

The platform CoRIM follows the CCA platform endorsement profile
``tag:arm.com,2025:cca_platform#1.0.0`` as veraison/corim ``profiles/cca/platform.go``
checks it and :mod:`rmtool.verify.appraise.endorsements` reads it: a tagged unsigned CoRIM
(#6.501, profile #6.32 URI) with one CoMID of reference triples (environment
``{class: {class-id: #6.560(implementation id)}}``; ``cca.software-component`` measurements
with digests, name = measurement type, version and cryptokeys [#6.560(signer id)];
``cca.platform-config`` with raw-value and raw-value-mask) and one CoMID of attest-key
triples (``{class-id, instance: #6.550(instance id)}`` with the CPAK as #6.554 PEM), the
layout of veraison/services ``scheme/arm-cca/test/corim`` (refval and ta CoMIDs).
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import cbor2
import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rmtool import _hashalgo as hashalgo
from rmtool._files import LIMITS, read_bounded, write_atomic
from rmtool.errors import InputFileError, UsageError
from rmtool.examples import write_inputs

# fixed private scalars: deterministic TEST keys (RAK and CPAK P-384, CoRIM signer P-256)
TEST_RAK_SCALAR = int.from_bytes(b"rmtool example realm attestation key (test only)", "big")
TEST_CPAK_SCALAR = int.from_bytes(b"rmtool example platform attestation key (test)", "big")
TEST_CORIM_SIGNER_SCALAR = int.from_bytes(b"rmtool example corim signer TEST", "big")
REALM_CHALLENGE_SIZE = 64
_TOKEN_ALGO = {a.name: a.ni_name for a in hashalgo.REALM if a.ni_name}

PLATFORM_PROFILE = "tag:arm.com,2025:cca_platform#1.0.0"
MKEY_SW_COMPONENT = "cca.software-component"
MKEY_PLATFORM_CONFIG = "cca.platform-config"
#: the CoRIM entity and CoMID tag ids of the example platform CoRIM (UUIDv5 in a namespace
#: of rmtool's examples, so the same claims always give the same bytes)
EXAMPLE_NAMESPACE = uuid.UUID("0b1e3f64-2c4a-5d0e-8f3b-7a6c5d4e3f21")
ENTITY_NAME = "rmtool example platform vendor (TEST)"
# CBOR tags (draft-ietf-rats-corim; profiles/psa/psa.go, profiles/cca/platform.go)
_TAG_URI, _TAG_UNSIGNED_CORIM, _TAG_COMID = 32, 501, 506
_TAG_UEID, _TAG_BYTES, _TAG_PKIX_KEY = 550, 560, 554


def test_key(scalar: int, curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(scalar, curve or ec.SECP384R1())


def corim_signer_key() -> ec.EllipticCurvePrivateKey:
    """The TEST CoRIM signing key (P-256, so ``corim create --key`` signs with ES256)."""
    return test_key(TEST_CORIM_SIGNER_SCALAR, ec.SECP256R1())


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


def _challenge(text: str | None) -> bytes:
    """The realm challenge: a nonce of at most 64 bytes, zero-padded to 64 as the RMM pads
    it (``rmtool appraise --challenge`` pads the same way); none: 64 zero bytes."""
    if text is None:
        return bytes(REALM_CHALLENGE_SIZE)
    try:
        value = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise UsageError(f"--challenge {text!r} is not hex", field="challenge") from None
    if not 1 <= len(value) <= REALM_CHALLENGE_SIZE:
        raise UsageError(f"--challenge is {len(value)} bytes; a realm challenge is 1 to "
                         f"{REALM_CHALLENGE_SIZE}", field="challenge")
    return value.ljust(REALM_CHALLENGE_SIZE, b"\0")


def example_claims(measurements: dict[str, Any], challenge: bytes | None = None
                   ) -> tuple[Any, Any]:
    """(realm claims, platform claims) of the example token: the realm claims carry
    *measurements* (and *challenge*, 64 bytes), the platform claims are rmtool's default
    test platform bound to them (``rmtool.verify.token.codec.make_platform_claims``)."""
    from rmtool.verify.token.codec import make_platform_claims, make_realm_claims

    realm = make_realm_claims(test_key(TEST_RAK_SCALAR), rim=measurements["rim"],
                              rems=measurements["rems"], hash_algo=measurements["hash_algo"],
                              rpv=measurements["rpv"],
                              challenge=challenge or bytes(REALM_CHALLENGE_SIZE))
    return realm, make_platform_claims(realm)


def build_token(measurements: dict[str, Any], challenge: bytes | None = None) -> bytes:
    """A signed CCA token whose realm claims carry *measurements*."""
    from rmtool.verify.token.codec import build_cca_token

    realm, platform = example_claims(measurements, challenge)
    return build_cca_token(realm, rak=test_key(TEST_RAK_SCALAR),
                           cpak=test_key(TEST_CPAK_SCALAR), platform=platform)


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _changed_digest(digest: bytes) -> bytes:
    """Another digest of the same size (what a different build of a component gives)."""
    return bytes(b ^ 0xFF for b in digest)


def platform_corim(platform: Any, *, changed_component: str | None = None) -> bytes:
    """The platform CoRIM that endorses *platform* (``PlatformClaims`` of the example token):
    its software components (digest, measurement type, version, signer id), its config
    (raw-value; the mask selects every bit) and the TEST CPAK for its implementation and
    instance id. ``changed_component``: that measurement type's reference digest differs
    from the token's (a component the token does not carry). The lifecycle is not endorsed:
    the profile has no measurement for it; verifiers judge its state (docs/appraise.md)."""
    from rmtool.verify import _cbor as cbor
    from rmtool.verify.corim._model import HASH_ALG_IDS

    impl, inst = platform.implementation_id, platform.instance_id
    if impl is None or inst is None or not platform.sw_components:
        raise UsageError("the platform claims need an implementation id, an instance id and "
                         "software components", field="platform")
    types = [c.measurement_type for c in platform.sw_components]
    if changed_component is not None and changed_component not in types:
        raise UsageError(f"--changed-component {changed_component!r} is not a component of "
                         f"the example platform ({', '.join(str(t) for t in types)})",
                         field="changed-component")
    measurements: list[dict[int, Any]] = []
    for comp in platform.sw_components:
        algo = (comp.hash_algo or "sha-256").replace("-", "")
        digest = bytes(comp.measurement_value)
        if comp.measurement_type == changed_component:
            digest = _changed_digest(digest)
        mval: dict[int, Any] = {2: [[HASH_ALG_IDS[algo], digest]]}
        if comp.version is not None:
            mval[0] = {0: comp.version}
        if comp.measurement_type is not None:
            mval[11] = comp.measurement_type
        mval[13] = [cbor2.CBORTag(_TAG_BYTES, bytes(comp.signer_id))]
        measurements.append({0: MKEY_SW_COMPONENT, 1: dict(sorted(mval.items()))})
    if platform.config is not None:
        config = bytes(platform.config)
        measurements.append({0: MKEY_PLATFORM_CONFIG,
                             1: {4: cbor2.CBORTag(_TAG_BYTES, config),
                                 5: b"\xff" * len(config)}})
    impl_env = {0: {0: cbor2.CBORTag(_TAG_BYTES, bytes(impl))}}
    ta_env = {**impl_env, 1: cbor2.CBORTag(_TAG_UEID, bytes(inst))}
    seed = f"{impl.hex()}|{inst.hex()}|{changed_component or ''}"
    refval = {1: {0: uuid.uuid5(EXAMPLE_NAMESPACE, "refval|" + seed).bytes},
              4: {0: [[impl_env, measurements]]}}
    cpak = cbor2.CBORTag(_TAG_PKIX_KEY, _pem(test_key(TEST_CPAK_SCALAR)))
    ta = {1: {0: uuid.uuid5(EXAMPLE_NAMESPACE, "ta|" + seed).bytes},
          4: {3: [[ta_env, [cpak]]]}}
    corim = {0: uuid.uuid5(EXAMPLE_NAMESPACE, "corim|" + seed).bytes,
             1: [cbor2.CBORTag(_TAG_COMID, cbor.dumps(refval)),
                 cbor2.CBORTag(_TAG_COMID, cbor.dumps(ta))],
             3: cbor2.CBORTag(_TAG_URI, PLATFORM_PROFILE),
             5: [{0: ENTITY_NAME, 2: [1]}]}
    return cbor.dumps(cbor2.CBORTag(_TAG_UNSIGNED_CORIM, corim))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Example inputs, test tokens, endorsements and TEST keys made by rmtool's own code."""


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
@click.option("--platform-corim-out", type=click.Path(dir_okay=False),
              help="Also write the platform CoRIM (profile "
                   "tag:arm.com,2025:cca_platform#1.0.0) endorsing the token's platform: "
                   "the TEST CPAK and the reference values, for `rmtool appraise`.")
@click.option("--challenge", metavar="HEX",
              help="The realm challenge (a verifier's nonce, at most 64 bytes, zero-padded "
                   "to 64; default 64 zero bytes), for `rmtool appraise --challenge`.")
@click.option("--changed-component", metavar="TYPE",
              help="In the platform CoRIM, give the component of this measurement type "
                   "(e.g. RMM) another digest than the token's.")
def token(measurements: str, out: str, key_out: str | None, platform_corim_out: str | None,
          challenge: str | None, changed_component: str | None) -> None:
    """Build a CCA token signed with fixed TEST keys, carrying these measurements (and the
    platform CoRIM that endorses it)."""
    if changed_component is not None and platform_corim_out is None:
        raise UsageError("--changed-component changes the CoRIM of --platform-corim-out; "
                         "give --platform-corim-out", field="changed-component")
    nonce = _challenge(challenge)
    m = _measurements(measurements)
    data = build_token(m, nonce)
    corim: bytes | None = None
    if platform_corim_out is not None:
        corim = platform_corim(example_claims(m, nonce)[1], changed_component=changed_component)
    write_atomic(out, data)
    click.echo(f"wrote token: {out} ({len(data)} bytes, signed with the rmtool TEST keys)")
    if key_out:
        write_atomic(key_out, _pem(test_key(TEST_CPAK_SCALAR)))
        click.echo(f"wrote platform public key: {key_out}")
    if platform_corim_out is not None and corim is not None:
        write_atomic(platform_corim_out, corim)
        what = (f"its {changed_component} digest differs from the token's" if changed_component
                else "endorses the token's platform")
        click.echo(f"wrote platform CoRIM: {platform_corim_out} ({len(corim)} bytes, "
                   f"{what})")


@main.command("corim-signer")
@click.option("--key-out", required=True, type=click.Path(dir_okay=False),
              help="The TEST private key (PEM), for `rmtool corim create --key`.")
@click.option("--public-out", type=click.Path(dir_okay=False),
              help="Also write its public key (PEM), for `rmtool corim verify --key`.")
def corim_signer(key_out: str, public_out: str | None) -> None:
    """Write a fixed TEST CoRIM signing key (P-256, ES256): public, never use it for real."""
    key = corim_signer_key()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    write_atomic(key_out, private)
    click.echo(f"wrote CoRIM signing key: {key_out} (rmtool TEST key, P-256; its private "
               "scalar is public)")
    if public_out:
        write_atomic(public_out, _pem(key))
        click.echo(f"wrote CoRIM signer public key: {public_out}")


def run() -> int:
    from rmtool.cli.main import run as run_cli

    return run_cli(prog_name="python -m rmtool.examples", command=main)


if __name__ == "__main__":
    sys.exit(run())
