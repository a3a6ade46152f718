"""Billing: each seller's prepaid account, its ledger and the reservations of plans.

One table, ``billing``:
- ``(seller, "account")``: ``balance`` (free to spend), ``reserved`` (held for plans still
  sending) and ``seq``, the number of ledger entries written so far;
- ``(seller#ledger, <seq, 12 digits>)``: one ledger entry per movement (kind, signed
  amount, plan, balance after), newest first by reading the partition backwards;
- ``(seller, "r#<ref>")``: a reservation (a plan's, or one test send's): what it still
  holds, what was charged, the charge keys already applied, the prices it was made at, and
  its state (open, then closed once released).

Every movement is one TransactWriteItems: the account update conditioned on the ``seq``
that was read (so two movements can never both spend the same money: the loser re-reads
and, when the balance no longer covers it, is refused), the ledger entry numbered
``seq + 1``, and the item that makes the movement happen once (a reservation that must not
exist yet, a charge key the reservation must not hold yet, a reservation still open), plus
whatever must change with it (a plan's status on send). Amounts are ``Decimal`` end to end
(a Number attribute read back as Decimal, never float).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain import billing as rules
from chalicelib.store.base import BaseModel, get_or_none, meta, sorted_page
from chalicelib.store.plans import PlanItem, status_actions
from chalicelib.store.versioning import VersionConflict, retry_on_conflict

ACCOUNT = "account"
# One account item takes every movement of a seller: a busy shop's chunks settle at once, so
# a movement is re-tried longer than other optimistic writes before it gives up (409).
ATTEMPTS = 25
OPEN, CLOSED = "open", "closed"


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB Number read back as ``Decimal`` (PynamoDB's NumberAttribute gives floats)."""
    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(rules.money(value))

    def deserialize(self, value: str) -> Decimal:
        return rules.money(Decimal(value))


class BillingItem(BaseModel):
    Meta = meta("billing")
    pk = UnicodeAttribute(hash_key=True)            # seller | seller#ledger
    sk = UnicodeAttribute(range_key=True)           # account | r#<ref> | <seq:012d>
    # the account
    balance = DecimalAttribute(null=True)
    reserved = DecimalAttribute(null=True)
    seq = NumberAttribute(null=True)
    # a ledger entry
    kind = UnicodeAttribute(null=True)              # topup | reserve | charge | release
    amount = DecimalAttribute(null=True)            # signed
    balance_after = DecimalAttribute(null=True)
    plan_id = UnicodeAttribute(null=True)
    topup_id = UnicodeAttribute(null=True)
    test = BooleanAttribute(null=True)              # a test send's reserve / charge / release
    at = NumberAttribute(null=True)                 # ms
    # a reservation
    state = UnicodeAttribute(null=True)             # open | closed
    held = DecimalAttribute(null=True)
    charged = DecimalAttribute(null=True)
    parts = UnicodeSetAttribute(null=True)          # charge keys applied
    prices = JSONAttribute(null=True)               # {"sms": "0.035", "voice": "0.200"}


def ledger_pk(seller_id: str) -> str:
    return f"{seller_id}#ledger"


def _reservation_sk(ref: str) -> str:
    return f"r#{ref}"


_conn: Connection | None = None


def _connection() -> Connection:
    global _conn
    if _conn is None:
        cfg = BillingItem.Meta
        _conn = Connection(region=cfg.region, host=cfg.host,
                           max_retry_attempts=cfg.max_retry_attempts)
    return _conn


def get_account(seller_id: str) -> BillingItem | None:
    return get_or_none(BillingItem, seller_id, ACCOUNT)


def account(seller_id: str) -> tuple[Decimal, Decimal]:
    """(balance, reserved); a seller who never topped up has (0, 0)."""
    item = get_account(seller_id)
    return (item.balance, item.reserved) if item else (rules.ZERO, rules.ZERO)


