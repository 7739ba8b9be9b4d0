"""Ledger properties over random sequences of grants, take-backs, calls and retries.

Hypothesis draws a sequence of operations; a small model predicts every balance and call
outcome; after the sequence the real store must agree with the model and with itself:
balance == SUM(ledger) for every user, never negative, failed or timed-out calls cost
nothing, a retried call id is charged once, and verify_books() finds no problem. On DuckDB
(holds in memory) and on PostgreSQL (durable holds; a database per example, skipped without
$TOKENWORKS_TEST_POSTGRES).
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import plugin_folder, write_registry
from hypothesis import given, settings
from hypothesis import strategies as st
from pgserver import server_url, throwaway_database

from tokenworks.config import RegistryConfig, load_registry
from tokenworks.errors import IdempotencyConflictError, InsufficientTokensError
from tokenworks.host import Host
from tokenworks.loader import Discovery, discover

USERS = ("ann", "bo")
STARTING_GRANT = 4
# kind -> (function, cost, status the call must end in); costs are meter_probe's.
KINDS = {
    "ok": ("probe_maybe", 2, "succeeded"),
    "fail": ("probe_maybe", 2, "failed"),
    "timeout": ("probe_blink", 1, "timeout"),  # sleeps 0.1 s against a 0.02 s timeout
    "invalid": ("probe_bad_result", 3, "invalid_result"),
    "free": ("probe_free", 0, "succeeded"),
}


def payload(kind: str, n: int) -> dict:
    if kind in ("ok", "fail"):
        return {"fail": kind == "fail", "tag": f"t{n}"}
    if kind == "timeout":
        return {"seconds": 0.1}
    return {"text": f"t{n}"}


@dataclass
class Recorded:
    call_id: str
    function: str
    user: str
    payload: dict
    status: str
    cost: int

    @property
    def charged(self) -> int:
        return self.cost if self.status == "succeeded" else 0


@dataclass
class Model:
    balances: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(USERS, STARTING_GRANT))
    calls: dict[str, Recorded] = field(default_factory=dict)
    replays: Counter[str] = field(default_factory=Counter)


user_index = st.integers(0, len(USERS) - 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), user_index, st.integers(1, 12)),
        st.tuples(st.just("take"), user_index, st.integers(1, 15)),
        st.tuples(st.just("call"), user_index, st.sampled_from(sorted(KINDS))),
        st.tuples(st.just("repeat"), st.integers(0, 50)),
        st.tuples(st.just("conflict"), st.integers(0, 50)),
    ),
    max_size=14,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[RegistryConfig, Discovery]:
    # Discover once: each example gets a fresh in-memory store, not a fresh plugin import.
    folder = tmp_path_factory.mktemp("properties")
    plugin_folder(folder, "meter_probe.py")
    registry = write_registry(
        Path(folder),
        '[store]\npath = "unused.duckdb"\n[plugins]\nfolder = "local_plugins"\n'
        "entry_points = false\n",
    )
    config = load_registry(registry, ":memory:")
    return config, discover(config, strict=True)


def apply(host: Host, model: Model, step: int, operation: tuple) -> None:
    action = operation[0]
    if action in ("grant", "take"):
        user = USERS[operation[1]]
        amount = operation[2] if action == "grant" else -operation[2]
        if model.balances[user] + amount < 0:
            with pytest.raises(InsufficientTokensError):
                host.grant(user, amount, actor="admin", reason="property")
        else:
            assert host.grant(user, amount, actor="admin", reason="property") == (
                model.balances[user] + amount)
            model.balances[user] += amount
    elif action == "call":
        user, kind = USERS[operation[1]], operation[2]
        function, cost, status = KINDS[kind]
        call_id = f"call-{step}"
        body = payload(kind, step)
        if model.balances[user] < cost:
            with pytest.raises(InsufficientTokensError):
                host.call(function, user, body, call_id=call_id)
            return
        outcome = host.call(function, user, body, call_id=call_id)
        assert (outcome.status, outcome.replayed) == (status, False), outcome.error
        assert outcome.charged == (cost if status == "succeeded" else 0)
        model.calls[call_id] = Recorded(call_id, function, user, body, status, cost)
        model.balances[user] -= outcome.charged
    elif model.calls:
        first = list(model.calls.values())[operation[1] % len(model.calls)]
        if action == "repeat":
            outcome = host.call(first.function, first.user, first.payload, call_id=first.call_id)
            assert outcome.replayed and outcome.status == first.status
            assert outcome.charged == first.charged
            model.replays[first.call_id] += 1
        else:
            other = {**first.payload, "tag": "changed"} if "tag" in first.payload else (
                {"seconds": 0.05} if "seconds" in first.payload else {"text": "changed"})
            with pytest.raises(IdempotencyConflictError):
                host.call(first.function, first.user, other, call_id=first.call_id)


def check_books(host: Host, model: Model) -> None:
    store = host._store
    entries = store.ledger(limit=100_000)
    for user in USERS:
        balance = store.balance(user)
        assert balance >= 0
        assert balance == sum(e.amount for e in entries if e.user == user)
        assert balance == model.balances[user]
    by_call: dict[str, list[str]] = {}
    for entry in entries:
        if entry.call_id:
            by_call.setdefault(entry.call_id, []).append(entry.kind)
    for call_id, expected in model.calls.items():
        record = store.get_call(call_id)
        assert record.status == expected.status
        assert record.charged == expected.charged
        kinds = sorted(by_call.get(call_id, []))
        if expected.cost == 0:
            assert kinds == []
        else:
            # One hold, settled once, however often the id was retried.
            settle = "capture" if expected.status == "succeeded" else "release"
            assert kinds == sorted(["hold", settle])
    assert {c.call_id for c in store.list_calls(limit=100_000)} == set(model.calls)
    report = host.verify_books()
    assert report.ok, report.problems
    assert report.open_holds == 0


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@settings(max_examples=25, deadline=None)
@given(operations)
def test_random_operation_sequences_keep_the_books(setup, engine, sequence):
    config, discovery = setup
    if engine == "postgres":
        server_url()  # skips without a server, before any example runs
    with ExitStack() as stack:
        if engine == "postgres":
            url = stack.enter_context(throwaway_database())
            config = config.model_copy(
                update={"store": config.store.model_copy(update={"path": url})})
        host = Host(config, sweep=False, discovery=discovery)
        stack.callback(host.close)
        assert host._store.holds == ("durable" if engine == "postgres" else "memory")
        for user in USERS:
            host._store.create_user(user, "user", "x", STARTING_GRANT, actor="test")
        model = Model()
        for step, operation in enumerate(sequence):
            apply(host, model, step, operation)
        check_books(host, model)
