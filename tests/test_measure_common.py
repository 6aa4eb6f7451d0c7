"""Shared front-end helpers: RPV decoding (the reference tool's unit vectors), sizes, caps."""

from __future__ import annotations

import base64

import pytest

from rmtool.errors import ParametersError
from rmtool.measure.host import HostCaps
from rmtool.measure.vmm.common import parse_size, rpv_from_base64


def test_rpv_vectors() -> None:
    assert rpv_from_base64("AQ==") == b"\x01" + bytes(63)
    assert rpv_from_base64("Crw=").hex() == "0abc" + "0" * 124
    assert rpv_from_base64("") == bytes(64)
    with pytest.raises(ParametersError, match="Realm Personalization Value is too large"):
        rpv_from_base64(base64.b64encode(bytes(65)).decode())
    with pytest.raises(ParametersError) as info:
        rpv_from_base64("&+")
    assert str(info.value) == ("Cannot build parameters: invalid Realm Personalization Value: "
                               "Invalid symbol 38, offset 0.")


@pytest.mark.parametrize("text, message", [
    ("AQ", "Invalid padding"),
    ("A", "Invalid input length: 1"),
    ("AR==", "Invalid last symbol 82, offset 1."),
])
def test_rpv_base64_errors(text: str, message: str) -> None:
    with pytest.raises(ParametersError, match=message):
        rpv_from_base64(text)


def test_parse_size() -> None:
    assert parse_size("512") == 512 << 20
    assert parse_size("1G") == 1 << 30
    assert parse_size("4096B") == 4096
    assert parse_size("2T") == 2 << 40
    with pytest.raises(ParametersError):
        parse_size("1g")
    with pytest.raises(ParametersError):
        parse_size("x")


def test_restrict_semantics() -> None:
    caps = HostCaps().restrict(num_bps=6, pmu=True)
    assert caps.restrict(num_bps=8).num_bps == 6
    assert caps.restrict(num_bps=2).num_bps == 2
    assert caps.restrict(pmu=False).pmu is False
    assert caps.restrict(pmu=False).restrict(pmu=True).pmu is False
    assert caps.set(num_bps=16).num_bps == 16
