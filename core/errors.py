"""Every error the host raises on purpose, each with a message fit to show a person as is."""

from __future__ import annotations

from pydantic import ValidationError


class TokenworksError(Exception):
    """Base class: a refusal or a misconfiguration explained in one line."""


class ConfigError(TokenworksError):
    """registry.toml is missing, unreadable, or has an unknown key or a wrong type."""


class StoreLockedError(TokenworksError):
    """Another process holds the embedded store."""


class StorageUnavailableError(TokenworksError):
    """The store cannot make a write durable (a full disk, an I/O error, a lost database
    connection): the call it was for is refused, nothing of it is charged, and a retry
    later may succeed. Not a CallRefused: the function may have run; its outcome is what
    could not be kept."""


class StoreUnavailableError(StorageUnavailableError):
    """The store's database server cannot be reached (PostgreSQL)."""


class PluginError(TokenworksError):
    """A plugin could not be loaded or registered (raised only in strict mode)."""


class InvalidSpecError(PluginError):
    """A function's spec does not satisfy the contract."""


class CallRefused(TokenworksError):
    """A call was refused before anything of it was written: nothing was charged. That
    follows from the type, so a caller says so without reading the message.

    ``reason`` is the refusal alone, for callers that word the charge themselves; str() is
    the message the CLI and the API show, which for some refusals ends with the charge."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class UnknownFunctionError(CallRefused):
    pass


class UnknownUserError(CallRefused):
    pass


class FunctionDisabledError(CallRefused):
    def __init__(self, why: str) -> None:
        super().__init__(why, f"{why}; nothing was charged")


class InsufficientTokensError(CallRefused):
    def __init__(self, user: str, needed: int, balance: int) -> None:
        reason = f"{user} has {balance} tokens; this call costs {needed}."
        super().__init__(reason, f"{reason} Nothing was charged.")
        self.user, self.needed, self.balance = user, needed, balance


class BusyError(CallRefused):
    """Every worker the function may use is taken and its queue is full or waited out."""

    def __init__(self, function: str, why: str, retry_after: int) -> None:
        reason = f"{function} is busy: {why}. Try again in {retry_after} s"
        super().__init__(f"{reason}.", f"{reason}; nothing was charged.")
        self.function, self.retry_after = function, retry_after


class IdempotencyConflictError(CallRefused):
    """A call id was reused for a different user, function or input."""


class InvalidInputError(CallRefused):
    def __init__(self, function: str, problems: list[tuple[str, str]]) -> None:
        self.function = function
        self.problems = problems  # (field path, message) pairs, for forms to show at the field
        listing = "; ".join(f"{field}: {message}" for field, message in problems)
        super().__init__(f"invalid input for {function}: {listing}")


# What pydantic puts before the text of a ValueError or AssertionError a validator raised:
# the person wants the validator's own words.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def describe_validation_error(error: ValidationError) -> list[tuple[str, str]]:
    """Turn pydantic's error list into (field path, readable message) pairs. The path is
    pydantic's, list indexes from 0 as in JSON; forms word it for people."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(input)"
        message = item["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        problems.append((field, message))
    return problems
