"""Load: 20 concurrent users for about 60 s against the local stack (Locust, headless, in this
process), mixing event ingestion, segment previews, draft plans and reads. Prints requests/s,
p50/p95 latency, the error count and the 5xx count; the target is 0 errors and 0 5xx.

    CRM_BENCH_LOAD_SECONDS=20 python -m bench load     # shorter
    CRM_BENCH_LOAD_USERS=20                            # concurrent users (default 20)

Figures are printed, never asserted: a slow machine does not fail the build.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta

# Locust runs its users as gevent greenlets and patches the standard library when imported,
# so it comes before anything that opens sockets or starts threads (requests, chalicelib).
import gevent
from locust import HttpUser, __version__, between, events, task
from locust.env import Environment

warnings.filterwarnings("ignore", message=".*HMAC key.*")   # the short local dev secret

SELLERS = 4                 # users share sellers, so reads see each other's writes
CUSTOMERS = 300             # per seller, seeded before the run
EVENTS_PER_POST = 20
PREVIEW_RULE = {"all": [{"attr": "order_count", "op": "gte", "value": 1},
                        {"event": "product_viewed", "within_days": 30, "count": {"gte": 1}}]}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def seller_token(seller_id: str) -> str:
    from chalicelib.api.auth import mint_token

    return mint_token(seller_id, "owner", sub="bench-load")


def random_events(rng: random.Random, count: int) -> list[dict]:
    now = datetime.now(UTC)
    out = []
    for _ in range(count):
        cid = f"c{rng.randrange(CUSTOMERS):04d}"
        when = iso(now - timedelta(minutes=rng.randrange(60 * 24 * 20)))
        base = {"event_id": uuid.uuid4().hex, "customer_id": cid, "occurred_at": when}
        kind = rng.random()
        if kind < 0.5:
            out.append({**base, "type": "product_viewed", "product_id": f"p{rng.randrange(20)}"})
        elif kind < 0.7:
            out.append({**base, "type": "cart_added", "product_id": f"p{rng.randrange(20)}"})
        elif kind < 0.9:
            out.append({**base, "type": "order_paid", "order_id": uuid.uuid4().hex[:16],
                        "amount": f"{rng.randrange(50, 2000)}.00", "currency": "THB",
                        "product_ids": [f"p{rng.randrange(20)}"]})
        else:
            out.append({**base, "type": "followed"})
    return out


def seed(base: str, seller_id: str) -> None:
    """Customers with some history, a tag and a saved segment: what the reads will see."""
    import requests

    rng = random.Random(seller_id)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {seller_token(seller_id)}"

    def post(path: str, body: dict) -> dict:
        r = session.post(base + path, json=body, timeout=300)
        r.raise_for_status()
        return r.json()

    events_ = []
    for i in range(CUSTOMERS):
        now = datetime.now(UTC)
        events_.append({"event_id": f"seed-{i}-f", "type": "followed", "customer_id": f"c{i:04d}",
                        "occurred_at": iso(now - timedelta(days=rng.randrange(1, 60)))})
    events_ += random_events(rng, 700)
    for start in range(0, len(events_), 500):
        post("/v1/events", {"events": events_[start:start + 500]})
    post("/v1/tags", {"name": "vip", "dimension": "spending_power"})
    post("/v1/segments", {"name": "buyers who browse", "rule": PREVIEW_RULE})


class Outcomes:
    """Status codes seen, and the 5xx among them (Locust counts only failures)."""

    def __init__(self) -> None:
        self.server_errors = 0
        self.statuses: dict[int, int] = {}

    def on_request(self, response=None, exception=None, **_: object) -> None:
        status = getattr(response, "status_code", None) or 0
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.server_errors += 1


class SellerUser(HttpUser):
    """A seller's console and shop backend at once: events flow in while someone browses."""

    wait_time = between(0.05, 0.3)
    sellers: list[str] = []
    started = 0

    def on_start(self) -> None:
        SellerUser.started += 1
        self.seller_id = self.sellers[SellerUser.started % len(self.sellers)]
        self.rng = random.Random(f"{self.seller_id}-{SellerUser.started}")
        self.client.headers["Authorization"] = f"Bearer {seller_token(self.seller_id)}"
        self.client.headers["Content-Type"] = "application/json"

    def _call(self, method: str, path: str, name: str, body: dict | None = None,
              expect: tuple[int, ...] = (200,)) -> None:
        with self.client.request(method, path, name=name, catch_response=True, timeout=120,
                                 data=json.dumps(body) if body is not None else None) as r:
            if r.status_code not in expect:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(4)
    def ingest(self) -> None:
        self._call("POST", "/v1/events", "POST /v1/events",
                   {"events": random_events(self.rng, EVENTS_PER_POST)}, expect=(202,))

    @task(2)
    def preview(self) -> None:
        self._call("POST", "/v1/segments/preview", "POST /v1/segments/preview",
                   {"rule": PREVIEW_RULE})

    @task(1)
    def draft_plan(self) -> None:
        self._call("POST", "/v1/plans", "POST /v1/plans (draft)", {
            "name": f"load {uuid.uuid4().hex[:8]}", "kind": "one_off",
            "audience": {"segment_ids": ["new_followers"]}, "channels": ["chat"],
            "content": {"text": {"en": "Hi {name}, new arrivals at {shop}",
                                 "th": "สวัสดี {name}"}},
            "action": "draft"}, expect=(201,))

    @task(2)
    def list_customers(self) -> None:
        self._call("GET", "/v1/customers?limit=50", "GET /v1/customers")

    @task(1)
    def one_customer(self) -> None:
        self._call("GET", f"/v1/customers/c{self.rng.randrange(CUSTOMERS):04d}",
                   "GET /v1/customers/{id}")

    @task(1)
    def list_segments(self) -> None:
        self._call("GET", "/v1/segments", "GET /v1/segments")

    @task(1)
    def list_plans(self) -> None:
        self._call("GET", "/v1/plans?limit=50", "GET /v1/plans")


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def run(base: str, seconds: float, users: int) -> None:
    SellerUser.host = base
    SellerUser.sellers = [f"load-{uuid.uuid4().hex[:6]}-{i}" for i in range(SELLERS)]
    t0 = time.perf_counter()
    for seller_id in SellerUser.sellers:
        seed(base, seller_id)
    print(f"seeded {SELLERS} sellers x {CUSTOMERS} customers in {time.perf_counter() - t0:.1f} s",
          flush=True)

    env = Environment(user_classes=[SellerUser], events=events)
    outcomes = Outcomes()
    env.events.request.add_listener(outcomes.on_request)
    runner = env.create_local_runner()
    spawn_rate = max(1.0, users / 4)           # everyone running within the first 4 s
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()

    total = env.stats.total
    elapsed = max(1e-9, (total.last_request_timestamp or 0) - (total.start_time or 0))
    print(f"load (Locust {__version__}): {users} users (spawned at {spawn_rate:.0f}/s) for {seconds:.0f} s over "
          f"{SELLERS} sellers; {total.num_requests} requests = "
          f"{total.num_requests / elapsed:.1f} requests/s; "
          f"p50 {ms(total.get_response_time_percentile(0.5))}, "
          f"p95 {ms(total.get_response_time_percentile(0.95))}, "
          f"max {ms(total.max_response_time)}")
    print(f"  {'request':<28} {'count':>6} {'errors':>6} {'p50':>8} {'p95':>8}")
    for (name, _method), entry in sorted(env.stats.entries.items()):
        print(f"  {name:<28} {entry.num_requests:>6} {entry.num_failures:>6} "
              f"{ms(entry.get_response_time_percentile(0.5)):>8} "
              f"{ms(entry.get_response_time_percentile(0.95)):>8}")
    for error in env.stats.errors.values():
        print(f"  error x{error.occurrences}: {error.method} {error.name}: {error.error}")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.statuses.items()))
    print(f"  status codes: {statuses}")
    met = total.num_failures == 0 and outcomes.server_errors == 0
    print(f"target check: errors {total.num_failures}, 5xx {outcomes.server_errors} "
          f"(target: errors 0, 5xx 0) -> {'met' if met else 'NOT MET'}", flush=True)


def main() -> None:
    from chalicelib.local.spawn import spawn

    seconds = float(os.environ.get("CRM_BENCH_LOAD_SECONDS", "60"))
    users = int(os.environ.get("CRM_BENCH_LOAD_USERS", "20"))
    started = spawn("--no-demo")
    try:
        run(started.base, seconds, users)
    finally:
        started.stop(timeout=60)


if __name__ == "__main__":
    main()