def reservation(seller_id: str, ref: str) -> BillingItem | None:
    return get_or_none(BillingItem, seller_id, _reservation_sk(ref))


Movement = tuple[str, Decimal, dict[str, Any]]   # (kind, unsigned amount, entry fields)


def _commit(seller_id: str, found: BillingItem | None, movements: list[Movement], now_ms: int,
            more: Callable[[TransactWrite], None] | None = None) -> Decimal:
    """Write ``movements`` (and ``more``) in one transaction conditioned on the account's
    ``seq`` as read (``found``); returns the balance after. ValueError when a movement would
    overspend; VersionConflict when any condition failed (the caller re-reads and decides)."""
    balance, reserved = (found.balance, found.reserved) if found else (rules.ZERO, rules.ZERO)
    seq = int(found.seq) if found else 0
    entries = []
    for kind, amount, fields in movements:
        balance, reserved = rules.apply((balance, reserved), kind, amount)
        seq += 1
        entries.append(BillingItem(pk=ledger_pk(seller_id), sk=f"{seq:012d}", kind=kind,
                                   amount=rules.signed(kind, amount), balance_after=balance,
                                   at=now_ms, **fields))
    condition = (BillingItem.seq == int(found.seq)) if found else BillingItem.sk.does_not_exist()
    try:
        with TransactWrite(connection=_connection()) as tx:
            if entries:
                tx.update(BillingItem(pk=seller_id, sk=ACCOUNT),
                          actions=[BillingItem.balance.set(balance),
                                   BillingItem.reserved.set(reserved), BillingItem.seq.set(seq)],
                          condition=condition)
                for entry in entries:
                    tx.save(entry, condition=BillingItem.sk.does_not_exist())
            if more is not None:
                more(tx)
    except TransactWriteError as exc:
        codes = {r.code for r in (exc.cancellation_reasons or []) if r is not None}
        if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes or not codes:
            raise VersionConflict(f"billing of {seller_id}") from None
        raise
    return balance


def topup(seller_id: str, topup_id: str, amount: Decimal, now_ms: int) -> Decimal:
    """Add to the balance; returns the balance after."""
    def attempt(_: int) -> Decimal:
        return _commit(seller_id, get_account(seller_id),
                       [("topup", amount, {"topup_id": topup_id})], now_ms)

    return retry_on_conflict(attempt, what="the billing account", attempts=ATTEMPTS)


def _plan_move(seller_id: str, plan_id: str, allowed_from: set[str], to: str,
               fields: dict[str, Any]) -> Callable[[TransactWrite], None]:
    def add(tx: TransactWrite) -> None:
        tx.update(PlanItem(seller_id=seller_id, plan_id=plan_id, version=0),
                  actions=status_actions(to, fields),
                  condition=PlanItem.status.is_in(*allowed_from) & PlanItem.plan_id.exists(),
                  add_version_condition=False)
    return add


def _both(*parts: Callable[[TransactWrite], None] | None) -> Callable[[TransactWrite], None]:
    def add(tx: TransactWrite) -> None:
        for part in parts:
            if part is not None:
                part(tx)
    return add


def reserve(seller_id: str, ref: str, plan_id: str, amount: Decimal, prices: dict[str, str],
            now_ms: int, currency: str, move: tuple[set[str], str, dict[str, Any]] | None = None,
            test: bool = False) -> bool:
    """Hold ``amount`` for ``ref`` (and, with ``move``, move the plan's status in the same
    write). False when the plan is not in a status ``move`` allows (nothing changed); raises
    InsufficientBalance (402) when the balance does not cover it."""
    def attempt(_: int) -> bool:
        found = get_account(seller_id)
        balance = found.balance if found else rules.ZERO
        if amount > balance:
            raise rules.refused(amount, balance, currency)
        if reservation(seller_id, ref) is not None:
            return False
        hold = BillingItem(pk=seller_id, sk=_reservation_sk(ref), state=OPEN, held=amount,
                           charged=rules.ZERO, prices=prices, plan_id=plan_id, at=now_ms)
        plan_part = _plan_move(seller_id, plan_id, *move) if move else None
        try:
            _commit(seller_id, found, [("reserve", amount, {"plan_id": plan_id, "test": test or None})],
                    now_ms, _both(lambda tx: tx.save(hold, condition=BillingItem.sk.does_not_exist()),
                                  plan_part))
        except VersionConflict:
            if move is not None:
                plan = get_or_none(PlanItem, seller_id, plan_id)
                if plan is None or plan.status not in move[0]:
                    return False
            raise
        return True

    return retry_on_conflict(attempt, what="the billing account", attempts=ATTEMPTS)


