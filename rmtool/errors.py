"""One error hierarchy for rmtool.

Every error carries a sentence a user can act on and, where it applies, the field
and byte offset of the input that caused it. The CLI turns an RmtoolError into one
``ERROR ...`` line on stderr and an exit code; nothing else should reach the user
as a traceback.
"""

from __future__ import annotations

#: The exit-code contract of every command (docs/cli.md): 0 ok / pass / match,
#: 1 a check ran and failed (mismatch, bad signature), 2 unusable input or usage.
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


class RmtoolError(Exception):
    """Base class: a problem the user can understand and act on. An error means the
    input could not be used (exit 2); a check that ran and failed is a verdict, not an
    error (``CheckFailed``, exit 1)."""

    exit_code: int = EXIT_UNUSABLE
    #: What to do about it, printed by the CLI as a second line ``hint: ...`` (the first
    #: line keeps the reference tool's wording where scripts depend on it).
    hint: str | None = None

    def __init__(self, message: str, *, field: str | None = None,
                 offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.offset = offset

    def __str__(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.offset is not None:
            where.append(f"offset {self.offset:#x}")
        if where:
            return f"{self.message} ({', '.join(where)})"
        return self.message


class CheckFailed(RmtoolError):
    """A check ran on usable input and failed (exit 1)."""

    exit_code = EXIT_FAILED


class UsageError(RmtoolError):
    """Bad command-line arguments or conflicting options (exit 2)."""

    exit_code = 2


class InputFileError(RmtoolError):
    """A file named by the user is missing, unreadable or not what it should be."""


class ConfigError(RmtoolError):
    """Host capability / TOML configuration problems, out-of-range values."""


class MeasurementError(RmtoolError):
    """The Realm model cannot execute an operation (bad address, alignment, ...)."""


class ParseError(RmtoolError):
    """Malformed untrusted input (event log, token, CoRIM, DTB)."""


class EventLogError(ParseError):
    """Malformed TCG event log."""


class TokenError(ParseError):
    """Malformed CCA attestation token (exit 2: unusable input)."""

    exit_code = 2


class CorimError(ParseError):
    """Malformed CoRIM / CoMID."""

    exit_code = 2


class DtbError(ParseError):
    """Malformed flattened device tree."""


class InvalidArguments(RmtoolError):
    """Options that cannot be used together (reference: ``Invalid arguments: ...``)."""

    context = "Invalid arguments"

    def __str__(self) -> str:
        return f"{self.context}: {super().__str__()}"


class ParametersError(RmtoolError):
    """The VMM configuration cannot be turned into Realm parameters
    (reference: ``Cannot build parameters: ...``)."""

    context = "Cannot build parameters"

    def __str__(self) -> str:
        return f"{self.context}: {super().__str__()}"


class ComputeError(RmtoolError):
    """Measurement failed (missing capability, unreadable file; reference:
    ``Failed to compute measurements: ...``)."""

    context = "Failed to compute measurements"

    def __str__(self) -> str:
        return f"{self.context}: {super().__str__()}"


def os_error_text(path: str, exc: OSError) -> str:
    """``VMM: file F error: No such file or directory (os error 2)`` as the reference."""
    reason = exc.strerror or str(exc)
    if exc.errno is not None:
        reason = f"{reason} (os error {exc.errno})"
    return f"VMM: file {path} error: {reason}"
