"""The demo shop (seller ``demo``): 320 customers with a year of realistic activity.

Deterministic (a seeded generator, event ids derived from the customer and a counter),
so loading it twice changes nothing: profiles already present are left alone and every
event comes back as a duplicate.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

SELLER = "demo"
CUSTOMERS = 320
FIRST = ["Somchai", "Malee", "Nguyen", "Linh", "Budi", "Siti", "Wei", "Mei", "Ahmad", "Nur",
         "Anong", "Thanh", "Dewi", "Li", "Arif", "Ploy", "Minh", "Putri", "Hui", "Farah"]
LAST = ["Srisuk", "Tran", "Santoso", "Wang", "Rahman", "Chaiyaporn", "Pham", "Wijaya", "Chen",
        "Ismail"]
REGIONS = [("Bangkok", "th", "+668"), ("Chiang Mai", "th", "+669"), ("Hanoi", "vi", "+849"),
           ("Ho Chi Minh City", "vi", "+849"), ("Java", "id", "+62812"), ("Bali", "id", "+62813"),
           ("Kuala Lumpur", "ms", "+6012"), ("Shanghai", "zh", "+86138"), ("Singapore", "en", "+659")]
PRODUCTS = [f"demo-p{i:02d}" for i in range(1, 21)]
ARCHETYPES = ["browser", "new_buyer", "repeat", "loyal", "lapsed", "follower_fan", "one_off",
              "quiet"]


def _phone(rng: random.Random, prefix: str) -> str:
    digits = {"+668": 8, "+669": 8, "+849": 8, "+62812": 8, "+62813": 8, "+6012": 7,
              "+86138": 8, "+659": 7}[prefix]
    return prefix + "".join(str(rng.randint(0, 9)) for _ in range(digits))


def customer_plan(index: int, now: datetime) -> tuple[str, dict, list[dict[str, Any]]]:
    """(customer id, profile, events) for the index-th demo customer."""
    rng = random.Random(f"demo-{index}")
    cid = f"demo-c{index:04d}"
    region, language, prefix = rng.choice(REGIONS)
    profile = {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "age": rng.randint(18, 64),
               "gender": rng.choice(["female", "female", "male", "unknown"]), "region": region,
               "language": language}
    phone = _phone(rng, prefix)
    try:
        from chalicelib.domain.customers import normalise_phone

        profile["phone"] = normalise_phone(phone)
    except ValueError:
        pass
    kind = ARCHETYPES[index % len(ARCHETYPES)]
    events: list[dict[str, Any]] = []

    def add(etype: str, days_ago: float, **extra: Any) -> None:
        at = now - timedelta(days=days_ago, seconds=rng.randint(0, 3600))
        events.append({"event_id": f"{cid}-{len(events):03d}", "type": etype, "customer_id": cid,
                       "occurred_at": at.isoformat().replace("+00:00", "Z"), **extra})

    def order(days_ago: float, refund: bool = False) -> None:
        oid = f"{cid}-o{len(events):03d}"
        amount = f"{rng.choice([9, 19, 29, 49, 79, 129, 249, 499])}.{rng.choice(['00', '50', '90'])}"
        products = rng.sample(PRODUCTS, rng.randint(1, 3))
        add("payment_started", days_ago + 0.01, order_id=oid, amount=amount)
        add("order_paid", days_ago, order_id=oid, amount=amount, currency="THB",
            product_ids=products)
        if refund:
            add("order_refunded", max(0.0, days_ago - 2), order_id=oid)

    for _ in range(rng.randint(2, 12)):
        add("product_viewed", rng.uniform(0, 360), product_id=rng.choice(PRODUCTS))
    if kind == "browser":
        add("cart_added", rng.uniform(0, 25), product_id=rng.choice(PRODUCTS))
        add("favorited", rng.uniform(0, 60), product_id=rng.choice(PRODUCTS))
    elif kind == "new_buyer":
        order(rng.uniform(1, 28))
    elif kind == "repeat":
        order(rng.uniform(120, 300))
        order(rng.uniform(1, 28))
    elif kind == "loyal":
        for _ in range(rng.randint(2, 5)):
            order(rng.uniform(1, 85))
        add("review_left", rng.uniform(0, 30), product_id=rng.choice(PRODUCTS),
            rating=rng.randint(4, 5))
    elif kind == "lapsed":
        for _ in range(rng.randint(1, 3)):
            order(rng.uniform(95, 360), refund=rng.random() < 0.15)
    elif kind == "follower_fan":
        add("followed", rng.uniform(0, 28))
        add("live_viewed", rng.uniform(0, 20), live_id=f"live-{rng.randint(1, 9)}")
        add("video_liked", rng.uniform(0, 20), video_id=f"video-{rng.randint(1, 40)}")
    elif kind == "one_off":
        order(rng.uniform(30, 200), refund=rng.random() < 0.3)
        add("followed", rng.uniform(100, 300))
        if rng.random() < 0.4:
            add("unfollowed", rng.uniform(10, 90))
    if rng.random() < 0.3:
        add("followed", rng.uniform(31, 360))
        add("product_card_clicked", rng.uniform(0, 40), product_id=rng.choice(PRODUCTS))
    if rng.random() < 0.15:
        add("cart_added", rng.uniform(0, 10), product_id=rng.choice(PRODUCTS))
    if index % 37 == 0:
        add("blocked", rng.uniform(0, 100))
    if index % 41 == 0:
        add("unsubscribed", rng.uniform(0, 100))
    return cid, profile, events


def load(now: datetime | None = None) -> dict[str, int]:
    """Load (or re-load, changing nothing) the demo shop; returns what was written."""
    from chalicelib.domain.customers import CustomerPut
    from chalicelib.services import customers, events
    from chalicelib.store import customers as repo

    now = now or datetime.now(UTC)
    from chalicelib.local import demo_shop_items

    demo_shop_items.load(SELLER, now)   # products, voucher, settings first: demo plans use them
    created, pending, totals = 0, [], {"accepted": 0, "duplicates": 0}
    existing = repo.batch_get(SELLER, [f"demo-c{i:04d}" for i in range(1, CUSTOMERS + 1)])
    for index in range(1, CUSTOMERS + 1):
        cid, profile, evs = customer_plan(index, now)
        if cid not in existing or existing[cid].name is None:
            customers.put(SELLER, cid, CustomerPut(**profile), now)
            created += 1
        pending.extend(evs)
    for start in range(0, len(pending), 500):
        result = events.ingest(SELLER, pending[start:start + 500], now)
        totals["accepted"] += result["accepted"]
        totals["duplicates"] += result["duplicates"]
    from chalicelib.services import segments

    segments.ensure(SELLER, "seg_demo_thai_winback", "Thai buyers to win back", {
        "all": [{"attr": "language", "op": "eq", "value": "th"},
                {"attr": "order_count", "op": "gte", "value": 1},
                {"event": "order", "within_days": 60, "count": {"lte": 0}}]}, now)
    from chalicelib.local import demo_tags

    tagged = demo_tags.load(SELLER, now)   # tags, the four example rules, some assignments
    from chalicelib.local import demo_delivery

    delivered = demo_delivery.load(SELLER, now)   # one sent plan with performance
    from chalicelib.local import demo_automated

    delivered.update(demo_automated.load(SELLER, now))   # one active automated plan
    from chalicelib.local import demo_measured

    delivered.update(demo_measured.load(SELLER, now))    # an A/B test and a holdout, measured
    return {"customers_created": created, "events_accepted": totals["accepted"],
            "events_duplicate": totals["duplicates"], **tagged, **delivered}
