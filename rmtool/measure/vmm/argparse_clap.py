"""A small clap-compatible option scanner for VMM (and global) argument lists.

The reference tool parses its global options and each VMM's arguments with clap
4.5 (derive): ``--long value``, ``--long=value``, ``-s value``, ``-svalue``,
``-s=value``; flags take no value; ``--`` ends the options. Everything is checked
while scanning, in command-line order, so the first bad token wins
(clap_builder ``parser.rs``: ``react``, ``parse_long_arg``, ``parse_short_arg``):

* unknown option -> ``error: unexpected argument '--x' found`` (a long option is
  named without its ``=value``, a short one by its first letter);
* a non-repeatable option or flag given twice -> ``error: the argument '--cpus
  <CPUS>' cannot be used multiple times`` (clap ``ArgAction::Set`` / ``SetTrue``);
* a value-taking option followed by another option or by nothing -> ``error: a
  value is required for '--cpus <CPUS>' but none was supplied`` (a word starting
  with ``-`` is never taken as a value, not even ``-1``);
* typed values (clap ``value_parser!``: ``u8``/``u16`` ranged through ``i64``,
  ``u64``/``usize`` through ``FromStr``, ``bool``) -> ``error: invalid value 'x' for
  '--cpus <CPUS>': invalid digit found in string``.

All of these are clap errors: the message is printed verbatim and the exit status
is 2 (:class:`ClapError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rmtool.errors import UsageError

U64_MAX = (1 << 64) - 1
I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
STOP_KEY = "\0stop"


class ClapError(UsageError):
    """An argument error reported by clap itself: printed as is, exit status 2."""


class ValueRejected(ValueError):
    """A value parser's refusal; ``reason`` is what clap prints after the colon
    (``None``: clap prints no reason, e.g. for ``bool``)."""

    def __init__(self, reason: str | None, possible: tuple[str, ...] = ()) -> None:
        super().__init__(reason or "")
        self.reason = reason
        self.possible = possible


Parser = Callable[[str], object]


@dataclass(frozen=True)
class Opt:
    dest: str
    longs: tuple[str, ...] = ()
    shorts: tuple[str, ...] = ()
    takes_value: bool = True
    repeat: bool = False  # clap ArgAction::Append / Count
    value_name: str | None = None  # clap's <NAME>; default: dest upper-cased
    parser: Parser | None = None  # clap value parser; None = any string

    def display(self) -> str:
        """clap's ``Arg`` display: ``--long <NAME>`` or ``--long`` for a flag."""
        name = f"--{self.longs[0]}" if self.longs else f"-{self.shorts[0]}"
        if not self.takes_value:
            return name
        return f"{name} <{self.value_name or self.dest.upper()}>"


# ---------------------------------------------------------------- value parsers

_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def _rust_int(text: str, signed: bool) -> int:
    """Rust ``str::parse`` for an integer type (the sign rules of core::num)."""
    if text == "":
        raise ValueRejected("cannot parse integer from empty string")
    if text in ("+", "-") or not _INT_RE.match(text) or (text[0] == "-" and not signed):
        raise ValueRejected("invalid digit found in string")
    return int(text, 10)


def parse_u64(text: str) -> int:
    """``u64`` / ``usize`` (64-bit) via ``FromStr``: digits with an optional ``+``."""
    value = _rust_int(text, signed=False)
    if value > U64_MAX:
        raise ValueRejected("number too large to fit in target type")
    return value


def ranged(lo: int, hi: int) -> Callable[[str], int]:
    """clap ``RangedI64ValueParser`` (``u8``, ``u16``): parse as i64, then range check."""

    def parse(text: str) -> int:
        value = _rust_int(text, signed=True)
        if value > I64_MAX:
            raise ValueRejected("number too large to fit in target type")
        if value < I64_MIN:
            raise ValueRejected("number too small to fit in target type")
        if not lo <= value <= hi:
            raise ValueRejected(f"{value} is not in {lo}..={hi}")
        return value

    return parse


parse_u8 = ranged(0, 0xFF)
parse_u16 = ranged(0, 0xFFFF)


def parse_bool(text: str) -> bool:
    """clap ``BoolValueParser``: exactly ``true`` or ``false``."""
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueRejected(None, ("true", "false"))


# ---------------------------------------------------------------- scanner

def _usage(vmm: str) -> str:
    return f"\n\nUsage: realm-measurements {vmm} [OPTIONS]" if vmm else ""


def unexpected(word: str, vmm: str = "") -> ClapError:
    return ClapError(f"error: unexpected argument '{word}' found{_usage(vmm)}")


