"""Rust behaviour the reference tool ``realm-measurements`` shows, once for every front-end.

The reference (crate ``cca-realm-measurements``, Cargo.lock: ``base64`` 0.22.1, ``clap``
4.5) reports some errors with texts that come from Rust's standard library or from its
dependencies; rmtool prints them bit for bit (``src/main.rs``, ``src/command_line.rs``).
This module is the single place that imitates them:

* :func:`parse_uint` / :func:`parse_int`: ``u<N>::from_str`` / ``i<N>::from_str``
  (core::num ``from_str_radix``, radix 10) with ``ParseIntError``'s Display texts;
* :func:`parse_memory_size`: the reference's ``utils::parse_memory_size``, the one size
  grammar that kvmtool ``-m``, QEMU ``-m``/``size=``/``maxmem=`` and cloud-hv
  ``--memory size=`` all call (src/kvmtool.rs ``parse_mem``, src/qemu.rs ``parse_mem``,
  src/cloud_hypervisor.rs ``parse_memory``);
* :func:`b64decode_standard`: ``base64::engine::general_purpose::STANDARD.decode`` of
  base64 0.22.1 (``PersonalizationValue::from_base64`` in src/realm.rs, used by QEMU and
  cloud-hv alike), with ``DecodeError``'s Display texts;
* :func:`scan`: the clap 4.5 (derive) option scanner, parametrised by the option table,
  used for kvmtool's and cloud-hv's arguments and for the global options.

Every error here is a ``ValueError`` subclass carrying the Rust text; the callers add the
reference's anyhow context (:func:`in_context`). Imports stay light (stdlib and
``rmtool.errors``): the measure path loads this module on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rmtool.errors import ParametersError, UsageError

T = TypeVar("T")

# --------------------------------------------------------------------------- integers

EMPTY = "cannot parse integer from empty string"
INVALID_DIGIT = "invalid digit found in string"
POS_OVERFLOW = "number too large to fit in target type"
NEG_OVERFLOW = "number too small to fit in target type"


class RustParseError(ValueError):
    """A Rust ``core::num::ParseIntError``; ``str()`` is its Display text."""


def _from_str(text: str, lo: int, hi: int) -> int:
    """core::num ``from_str_radix`` (radix 10) for an integer type of range [lo, hi].

    An empty string is ``Empty``; a lone ``+`` or ``-`` is ``InvalidDigit``; one leading
    ``+`` (or ``-`` for a signed type) is a sign; then, character by character, a non-ASCII
    digit is ``InvalidDigit`` and a value leaving the range is ``PosOverflow`` /
    ``NegOverflow``: the first failing character decides (``99999999999999999999x`` is
    too large for u64, ``1x99999999999999999999`` is an invalid digit). No whitespace,
    ``_``, ``0x`` prefix or non-ASCII digit is accepted; leading zeros are.
    """
    if text == "":
        raise RustParseError(EMPTY)
    negative = False
    digits = text
    if text in ("+", "-"):
        raise RustParseError(INVALID_DIGIT)
    if text[0] == "+":
        digits = text[1:]
    elif text[0] == "-" and lo < 0:
        negative, digits = True, text[1:]
    value = 0
    for ch in digits:
        if not "0" <= ch <= "9":
            raise RustParseError(INVALID_DIGIT)
        if negative:
            value = value * 10 - (ord(ch) - 48)
            if value < lo:
                raise RustParseError(NEG_OVERFLOW)
        else:
            value = value * 10 + (ord(ch) - 48)
            if value > hi:
                raise RustParseError(POS_OVERFLOW)
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """Rust ``u<bits>::from_str`` (``str::parse::<u64>()``, ``usize`` is u64 here)."""
    return _from_str(text, 0, (1 << bits) - 1)


def parse_int(text: str, bits: int = 64) -> int:
    """Rust ``i<bits>::from_str``: like :func:`parse_uint`, plus a leading ``-``."""
    return _from_str(text, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def in_context(context: str | None, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)`` with anyhow's ``.context(context)`` on a Rust parse error, as the
    reference prints it after ``Cannot build parameters:`` (``-m: invalid digit found in
    string``; ``context=None``: the bare Rust text)."""
    try:
        return parse(text)
    except RustParseError as exc:
        error = ParametersError(f"{context}: {exc}" if context else str(exc))
        if parse is parse_memory_size and context:
            error.hint = size_hint(context, text)
        raise error from None


def size_hint(context: str, text: str) -> str:
    """The hint line of a size the reference refuses: ``-m 512X: expected a size such as
    512M`` (a context with a property, ``-m maxmem``, shows ``-m maxmem=512X``)."""
    option, _, prop = context.partition(" ")
    given = f"{option} {prop}={text}" if prop else f"{option} {text}"
    return (f"{given}: expected a size such as 512M (a number and at most one upper-case "
            f"suffix B, K, M, G, T or P; no suffix means MiB)")


