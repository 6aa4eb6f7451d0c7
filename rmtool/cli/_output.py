"""The structured-output contract of every command: ``--format json`` and ``--format yaml``.

Every structured document a command prints is one JSON object (docs/json.md)::

    {"schema": "rmtool/<command>/<n>", ...the command's own keys...,
     "errors": [{"message": str, "field"?: str, "offset"?: int}, ...],
     "warnings": [{"message": str, "field"?: str}, ...]}

``schema`` names the command (``rmtool/replay/1``; a sub-command joins its group's name
with a dash, ``rmtool/token-verify/1``) and the version of its document: a key that
changes meaning or disappears bumps ``<n>``, a new key does not. ``errors`` says why a
value is missing or a check failed (a RIM that is ``null`` has its reason here, not only
on stderr); ``warnings`` what the user should know about a value that is there. The
same lines still go to stderr (``WARN ...`` / ``ERROR ...``) for a human at a terminal.

``--format yaml`` prints the same document (PyYAML ``safe_dump``, keys in the JSON
order): it is made from the JSON text, so that ``yaml.safe_load`` of it equals
``json.loads`` of the JSON, value for value. Hex is lower-case without ``0x``
(docs/design: Output). This module also renders values for the human tables in the
user's terms (bytes as hex, never a Python ``b'...'`` repr).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import click

#: The version of every schema rmtool prints today (``rmtool/<command>/1``).
SCHEMA_VERSION = 1

#: Every structured document rmtool prints, by command (docs/json.md lists them).
SCHEMAS: tuple[str, ...] = (
    "measure", "replay", "compare", "token-show", "token-verify", "log-show",
    "corim-create", "corim-show", "corim-lint", "corim-submit", "launch", "demo",
    "diagnose", "appraise", "corim-verify",
)

STRUCTURED = ("json", "yaml")


def schema(command: str) -> str:
    """``rmtool/<command>/<n>`` for a command of :data:`SCHEMAS`."""
    if command not in SCHEMAS:  # a programming error: every schema is documented
        raise ValueError(f"no documented schema for {command!r}")
    return f"rmtool/{command}/{SCHEMA_VERSION}"


def message(text: str, *, field: str | None = None,
            offset: int | None = None) -> dict[str, Any]:
    """One ``errors`` / ``warnings`` item: the sentence, and the field / offset it names."""
    item: dict[str, Any] = {"message": text}
    if field is not None:
        item["field"] = field
    if offset is not None:
        item["offset"] = offset
    return item


@dataclass
class Messages:
    """The errors and warnings of one run: printed to stderr as they come (``WARN`` /
    ``ERROR`` lines, unchanged for terminal users and scripts) and kept for the
    structured document."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def warn(self, text: str, *, field: str | None = None, echo: bool = True) -> None:
        self.warnings.append(message(text, field=field))
        if echo:
            click.echo(f"WARN {text}", err=True)

    def error(self, text: str, *, field: str | None = None, offset: int | None = None,
              echo: bool = True) -> None:
        self.errors.append(message(text, field=field, offset=offset))
        if echo:
            click.echo(f"ERROR {text}", err=True)


def document(command: str, body: Mapping[str, Any], messages: Messages | None = None
             ) -> dict[str, Any]:
    """The command's document: ``schema`` first, ``body``, then ``errors`` and
    ``warnings`` (items the body already lists under those keys come first)."""
    msgs = messages or Messages()
    doc: dict[str, Any] = {"schema": schema(command)}
    doc.update((k, v) for k, v in body.items() if k not in ("schema", "errors", "warnings"))
    doc["errors"] = [*_items(body.get("errors")), *msgs.errors]
    doc["warnings"] = [*_items(body.get("warnings")), *msgs.warnings]
    return doc


def _items(value: Any) -> list[dict[str, Any]]:
    """Existing ``errors`` / ``warnings`` entries of a body as message objects."""
    if not value:
        return []
    return [dict(v) if isinstance(v, Mapping) else message(str(v)) for v in value]


def render(doc: Mapping[str, Any], fmt: str) -> str:
    """``doc`` as JSON (2-space indent) or YAML (the same document); no final newline."""
    text = json.dumps(doc, indent=2)
    if fmt == "json":
        return text
    if fmt == "yaml":
        return yaml_text(json.loads(text))
    raise ValueError(f"not a structured format: {fmt!r}")


def yaml_text(value: Any) -> str:
    """A JSON value as YAML (``safe_dump``, keys in order, no final newline)."""
    import yaml  # only --format yaml pays its import

    dumped: str = yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                                 default_flow_style=False, width=1 << 16)
    return dumped.rstrip("\n")


def emit(command: str, body: Mapping[str, Any], fmt: str,
         messages: Messages | None = None) -> None:
    """Print the command's structured document in ``fmt`` (json or yaml)."""
    click.echo(render(document(command, body, messages), fmt))


def printable(text: str) -> str:
    """TEXT from an input file for a terminal line: every character that is not printable
    (newline, escape sequences, bidi controls...) as its JSON escape, so that a hostile
    name cannot forge a table row or recolour the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in text)


def hex_text(value: Any) -> str:
    """A value for a human table: bytes as lower-case hex, the rest as ``str``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def fields_text(obj: Any, skip: Iterable[str] = ()) -> str:
    """A dataclass as ``name=value`` pairs (bytes in hex, nested dataclasses in
    parentheses, None fields left out) for a ``-v`` line."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return hex_text(obj)
    omit = set(skip)
    parts = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in omit or value is None:
            continue
        if isinstance(getattr(value, "name", None), str):
            parts.append(f"{f.name}={value.name}")  # an algorithm: its name
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            parts.append(f"{f.name}=({fields_text(value)})")
        else:
            parts.append(f"{f.name}={hex_text(value)}")
    return " ".join(parts)
