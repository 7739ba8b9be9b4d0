"""Running a function from the portal, and telling the user what happened.

One call id per submission: a double-click sends the same form twice, and the second
submission reuses the first one's call id, so the host replays it instead of charging
again. The id is forgotten as soon as the page runs without a submission.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from pydantic import BaseModel

from tokenworks.catalog import FunctionView
from tokenworks.errors import (
    BusyError,
    FunctionDisabledError,
    InsufficientTokensError,
    InvalidInputError,
    StorageUnavailableError,
    TokenworksError,
    UnknownFunctionError,
)
from tokenworks.host import Host

from . import forms, render
from .inert import inert_markdown

PENDING = "tw_pending_call"  # session_state: {"function", "input_hash", "call_id"}
LAST = "tw_last_result"  # session_state: function name -> Shown
PREFILL = "tw_prefill"  # session_state: {"function", "input"} set by "run again"
NOTHING_TAKEN = "No tokens were taken."
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


def call_id_for(function: str, model: BaseModel) -> str:
    """The call id of this submission: the pending one if it is the same form again."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True, default=str)
    digest = hashlib.sha256(f"{function}\n{text}".encode()).hexdigest()
    pending = st.session_state.get(PENDING)
    if pending and pending["function"] == function and pending["input_hash"] == digest:
        return pending["call_id"]
    call_id = uuid.uuid4().hex
    st.session_state[PENDING] = {"function": function, "input_hash": digest, "call_id": call_id}
    return call_id


def forget_pending() -> None:
    st.session_state.pop(PENDING, None)


def outcome_message(host: Host, user: str, view: FunctionView, outcome: Any) -> Shown:
    if outcome.status == "succeeded":
        balance = host.balance(user)
        if outcome.replayed:
            text = (f"Done. This submission was already run (a repeated click): charged "
                    f"{outcome.charged} tokens once, not again. Balance now {balance} tokens.")
        elif outcome.cached:
            # No time: the cached result may have been computed for someone else.
            text = (f"Done: cached result, charged as usual: {outcome.charged} tokens, "
                    f"balance now {balance} tokens.")
        else:
            text = f"Done: charged {outcome.charged} tokens, balance now {balance} tokens."
        return Shown("success", text, outcome.call_id, list(outcome.blocks))
    what = STATUS_WORDS.get(outcome.status, f"The call ended as {outcome.status}")
    detail = f": {outcome.error}" if outcome.error else ""
    return Shown("error", f"{what}{detail}. {NOTHING_TAKEN}", outcome.call_id)


def refusal_message(error: TokenworksError) -> Shown:
    """A call the host refused (before running it, or because its outcome could not be
    stored): nothing was written or charged."""
    if isinstance(error, StorageUnavailableError):
        # The function may have run; its answer is not shown because it was not kept.
        return Shown("error", "Storage unavailable, nothing was charged: the call could not "
                     "be recorded. Try again in a minute; if it persists, tell an admin.")
    text = str(error)
    if "nothing was charged" not in text.lower():
        text += " Nothing was charged."
    if isinstance(error, InsufficientTokensError):
        return Shown("error", f"Not enough tokens. {text} Ask an admin for more.")
    if isinstance(error, InvalidInputError):
        return Shown("error", "Some fields are not valid; fix them and run again. "
                     "Nothing was charged.", problems=forms.problems_from_pairs(error.problems))
    if isinstance(error, BusyError):
        return Shown("warning", text)
    if isinstance(error, FunctionDisabledError | UnknownFunctionError):
        return Shown("warning", f"This function cannot be run right now: {text}")
    return Shown("error", text)


def submit(host: Host, user: str, name: str, model: BaseModel) -> Shown:
    """Re-check the switch, then run under a progress indicator; never raises a refusal."""
    try:
        view = host.function(name)  # the switch as it is now, at click time
        if not view.enabled:
            return Shown("warning", f"This function cannot be run right now: "
                         f"{view.why_disabled()}. Nothing was charged.")
        call_id = call_id_for(name, model)
        with st.spinner(f"Running {view.spec.title} (at most {view.spec.timeout:g} s)…",
                        show_time=True):
            outcome = host.call(name, user, model, call_id=call_id)
    except TokenworksError as error:
        return refusal_message(error)
    return outcome_message(host, user, view, outcome)


def show(shown: Shown) -> None:
    # The message may quote a plugin's error, which may quote the user's input.
    getattr(st, shown.level)(inert_markdown(shown.message))
    if shown.blocks:
        render.render_blocks(shown.blocks, shown.call_id or "result")
