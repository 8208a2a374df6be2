"""Exception types, split by what the caller must do with them.

`RecordError` fails one record (audited, run continues). `StopRun` subclasses end the
API work for this run cleanly: remaining records are spooled and the run resumes later.
`TargetError` subclasses end the process with one clear sentence and no traceback.
Messages never carry payload values or the API token.
"""

from __future__ import annotations


class TargetError(Exception):
    """Fatal for the process; `str()` is the one-line message shown to the user."""

    exit_code = 2


class ConfigError(TargetError):
    """A setting cannot be used (its sentence names the setting and what to do)."""


class ContractError(TargetError):
    """The input breaks the target's input contract (e.g. an unknown stream)."""


class AuthError(TargetError):
    """Pipedrive refused the API token."""


class Unreachable(TargetError):
    """Pipedrive could not be reached at all on the first request of a run (refused, DNS, TLS): base_url."""


class RecordError(Exception):
    """One record cannot be written; `code` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ApiError(RecordError):
    """Pipedrive answered with a non-retryable error for one request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


class StopRun(Exception):
    """No more API work this run; what is left waits in the crosswalk for the next run."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class BudgetExhausted(StopRun):
    """The daily token budget (Pipedrive's or the configured one) is spent."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(StopRun):
    """Pipedrive kept failing (5xx, timeouts, blocks) beyond the retry allowance."""


class RunInterrupted(StopRun):
    """A signal stops the run: a write that has not started yet is parked for the next run."""


class MaybeWritten(Exception):
    """A non-idempotent request failed after it may have reached Pipedrive.

    The caller must look the object up (by its marker) before sending the request again.
    """
