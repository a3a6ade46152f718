"""Run a scheduled job on demand against a running local stack (or any endpoint):

    python -m chalicelib.local.jobs daily-tag-rules --endpoint http://127.0.0.1:<moto port>
    python -m chalicelib.local.jobs daily-tag-rules --seller demo
    python -m chalicelib.local.jobs sweep-stuck-plans --endpoint http://127.0.0.1:<moto port>

The moto URL is the one ``make run`` prints ("moto server"); AWS_ENDPOINT_URL works too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime


def daily_tag_rules(seller: str | None) -> dict:
    from chalicelib.services import tag_rules

    now = datetime.now(UTC)
    if seller:
        return {seller: tag_rules.run_daily(seller, now)}
    return tag_rules.run_daily_all(now)


def sweep_stuck_plans(seller: str | None) -> dict:
    from chalicelib.delivery import sweeper

    return sweeper.sweep(datetime.now(UTC), seller_id=seller)


JOBS = {"daily-tag-rules": daily_tag_rules, "sweep-stuck-plans": sweep_stuck_plans}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a scheduled job now")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--seller", help="only this seller (default: every seller)")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the local stack's moto URL (default: $AWS_ENDPOINT_URL)")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("no endpoint: pass --endpoint http://127.0.0.1:<moto port> (printed by "
                     "`make run`) or set AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = args.endpoint
    for key, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    from chalicelib.settings import settings

    settings.cache_clear()
    print(json.dumps(JOBS[args.job](args.seller)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
