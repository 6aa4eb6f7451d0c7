"""The first differing byte of two measurements (rmtool.verify.compare._hexdiff)."""

from __future__ import annotations

import hashlib

from rmtool.verify.compare._hexdiff import (
    first_difference,
    mark_first_difference,
    marker_line,
    shorten,
    split_at,
)

A = bytes.fromhex("8b9d07a2" + "00" * 8 + "df5b6111" + "22" * 16)


def test_equal_values_have_no_difference() -> None:
    assert first_difference(A, bytes(A)) is None
    assert first_difference(b"", b"") is None


def test_single_flipped_byte_is_found_at_its_index() -> None:
    # The mistake this stops: a one-byte change hidden in the middle of 64 hex digits.
    b = bytearray(A)
    b[12] ^= 0x01
    assert first_difference(A, bytes(b)) == 12
    assert first_difference(bytes(b), A) == 12


def test_truncated_value_differs_past_its_end() -> None:
    # A 32-byte value is not "equal" to the 48-byte value it is a prefix of.
    sha384 = hashlib.sha384(b"realm").digest()
    assert first_difference(sha384[:32], sha384) == 32
    assert mark_first_difference(sha384[:32], sha384).endswith("[--]")


def test_terminal_rendering_brackets_the_first_differing_byte() -> None:
    b = bytearray(A)
    b[12] = 0x00
    text = mark_first_difference(A, bytes(b))
    assert text == "8b9d07a2\u202600000000[df]5b611122\u2026"
    assert split_at(A, 12).byte == "df"


def test_first_byte_difference_and_markers() -> None:
    b = bytes([A[0] ^ 0xFF]) + A[1:]
    assert mark_first_difference(A, b) == "[8b]9d07a200\u2026"
    assert marker_line(A, b) == "^^"
    b2 = A[:3] + b"\x00" + A[4:]
    assert marker_line(A, b2) == "      ^^"
    assert marker_line(A, A) == ""
    assert marker_line(A, None) == ""


def test_equal_or_unknown_values_are_shortened_without_brackets() -> None:
    assert mark_first_difference(A, A) == "8b9d07a200000000\u202622222222"
    assert mark_first_difference(A, None) == shorten(A)
    assert shorten(b"\x01\x02") == "0102"