# --------------------------------------------------------------------------- sizes

U64_MASK = (1 << 64) - 1
_SIZE_SHIFT = {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50}


def parse_memory_size(text: str) -> int:
    """The reference's ``utils::parse_memory_size``: ``<n>[B|K|M|G|T|P]``, no suffix = MiB.

    At most one upper-case suffix is stripped (``str::strip_suffix``); there is no ``E``
    and no lower case, so ``512m``, ``1MB`` and ``1E`` are ``invalid digit`` and ``M`` alone
    is ``cannot parse integer from empty string``. The rest is ``u64::from_str``. The
    product ``size * multiplier`` wraps modulo 2^64 like the reference's release build
    (no overflow checks): ``16384P`` is 0.
    """
    shift = _SIZE_SHIFT.get(text[-1:])
    if shift is None:
        shift = 20
    else:
        text = text[:-1]
    return (parse_uint(text) << shift) & U64_MASK


# --------------------------------------------------------------------------- base64

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_TABLE = {ord(c): i for i, c in enumerate(_B64_ALPHABET)}
_PAD = ord("=")


class Base64Error(ValueError):
    """A ``base64::DecodeError`` (0.22.1); ``str()`` is its Display text."""


def b64decode_standard(text: str) -> bytes:
    """base64 0.22.1 ``STANDARD.decode``: canonical padding required, trailing bits refused.

    In the crate's order (engine/general_purpose/decode.rs, decode_suffix.rs): with a
    length of 4k+1, a last byte that is neither ``=`` nor in the alphabet is ``Invalid
    symbol B, offset O.``; every complete quad but the last is decoded, its first bad byte
    (``=`` included) reported the same way; in the last 1-4 bytes, ``=`` at quad position
    0 or 1 is an invalid symbol (so ``A===`` is ``Invalid symbol 61, offset 1.``), a symbol
    after ``=`` reports the first ``=``; then fewer than 2 symbols is ``Invalid input
    length: N`` (N = symbols decoded), a symbol + padding count that is not a multiple of
    4 is ``Invalid padding``, and non-zero unused bits are ``Invalid last symbol B, offset
    O.``. B is the byte value, O its offset in the UTF-8 input.
    """
    data = text.encode("utf-8", "surrogateescape")
    n = len(data)
    rem = n % 4
    if rem == 1 and data[-1] != _PAD and data[-1] not in _B64_TABLE:
        raise Base64Error(f"Invalid symbol {data[-1]}, offset {n - 1}.")
    quads_end = n - rem if rem else max(n - 4, 0)
    out = bytearray()
    for q in range(0, quads_end, 4):
        acc = 0
        for j in range(4):
            m = _B64_TABLE.get(data[q + j])
            if m is None:
                raise Base64Error(f"Invalid symbol {data[q + j]}, offset {q + j}.")
            acc = (acc << 6) | m
        out += acc.to_bytes(3, "big")
    return bytes(out) + _decode_suffix(data, quads_end)


def _decode_suffix(data: bytes, start: int) -> bytes:
    """The last 0-4 bytes (base64 0.22.1 ``decode_suffix``, RequireCanonical padding)."""
    morsels: list[int] = []
    padding = 0
    first_pad = 0
    last_symbol = 0
    for i, b in enumerate(data[start:]):
        if b == _PAD:
            if i < 2:
                raise Base64Error(f"Invalid symbol {b}, offset {start + i}.")
            if padding == 0:
                first_pad = i
            padding += 1
            continue
        if padding:
            raise Base64Error(f"Invalid symbol {_PAD}, offset {start + first_pad}.")
        m = _B64_TABLE.get(b)
        if m is None:
            raise Base64Error(f"Invalid symbol {b}, offset {start + i}.")
        last_symbol = b
        morsels.append(m)
    if data and len(morsels) < 2:
        raise Base64Error(f"Invalid input length: {start + len(morsels)}")
    if (padding + len(morsels)) % 4:
        raise Base64Error("Invalid padding")
    nbytes = len(morsels) * 6 // 8
    acc = 0
    for k, m in enumerate(morsels):
        acc |= m << (26 - 6 * k)
    if acc & (0xFFFFFFFF >> (nbytes * 8)):
        raise Base64Error(f"Invalid last symbol {last_symbol}, offset "
                          f"{start + len(morsels) - 1}.")
    return (acc >> 8).to_bytes(3, "big")[:nbytes]


# --------------------------------------------------------------------------- clap

STOP_KEY = "\0stop"


class ClapError(UsageError):
    """An argument error reported by clap itself: printed as is, exit status 2."""


class HelpRequested(Exception):
    """clap's generated ``-h``/``--help`` flag was met (after the pending option was
    resolved): clap prints the help on stdout and exits 0."""


