"""``rmtool dtb show|diff``: look at the device trees rmtool generates or is given."""

from __future__ import annotations

import hashlib

import click

from rmtool.errors import InputFileError, os_error_text


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(64 << 20)
    except OSError as exc:
        raise InputFileError(os_error_text(path, exc).replace("VMM: ", "")) from exc


@click.group("dtb")
def dtb() -> None:
    """Show and compare flattened device trees (DTB)."""


@dtb.command("show")
@click.argument("file")
def show(file: str) -> None:
    """Print FILE as DTS, with its size and SHA-256."""
    from rmtool.measure.dtb.dump import to_dts

    blob = _read(file)
    click.echo(f"// {file}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")
    click.echo(to_dts(blob))


@dtb.command("diff")
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """Show how two DTBs differ (exit 1 when they do)."""
    from rmtool.measure.dtb.dump import diff_dts

    ba, bb = _read(a), _read(b)
    lines = diff_dts(ba, bb, a, b)
    for line in lines:
        click.echo(line)
    if ba != bb and not lines:
        click.echo("same tree, different bytes (string table order, padding or header)")
    click.get_current_context().exit(1 if ba != bb else 0)
