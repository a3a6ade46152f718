"""Metrics (docs/operations.md): CloudWatch EMF documents on stdout, written when each
invocation ends: messages sent, failed and skipped per channel, events ingested."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from tests.integration.delivery_support import create_plan, iso, run_pipeline, seed_followers
from tests.integration.test_delivery_http_channel import endpoint  # noqa: F401 (fixture)


def emf(stdout: str) -> list[dict]:
    """Every EMF document printed (one JSON object per line with an ``_aws`` block)."""
    docs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def totals(docs: list[dict], namespace: str = "SellerCRM") -> Counter[tuple[str, str | None]]:
    """(metric, channel) -> sum, checking each document against the EMF shape."""
    out: Counter[tuple[str, str | None]] = Counter()
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == namespace
        (dimensions,) = directive["Dimensions"]
        assert {"service", "stage"} <= set(dimensions) and all(d in doc for d in dimensions)
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            value = doc[metric["Name"]]
            out[(metric["Name"], doc.get("channel"))] += sum(value) if isinstance(value, list) \
                else value
    return out


def quiet(app, capsys) -> None:
    """Run whatever earlier tests left in the queues and drop what was printed so far."""
    from chalicelib import metrics

    run_pipeline(app)
    metrics.flush()
    capsys.readouterr()


def test_a_plan_send_counts_messages_sent_failed_and_skipped_per_channel(api, app, endpoint,  # noqa: F811
                                                                        capsys):
    quiet(app, capsys)
    ids = seed_followers(api, 6, blocked=(1,), unsubscribed=(2,))
    endpoint.reject = {ids[5]}                 # the messaging endpoint refuses this one
    plan = create_plan(api)
    # Every batch handed over twice and re-sent as new messages: the counts still move once
    # per recorded chunk, like the plan's own counters.
    run_pipeline(app, duplicate=True)
    got = totals(emf(capsys.readouterr().out))
    messages = {k: v for k, v in got.items() if k[0].startswith("messages_")}
    assert messages == {("messages_sent", "chat"): 3, ("messages_failed", "chat"): 1,
                        ("messages_skipped", "chat"): 2}
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert (perf["delivered"], perf["failed"]) == (3, 1)


def test_ingested_events_are_counted_when_the_request_ends(api, app, capsys):
    quiet(app, capsys)
    now = iso(datetime.now(UTC))
    events = [{"event_id": f"e{i}", "type": "product_viewed", "customer_id": "c1",
               "product_id": "p1", "occurred_at": now} for i in range(3)]
    events.append(dict(events[0]))                                  # a duplicate
    events.append({"event_id": "bad", "type": "no_such_type", "occurred_at": now})
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202 and r.json["accepted"] == 3
    # No explicit flush: the request's own invocation wrote its metrics.
    assert totals(emf(capsys.readouterr().out))[("events_ingested", None)] == 3
    api.post("/v1/events", {"events": events})                      # all seen before
    assert totals(emf(capsys.readouterr().out))[("events_ingested", None)] == 0


def test_metrics_of_an_invocation_that_raises_are_still_written(app, capsys):
    from chalicelib import metrics

    metrics.flush()
    capsys.readouterr()

    def failing(_event):
        metrics.count("messages_sent", 2, channel="chat")
        raise RuntimeError("boom")

    try:
        metrics.flush_after({}, failing)
    except RuntimeError:
        pass
    assert totals(emf(capsys.readouterr().out)) == {("messages_sent", "chat"): 2}
