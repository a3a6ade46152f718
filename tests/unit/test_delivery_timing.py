"""The delivery pipeline's timings, derived from the deployed configuration: a chunk's lease
outlives the function that holds it, every queue hides a message long enough for its
consumer to finish (AWS's advice: at least 6x the function timeout), and a worker's safety
margin leaves it time to send something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DEFAULT_TIMEOUT = 60      # seconds, when config.json sets none
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
DEPLOYED = sorted(s for s in CONFIG["stages"] if s != "local")


def lambda_timeout(stage: str, function: str) -> int:
    """What Chalice deploys for ``function`` on ``stage``: the function's own setting in the
    stage, else the stage's, else the top level's, else Chalice's default."""
    st = CONFIG["stages"][stage]
    for scope in (st.get("lambda_functions", {}).get(function, {}), st, CONFIG):
        if "lambda_timeout" in scope:
            return int(scope["lambda_timeout"])
    return CHALICE_DEFAULT_TIMEOUT


def consumers() -> dict[str, str]:
    """Queue short name -> the name of the function that consumes it."""
    from chalice.app import SQSEventConfig

    from app import app
    from chalicelib.settings import settings
    from chalicelib.store.queues import QUEUES

    by_name = {src.queue: src.name for src in app.event_sources if isinstance(src, SQSEventConfig)}
    return {q.name: by_name[settings().queue_name(q.name)] for q in QUEUES}


def test_every_deployed_stage_sets_its_lambda_timeout():
    assert DEPLOYED, "no deployed stage in .chalice/config.json"
    for stage in DEPLOYED:
        assert "lambda_timeout" in CONFIG["stages"][stage], stage


@pytest.mark.parametrize("stage", sorted(CONFIG["stages"]))
def test_the_chunk_lease_outlives_the_worker_and_dispatcher_timeouts(stage):
    """A claim must not expire while the Lambda holding it still runs (another worker
    would take the chunk over and send again); the dispatcher's snapshot lease is the same."""
    from chalicelib.settings import settings

    lease = settings().delivery_lease_seconds
    fns = consumers()
    for queue in ("delivery", "dispatch"):
        assert lease > lambda_timeout(stage, fns[queue]), (stage, queue)


@pytest.mark.parametrize("stage", DEPLOYED)
def test_every_queue_hides_a_message_six_times_its_consumers_timeout(stage):
    from chalicelib.store.queues import QUEUES

    fns = consumers()
    for q in QUEUES:
        assert q.visibility_timeout >= 6 * lambda_timeout(stage, fns[q.name]), (stage, q.name)


@pytest.mark.parametrize("stage", sorted(CONFIG["stages"]))
def test_the_workers_safety_margin_leaves_time_to_send(stage):
    """The worker stops when less than its margin is left (the slowest slice, one HTTP
    message at the messaging timeout, plus the time to record): the margin must be well
    inside the timeout, or an invocation could do nothing but hand back."""
    from chalicelib.delivery import worker

    timeout_ms = lambda_timeout(stage, consumers()["delivery"]) * 1000
    assert worker.margin() <= timeout_ms // 2, stage
