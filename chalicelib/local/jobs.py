"""Run a scheduled job on demand against a running local stack (or any endpoint):

    python -m chalicelib.local.jobs daily-tag-rules --endpoint http://127.0.0.1:<moto port>
    python -m chalicelib.local.jobs daily-tag-rules --seller demo
    python -m chalicelib.local.jobs sweep-stuck-plans --endpoint http://127.0.0.1:<moto port>

The moto URL is the one ``make run`` prints ("moto server"); AWS_ENDPOINT_URL works too.
The job takes the path the schedule takes on AWS: one daily-queue message per seller, run by
the stack's poller at most once per seller per day. This command waits for those runs and
prints each seller's summary (a seller that already ran today shows that run's summary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime


def daily_tag_rules(seller: str | None, wait_seconds: float) -> dict:
    from chalicelib.services import tag_rules
    from chalicelib.store import tag_rules as store

    queued = tag_rules.queue_daily(datetime.now(UTC), [seller] if seller else None)
    day = queued["day"]
    sellers = [seller] if seller else store.sellers_with_daily_rules()
    results: dict[str, dict | None] = dict.fromkeys(sellers)
    deadline = time.monotonic() + wait_seconds
    while any(v is None for v in results.values()) and time.monotonic() < deadline:
        for seller_id in [s for s, v in results.items() if v is None]:
            run = store.get_run(seller_id, day)
            if run is not None and run.status == "done":
                results[seller_id] = run.summary
        if any(v is None for v in results.values()):
            time.sleep(0.5)
    return results


def sweep_stuck_plans(seller: str | None, _wait_seconds: float = 0) -> dict:
    from chalicelib.delivery import sweeper

    return sweeper.sweep(datetime.now(UTC), seller_id=seller)


JOBS = {"daily-tag-rules": daily_tag_rules, "sweep-stuck-plans": sweep_stuck_plans}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a scheduled job now")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--seller", help="only this seller (default: every seller)")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the local stack's moto URL (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--wait", type=float, default=120,
                        help="seconds to wait for the stack to run the queued job (default 120)")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("no endpoint: pass --endpoint http://127.0.0.1:<moto port> (printed by "
                     "`make run`) or set AWS_ENDPOINT_URL")
    from chalicelib.local.moto_env import point_at_moto

    point_at_moto(args.endpoint)
    from chalicelib.settings import settings

    settings.cache_clear()
    results = JOBS[args.job](args.seller, args.wait)
    print(json.dumps(results), flush=True)
    pending = sorted(s for s, v in results.items() if v is None)
    if pending:
        print(f"not done after {args.wait:.0f} s (is the local stack running?): "
              f"{', '.join(pending)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
