"""Former home of the clap-compatible scanner; it now lives in
:mod:`rmtool.measure.vmm._rustcompat` (one implementation for kvmtool, cloud-hv and the
global options). These names stay importable from here."""

from __future__ import annotations

from rmtool.measure.vmm._rustcompat import (
    STOP_KEY,
    ClapError,
    HelpRequested,
    Opt,
    Parser,
    ValueRejected,
    check_value,
    parse_bool,
    parse_u8,
    parse_u16,
    parse_u64,
    ranged,
    scan,
    unexpected,
)

__all__ = ["STOP_KEY", "ClapError", "HelpRequested", "Opt", "Parser", "ValueRejected",
           "check_value", "parse_bool", "parse_u8", "parse_u16", "parse_u64", "ranged",
           "scan", "unexpected"]
