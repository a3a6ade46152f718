"""Every table, declared once: the local stack creates them from here and infra/ reads them."""

from __future__ import annotations

from chalicelib.store.customers import CustomerItem
from chalicelib.store.events import EventSeen, ShopEvent
from chalicelib.store.plans import PlanItem
from chalicelib.store.tags import TagItem

TABLES = [
    CustomerItem,
    EventSeen,
    ShopEvent,
    TagItem,
    PlanItem,
]


def create_all() -> None:
    for model in TABLES:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
