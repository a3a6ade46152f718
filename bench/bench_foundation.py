"""Foundation figures: the API's cold import against boto3's (budget ≤ 1.5×), and event
ingestion on the local stack (events per second, AWS requests per event)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.localstack import PY, RequestCounter, process_ratio, start, timed


def lambda_env() -> dict[str, str]:
    """The environment Lambda gives the function (.chalice/config.json, all stages)."""
    config = json.loads((Path(__file__).parent.parent / ".chalice" / "config.json").read_text())
    return dict(config.get("environment_variables", {}))


def cold_import() -> None:
    for label, env in (("with the Lambda environment of .chalice/config.json", lambda_env()),
                       ("bare environment", {})):
        app_s, boto_s, ratio = process_ratio([PY, "-c", "import app"], [PY, "-c", "import boto3"],
                                             env=env)
        print(f"cold import ({label}): app.py {app_s * 1000:.0f} ms, boto3 {boto_s * 1000:.0f} ms "
              f"(median of 9, whole process); ratio app/boto3 = {ratio:.2f} (budget <= 1.5)")


def ingestion(customers: int = 1000, batches: int = 10) -> None:
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from chalicelib.services import events

    counter.counts.clear()
    now = datetime.now(UTC)
    types = [("product_viewed", {"product_id": "p1"}), ("video_liked", {"video_id": "v1"}),
             ("cart_added", {"product_id": "p2"}), ("followed", {})]
    total = 0

    def run() -> None:
        nonlocal total
        for b in range(batches):
            batch = []
            for i in range(500):
                etype, extra = types[(b + i) % len(types)]
                batch.append({"event_id": f"b{b}-{i}", "type": etype,
                              "customer_id": f"c{(b * 500 + i) % customers}",
                              "occurred_at": (now - timedelta(hours=i)).isoformat(), **extra})
            total += events.ingest("bench", batch, now)["accepted"]

    seconds = timed(run)
    print(f"ingestion: {total} events ({batches} calls of 500, {customers} customers) in "
          f"{seconds:.1f} s = {total / seconds:.0f} events/s on moto; "
          f"{seconds / batches * 1000:.0f} ms per 500-event call")
    print(f"AWS requests per event: {counter.total() / total:.3f} "
          f"({', '.join(f'{k}={v}' for k, v in counter.counts.most_common())})")


def main() -> None:
    cold_import()
    ingestion()


if __name__ == "__main__":
    main()
