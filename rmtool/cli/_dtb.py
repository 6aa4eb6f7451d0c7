"""``rmtool dtb show|diff``: look at the device trees rmtool generates or is given."""

from __future__ import annotations

import hashlib

import click

from rmtool._files import LIMITS, read_bounded
from rmtool._filetype import check_kind
from rmtool.errors import InputFileError


def _read(path: str) -> bytes:
    """A regular file of at most ``LIMITS["dtb"]`` bytes; a file of another known kind (a
    token, an event log...) is named with the command that reads it."""
    data = read_bounded(path, LIMITS["dtb"], "DTB", InputFileError)
    check_kind(data, "dtb", path)
    return data


@click.group("dtb")
def dtb() -> None:
    """Show and compare flattened device trees (DTB)."""


@dtb.command("show")
@click.argument("file")
def show(file: str) -> None:
    """Print FILE as DTS, with its size and SHA-256."""
    from rmtool.measure.dtb._dump import to_dts

    blob = _read(file)
    click.echo(f"// {file}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")
    click.echo(to_dts(blob))


@dtb.command("diff")
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """Show how two DTBs differ (exit 1 when they do; "identical" and exit 0 when not)."""
    from rmtool.measure.dtb._dump import diff_dts

    ba, bb = _read(a), _read(b)
    lines = diff_dts(ba, bb, a, b)
    for line in lines:
        click.echo(line)
    if ba != bb and not lines:
        click.echo("same tree, different bytes (string table order, padding or header)")
    if ba == bb:  # say so: no output looked like a failure to run
        click.echo(f"identical: {a} and {b} are the same {len(ba)} bytes (sha256 "
                   f"{hashlib.sha256(ba).hexdigest()})")
    click.get_current_context().exit(1 if ba != bb else 0)
