"""Running a function from the portal, and telling the user what happened.

The form's values go to the host as they are (host.call validates, refuses or runs);
what the user reads follows from the refusal's type or the outcome, never from an
error's wording. One call id per submission: a double-click sends the same form twice,
and the second submission reuses the first one's call id, so the host replays it
instead of charging again. The id is forgotten as soon as the page runs without a
submission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from tokenworks.catalog import FunctionView
from tokenworks.errors import (
    BusyError,
    CallRefused,
    FunctionDisabledError,
    InsufficientTokensError,
    InvalidInputError,
    StorageUnavailableError,
    TokenworksError,
    UnknownFunctionError,
)
from tokenworks.host import Host
from tokenworks.meter import CallOutcome
from tokenworks.widgets import FieldWidget, payload_of

from . import forms, render
from .inert import inert_markdown

PENDING = "tw_pending_call"  # session_state: {"function", "payload", "call_id"}
LAST = "tw_last_result"  # session_state: function name -> Shown
PREFILL = "tw_prefill"  # session_state: {"function", "input"} set by "run again"
NOTHING_TAKEN = "No tokens were taken."
NOTHING_CHARGED = "Nothing was charged."
STATUS_WORDS = {
    "failed": "The function failed", "timeout": "The function timed out",
    "invalid_result": "The function returned a result the portal cannot accept",
    "abandoned": "The call was abandoned", "running": "The call is still running",
}


@dataclass
class Shown:
    """What the page shows after a submission (kept so a rerun shows it again)."""

    level: str  # success, info, warning, error
    message: str
    call_id: str | None = None
    blocks: list[Any] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # The balance the submission left, when the host said it (the page shows it instead
    # of reading it again); None: the page reads it.
    balance: int | None = None


def call_id_for(function: str, payload: dict[str, Any]) -> str:
    """The call id of this submission: the pending one if it is the same form again."""
    pending = st.session_state.get(PENDING)
    if pending and pending["function"] == function and pending["payload"] == payload:
        return pending["call_id"]
    call_id = uuid.uuid4().hex
    st.session_state[PENDING] = {"function": function, "payload": payload, "call_id": call_id}
    return call_id


def forget_pending() -> None:
    st.session_state.pop(PENDING, None)


def outcome_message(outcome: CallOutcome, balance: int) -> Shown:
    """What a settled call says; `balance` is the user's balance after it."""
    if outcome.ok:
        if outcome.replayed:
            text = (f"Done. This submission was already run (a repeated click): charged "
                    f"{outcome.charged} tokens once, not again. Balance now {balance} tokens.")
        elif outcome.cached:
            # No time: the cached result may have been computed for someone else.
            text = (f"Done: cached result, charged as usual: {outcome.charged} tokens, "
                    f"balance now {balance} tokens.")
        else:
            text = f"Done: charged {outcome.charged} tokens, balance now {balance} tokens."
        return Shown("success", text, outcome.call_id, list(outcome.blocks), balance=balance)
    what = STATUS_WORDS.get(outcome.status, f"The call ended as {outcome.status}")
    detail = f": {outcome.error}" if outcome.error else ""
    # A call that did not succeed was released: the outcome says what it cost.
    charge = NOTHING_TAKEN if not outcome.charged else f"Charged {outcome.charged} tokens."
    return Shown("error", f"{what}{detail}. {charge}", outcome.call_id, balance=balance)


def refusal_message(error: TokenworksError) -> Shown:
    """A call the host refused, or whose outcome could not be stored."""
    if isinstance(error, StorageUnavailableError):
        # The function may have run; its answer is not shown because it was not kept.
        return Shown("error", "Storage unavailable, nothing was charged: the call could not "
                     "be recorded. Try again in a minute; if it persists, tell an admin.")
    if not isinstance(error, CallRefused):
        return Shown("error", str(error))  # not a refusal: no claim about the charge
    # Refused before anything was written: nothing was charged, whatever the wording.
    reason = _sentence(error.reason)
    if isinstance(error, InvalidInputError):
        return Shown("error", f"Some fields are not valid; fix them and run again. "
                     f"{NOTHING_CHARGED}", problems=forms.problems_by_field(error.problems))
    if isinstance(error, InsufficientTokensError):
        return Shown("error", f"Not enough tokens. {reason} {NOTHING_CHARGED} Ask an admin "
                     "for more.", balance=error.balance)
    if isinstance(error, BusyError):
        return Shown("warning", f"{reason} {NOTHING_CHARGED}")
    if isinstance(error, FunctionDisabledError | UnknownFunctionError):
        return Shown("warning", f"This function cannot be run right now: {reason} "
                     f"{NOTHING_CHARGED}")
    return Shown("error", f"{reason} {NOTHING_CHARGED}")


def submit(host: Host, user: str, view: FunctionView, fields: list[FieldWidget],
           raw: dict[str, Any]) -> Shown:
    """Hand the form's values to the host under a progress indicator; never raises a
    refusal. `view` is the one the page was drawn from; the host checks the switch again."""
    name, spec = view.spec.name, view.spec
    try:
        payload = payload_of(name, fields, raw)
        call_id = call_id_for(name, payload)
        with st.spinner(f"Running {spec.title} (at most {spec.timeout:g} s)…", show_time=True):
            outcome = host.call(name, user, payload, call_id=call_id)
    except TokenworksError as error:
        return refusal_message(error)
    # The outcome carries the balance; only an outcome nobody settled here lacks it.
    balance = outcome.balance_after
    return outcome_message(outcome, host.balance(user) if balance is None else balance)


def show(shown: Shown) -> None:
    # The message may quote a plugin's error, which may quote the user's input.
    getattr(st, shown.level)(inert_markdown(shown.message))
    if shown.blocks:
        render.render_blocks(shown.blocks, shown.call_id or "result")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
