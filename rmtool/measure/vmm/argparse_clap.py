"""A small clap-compatible option scanner for VMM argument lists.

The reference tool parses each VMM's arguments with clap: ``--long value``,
``--long=value``, ``-s value``, ``-svalue``, ``-s=value``; flags take no value;
an unknown option is ``error: unexpected argument 'X' found`` (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmtool.errors import UsageError


@dataclass(frozen=True)
class Opt:
    dest: str
    longs: tuple[str, ...] = ()
    shorts: tuple[str, ...] = ()
    takes_value: bool = True
    repeat: bool = False


def scan(argv: Sequence[str], options: Sequence[Opt], vmm: str) -> dict[str, list[str]]:
    """Return dest -> list of values (flags get ``""`` per occurrence)."""
    by_long = {name: o for o in options for name in o.longs}
    by_short = {name: o for o in options for name in o.shorts}
    out: dict[str, list[str]] = {}
    i = 0
    args = list(argv)
    while i < len(args):
        word = args[i]
        i += 1
        opt: Opt | None = None
        inline: str | None = None
        if word.startswith("--") and len(word) > 2:
            name, eq, rest = word[2:].partition("=")
            opt = by_long.get(name)
            inline = rest if eq else None
        elif word.startswith("-") and len(word) > 1 and word != "-":
            opt = by_short.get(word[1])
            rest = word[2:]
            if rest:
                inline = rest[1:] if rest.startswith("=") else rest
        if opt is None:
            raise UsageError(f"error: unexpected argument '{word}' found\n\n"
                             f"Usage: realm-measurements {vmm} [OPTIONS]")
        if opt.takes_value:
            if inline is None:
                if i >= len(args):
                    raise UsageError(f"error: a value is required for '{word}' but none was "
                                     f"supplied")
                inline = args[i]
                i += 1
            value = inline
        else:
            if inline is not None:
                raise UsageError(f"error: unexpected value '{inline}' for '{word}' found; "
                                 f"no more were expected")
            value = ""
        if not opt.repeat and opt.dest in out and opt.takes_value:
            raise UsageError(f"error: the argument '{word}' cannot be used multiple times")
        out.setdefault(opt.dest, []).append(value)
    return out