def check_value(opt: Opt, raw: str) -> object:
    """Run ``opt``'s value parser; clap's error on refusal."""
    if opt.parser is None:
        return raw
    try:
        return opt.parser(raw)
    except ValueRejected as exc:
        msg = f"error: invalid value '{raw}' for '{opt.display()}'"
        if exc.reason is not None:
            msg += f": {exc.reason}"
        if exc.possible:
            msg += f"\n  [possible values: {', '.join(exc.possible)}]"
        raise ClapError(msg) from None


def _lookup(word: str, by_long: dict[str, Opt], by_short: dict[str, Opt]
            ) -> tuple[Opt | None, str, str | None]:
    """(option, name for an error, attached value) of an option-looking word."""
    if word.startswith("--"):
        name, eq, rest = word[2:].partition("=")
        return by_long.get(name), f"--{name}", rest if eq else None
    opt = by_short.get(word[1])
    rest = word[2:]
    inline = (rest[1:] if rest.startswith("=") else rest) if rest else None
    return opt, f"-{word[1]}", inline


def _is_option_word(word: str) -> bool:
    return len(word) > 1 and word.startswith("-")


def _record(out: dict[str, list[str]], opt: Opt, value: str, vmm: str) -> None:
    """One occurrence: the repeat check comes before the value check (clap ``react``)."""
    if not opt.repeat and opt.dest in out:
        raise ClapError(f"error: the argument '{opt.display()}' cannot be used multiple "
                        f"times{_usage(vmm)}")
    if opt.takes_value:
        check_value(opt, value)
    out.setdefault(opt.dest, []).append(value)


class HelpRequested(Exception):
    """clap's generated ``-h``/``--help`` flag was met (after the pending option was
    resolved): clap prints the help on stdout and exits 0."""


def scan(argv: Sequence[str], options: Sequence[Opt], vmm: str,
         stop_at: Callable[[str], bool] | None = None,
         deferred: list[Callable[[], None]] | None = None) -> dict[str, list[str]]:
    """Return dest -> list of raw values (flags get ``""`` per occurrence).

    ``stop_at(word)``: a positional word at which scanning stops (a subcommand);
    its index is stored under :data:`STOP_KEY` as a one-element list.

    An option whose value is the next word stays *pending* (clap ``ParseState::Opt``):
    it is only checked (value present, used twice, value parser) when the next known
    option or flag reacts, or at the end. An unknown argument or a stray word after it
    discards the pending option's error (clap ``let _ = self.resolve_pending``). At a
    subcommand the pending option is checked only after the subcommand's own arguments
    (clap ``get_matches_with``): its check is appended to ``deferred`` for the caller.
    An option with ``dest == "help"`` raises :class:`HelpRequested` when it reacts.
    """
    by_long = {name: o for o in options for name in o.longs}
    by_short = {name: o for o in options for name in o.shorts}
    out: dict[str, list[str]] = {}
    pending: list[tuple[Opt, str | None]] = []

    def resolve() -> None:
        if not pending:
            return
        opt, value = pending.pop()
        if value is None:
            raise ClapError(f"error: a value is required for '{opt.display()}' but none "
                            f"was supplied")
        _record(out, opt, value, vmm)

    def react(opt: Opt, value: str) -> None:
        resolve()
        if opt.dest == "help":
            raise HelpRequested()
        _record(out, opt, value, vmm)

    args = list(argv)
    i = 0
    trailing = False
    while i < len(args):
        word = args[i]
        i += 1
        if trailing or not _is_option_word(word):
            if not trailing and stop_at is not None and stop_at(word):
                out[STOP_KEY] = [str(i - 1)]
                if deferred is not None:
                    deferred.append(resolve)
                return out
            raise unexpected(word, vmm)
        if word == "--":
            trailing = True
            continue
        if not word.startswith("--"):
            # a short cluster: leading flags, then at most one option taking the rest
            while len(word) > 2:
                flag = by_short.get(word[1])
                if flag is None or flag.takes_value:
                    break
                react(flag, "")
                word = "-" + word[2:]
        opt, shown, inline = _lookup(word, by_long, by_short)
        if opt is None:
            raise unexpected(shown, vmm)
        if not opt.takes_value and inline is not None:
            raise ClapError(f"error: unexpected value '{inline}' for '{opt.display()}' "
                            f"found; no more were expected")
        if not opt.takes_value:
            react(opt, "")
        elif inline is not None:
            react(opt, inline)
        else:
            resolve()
            nxt = args[i] if i < len(args) else None
            if nxt is not None and not _is_option_word(nxt):
                pending.append((opt, nxt))
                i += 1
            else:
                pending.append((opt, None))
    resolve()
    return out