def charge(seller_id: str, ref: str, key: str, amount: Decimal, now_ms: int,
           test: bool = False) -> bool:
    """Spend ``amount`` out of what ``ref`` holds, once per ``key``: False when that key was
    charged already. Raises when there is no open reservation or it holds less (a bug:
    dispatch never sends more paid messages than were reserved)."""
    def attempt(_: int) -> bool:
        held = reservation(seller_id, ref)
        if held is not None and key in (held.parts or set()):
            return False
        if held is None or held.state != OPEN or amount > held.held:
            raise RuntimeError(f"charge {key} of {amount} finds no open reservation holding it "
                               f"({ref}: {held.state if held else None})")
        if amount == 0:
            return False

        def mark(tx: TransactWrite) -> None:
            tx.update(BillingItem(pk=seller_id, sk=_reservation_sk(ref)),
                      actions=[BillingItem.held.set(held.held - amount),
                               BillingItem.charged.set(held.charged + amount),
                               BillingItem.parts.add({key})],
                      condition=(BillingItem.state == OPEN) & (BillingItem.held == held.held))

        _commit(seller_id, get_account(seller_id),
                [("charge", amount, {"plan_id": held.plan_id, "test": test or None})], now_ms, mark)
        return True

    return retry_on_conflict(attempt, what="the billing account", attempts=ATTEMPTS)


def release(seller_id: str, ref: str, now_ms: int, test: bool = False,
            move: tuple[set[str], str, dict[str, Any]] | None = None,
            forget: bool = False) -> Decimal | None:
    """Give back what ``ref`` still holds and close it (with ``forget``, delete it, so the plan
    may be sent again; with ``move``, move the plan in the same write). Returns the amount
    released, None when there was nothing open (released already, or never reserved)."""
    def attempt(_: int) -> Decimal | None:
        held = reservation(seller_id, ref)
        if held is None or held.state != OPEN:
            return None
        key = BillingItem(pk=seller_id, sk=_reservation_sk(ref))
        condition = (BillingItem.state == OPEN) & (BillingItem.held == held.held)

        def close(tx: TransactWrite) -> None:
            if forget:
                tx.delete(key, condition=condition)
            else:
                tx.update(key, actions=[BillingItem.state.set(CLOSED), BillingItem.held.set(rules.ZERO)],
                          condition=condition)

        plan_part = _plan_move(seller_id, held.plan_id, *move) if move else None
        movements = [("release", held.held, {"plan_id": held.plan_id, "test": test or None})] \
            if held.held > 0 else []
        _commit(seller_id, get_account(seller_id), movements, now_ms, _both(close, plan_part))
        return held.held

    return retry_on_conflict(attempt, what="the billing account", attempts=ATTEMPTS)


def ledger_page(seller_id: str, limit: int, before: str | None
                ) -> tuple[list[BillingItem], str | None]:
    """Ledger entries newest first; returns the sort key to continue before."""
    return sorted_page(BillingItem, ledger_pk(seller_id), limit, before, newest_first=True)


def ledger_all(seller_id: str) -> list[BillingItem]:
    """Every ledger entry, oldest first (tests and audits)."""
    return list(BillingItem.query(ledger_pk(seller_id), consistent_read=True))