class ValueRejected(ValueError):
    """A value parser's refusal; ``reason`` is what clap prints after the colon
    (``None``: clap prints no reason, e.g. for ``bool``). ``message``, when given, is the
    whole error line instead (rmtool's own options)."""

    def __init__(self, reason: str | None, possible: tuple[str, ...] = (),
                 message: str | None = None) -> None:
        super().__init__(reason or "")
        self.reason = reason
        self.possible = possible
        self.message = message


Parser = Callable[[str], object]


@dataclass(frozen=True)
class Opt:
    """One clap argument: ``dest`` is the key :func:`scan` returns (and, with ``-`` read
    as ``_`` and upper-cased, clap's default value name)."""

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
        return f"{name} <{self.value_name or self.dest.replace('-', '_').upper()}>"


def _rejected(text: str, parse: Callable[[str], int]) -> int:
    try:
        return parse(text)
    except RustParseError as exc:
        raise ValueRejected(str(exc)) from None


def parse_u64(text: str) -> int:
    """clap ``value_parser!(u64)`` / ``usize``: ``u64::from_str``, its error as reason."""
    return _rejected(text, parse_uint)


def ranged(lo: int, hi: int) -> Callable[[str], int]:
    """clap ``RangedI64ValueParser`` (``u8``, ``u16``): ``i64::from_str``, then the range
    check ``V is not in LO..=HI``."""

    def parse(text: str) -> int:
        value = _rejected(text, parse_int)
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


def _usage(usage: str) -> str:
    return f"\n\nUsage: realm-measurements {usage} [OPTIONS]" if usage else ""


def unexpected(word: str, usage: str = "") -> ClapError:
    return ClapError(f"error: unexpected argument '{word}' found{_usage(usage)}")


def check_value(opt: Opt, raw: str) -> object:
    """Run ``opt``'s value parser; clap's error on refusal."""
    if opt.parser is None:
        return raw
    try:
        return opt.parser(raw)
    except ValueRejected as exc:
        if exc.message is not None:
            raise ClapError(exc.message) from None
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


def _record(out: dict[str, list[str]], opt: Opt, value: str, usage: str) -> None:
    """One occurrence: the repeat check comes before the value check (clap ``react``)."""
    if not opt.repeat and opt.dest in out:
        raise ClapError(f"error: the argument '{opt.display()}' cannot be used multiple "
                        f"times{_usage(usage)}")
    if opt.takes_value:
        check_value(opt, value)
    out.setdefault(opt.dest, []).append(value)


def scan(argv: Sequence[str], options: Sequence[Opt], usage: str = "",
         stop_at: Callable[[str], bool] | None = None,
         deferred: list[Callable[[], None]] | None = None) -> dict[str, list[str]]:
    """clap 4.5 ``Parser::get_matches_with`` for an argument list without positionals:
    return dest -> list of raw values (flags get ``""`` per occurrence).

    Forms: ``--long value``, ``--long=value``, ``-s value``, ``-svalue``, ``-s=value``,
    short flag clusters (``-vv``, ``-vh``); ``--`` ends the options (every later word is
    unexpected). Everything is checked while scanning, in command-line order, so the first
    bad token wins (clap_builder ``parser.rs``: ``react``, ``parse_long_arg``,
    ``parse_short_arg``):

    * unknown option -> ``error: unexpected argument '--x' found`` (a long option is
      named without its ``=value``, a short one by its first letter);
    * a non-repeatable option or flag given twice -> ``error: the argument '--cpus
      <CPUS>' cannot be used multiple times`` (clap ``ArgAction::Set`` / ``SetTrue``);
    * a value-taking option followed by another option or by nothing -> ``error: a value
      is required for '--cpus <CPUS>' but none was supplied`` (a word starting with ``-``
      is never taken as a value, not even ``-1``);
    * a value refused by the option's parser -> ``error: invalid value 'x' for '--cpus
      <CPUS>': invalid digit found in string``.

    ``usage``: the subcommand whose ``Usage:`` line follows "unexpected argument" and
    "cannot be used multiple times" (``""``: none). ``stop_at(word)``: a positional word at
    which scanning stops (a subcommand); its index is stored under :data:`STOP_KEY` as a
    one-element list.

    An option whose value is the next word stays *pending* (clap ``ParseState::Opt``): it
    is only checked (value present, used twice, value parser) when the next known option
    or flag reacts, or at the end. An unknown argument or a stray word after it discards
    the pending option's error (clap ``let _ = self.resolve_pending``). At a subcommand
    the pending option is checked only after the subcommand's own arguments (clap
    ``get_matches_with``): its check is appended to ``deferred`` for the caller. An option
    with ``dest == "help"`` raises :class:`HelpRequested` when it reacts.
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
        _record(out, opt, value, usage)

    def react(opt: Opt, value: str) -> None:
        resolve()
        if opt.dest == "help":
            raise HelpRequested()
        _record(out, opt, value, usage)

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
            raise unexpected(word, usage)
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
            raise unexpected(shown, usage)
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
