"""The reservation book: running calls' holds kept in memory, for a store whose database
one process owns (why that is sound: docs/architecture.md). What it guarantees instead of a
durable debit:

- available = durable balance - outstanding holds, checked and reserved under one lock,
  so concurrent calls can never reserve more than the balance (the capture can never hit
  the CHECK constraint);
- a take-back (a negative adjustment) reserves its amount the same way, so it cannot take
  tokens that running calls hold;
- a call id is in the book while its call runs, so a retry arriving meanwhile sees it and
  waits for the first outcome instead of running the function again.

The durable balances the book knows are those of committed transactions: the store reports
every commit's balances (absolute values, as its statements wrote them) and the
reservations it wrote in ONE step (``committed``), so `available` never counts a capture
twice or misses one. Users never seen are read from the store once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import InsufficientTokensError, UnknownUserError
from .base import CallRecord, NewCall, utcnow


@dataclass(eq=False)
class Reservation:
    """Tokens held in memory: a running call's cost, or a take-back's amount."""

    user: str
    amount: int
    call: NewCall | None = None  # None for a take-back
    started_at: datetime = field(default_factory=utcnow)
    settling: bool = False  # claimed by finish_call or the sweep: settled once only
    dropped: bool = False  # written or cancelled: its tokens are no longer held
    # The call's final record once it is over and journaled, until the tables have it.
    final: CallRecord | None = None
    freed: bool = False  # its tokens no longer held before it is written (captured nothing)


class ReservationBook:
    def __init__(self, read_balance: Callable[[str], int | None]) -> None:
        self._read_balance = read_balance  # the durable balance, None for an unknown user
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}  # durable balance after the last commit
        self._held: dict[str, int] = {}
        self._calls: dict[str, Reservation] = {}

    # -- reserving ----------------------------------------------------------------------

    def reserve_call(self, call: NewCall) -> tuple[Reservation, bool]:
        """Reserve the call's cost; returns (reservation, True), owned by the caller.

        If a call with this id is running, returns (its reservation, False) and reserves
        nothing: the caller replays it. Raises UnknownUserError, or InsufficientTokensError
        when the balance less what running calls hold is below the cost.
        """
        with self._lock:
            running = self._calls.get(call.call_id)
            if running is not None:
                return running, False
            available = self._available(call.user)
            if available < call.cost:
                raise InsufficientTokensError(call.user, call.cost, available)
            reservation = Reservation(call.user, call.cost, call, call.started_at)
            self._calls[call.call_id] = reservation
            self._hold(call.user, call.cost)
            return reservation, True

    def reserve_take_back(self, user: str, amount: int) -> Reservation:
        """Hold ``amount`` (> 0) for a take-back; raises InsufficientTokensError when
        running calls or the balance leave too little."""
        with self._lock:
            available = self._available(user)
            if available < amount:
                raise InsufficientTokensError(user, amount, available)
            self._hold(user, amount)
            return Reservation(user, amount)

    def _hold(self, user: str, amount: int) -> None:
        if amount:
            self._held[user] = self._held.get(user, 0) + amount

    def _available(self, user: str) -> int:
        if user not in self._balances:
            # Read under the lock: a commit's report (committed) waits for it, so the value
            # installed here is never older than the last report.
            balance = self._read_balance(user)
            if balance is None:
                raise UnknownUserError(f"no such user: {user}")
            self._balances[user] = balance
        return self._balances[user] - self._held.get(user, 0)

    # -- settling -----------------------------------------------------------------------

    def finished(self, reservation: Reservation, final: CallRecord) -> None:
        """A call is over and on its way to the tables: the book answers for it with its
        final record until they have it. A call that captures nothing frees its tokens at
        once: its release changes no balance, so nothing needs to wait for the write."""
        with self._lock:
            reservation.final = final
            if final.status != "succeeded" and not reservation.freed:
                self._unhold(reservation.user, reservation.amount)
                reservation.freed = True

    def running(self, call_id: str) -> Reservation | None:
        with self._lock:
            return self._calls.get(call_id)

    def claim(self, call: NewCall) -> Reservation | None:
        """Claim a running call for settlement: None if it is not running (with that user and
        cost) or was claimed already, so a call is settled once."""
        with self._lock:
            reservation = self._calls.get(call.call_id)
            if (reservation is None or reservation.settling or reservation.call is None
                    or (reservation.user, reservation.amount) != (call.user, call.cost)):
                return None
            reservation.settling = True
            return reservation

    def claim_overdue(self, deadline_before: datetime | None) -> list[Reservation]:
        """Claim running calls whose deadline is before the given time (None: all)."""
        with self._lock:
            overdue = [r for r in self._calls.values() if not r.settling and r.call and (
                deadline_before is None or r.call.deadline_at < deadline_before)]
            for reservation in overdue:
                reservation.settling = True
            return overdue

    def committed(self, balances: dict[str, int], settled: Iterable[Reservation]) -> None:
        """A transaction committed: these are its accounts' balances now, and these
        reservations are written (captured, released or taken back). One step, so that
        `available` never sees the balance change without the hold gone, or the reverse."""
        with self._lock:
            self._balances.update(balances)
            for reservation in settled:
                self._drop(reservation)

    def cancel(self, reservation: Reservation) -> None:
        """Drop a reservation that was not written (a refusal, a failed write)."""
        with self._lock:
            self._drop(reservation)

    def _drop(self, reservation: Reservation) -> None:
        if reservation.dropped:
            return  # written, then cancelled by a finally: once is enough
        if not reservation.freed:
            self._unhold(reservation.user, reservation.amount)
        if reservation.call is not None:
            # A call written from the journal at start was never in the book.
            self._calls.pop(reservation.call.call_id, None)
        reservation.dropped = True

    def _unhold(self, user: str, amount: int) -> None:
        left = self._held.get(user, 0) - amount
        if left:
            self._held[user] = left
        else:
            self._held.pop(user, None)

    def forget_balances(self, users: Iterable[str]) -> None:
        """Read these balances afresh next time (after a write found them changed)."""
        with self._lock:
            for user in users:
                self._balances.pop(user, None)

    # -- reading ------------------------------------------------------------------------

    def balance(self, user: str) -> int:
        """The durable balance as of the last commit (read from the store if never seen)."""
        with self._lock:
            self._available(user)
            return self._balances[user]

    def balance_after_finished(self, user: str) -> int:
        """The balance once every finished call is in the tables: the durable balance less
        what the succeeded calls on their way there capture."""
        with self._lock:
            self._available(user)
            on_the_way = sum(r.amount for r in self._calls.values() if r.user == user
                             and r.final is not None and r.final.status == "succeeded")
            return self._balances[user] - on_the_way

    def calls(self) -> list[Reservation]:
        """The running calls (a snapshot)."""
        with self._lock:
            return list(self._calls.values())

    def held(self, user: str) -> int:
        with self._lock:
            return self._held.get(user, 0)
