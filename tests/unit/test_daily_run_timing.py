"""The daily run's timings, derived from the deployed config (docs/operations.md): the claim
outlives the function, the queue hides a message longer than the claim lasts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONFIG = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())


def function_timeout(stage: str, function: str) -> int:
    stage_cfg = CONFIG["stages"][stage]
    per_function = stage_cfg.get("lambda_functions", {}).get(function, {})
    return per_function.get("lambda_timeout", stage_cfg.get("lambda_timeout",
                                                            CONFIG.get("lambda_timeout", 60)))


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_live_daily_run_is_never_taken_over_and_a_crashed_one_is(stage):
    from chalicelib.settings import Settings
    from chalicelib.store.queues import spec

    timeout = function_timeout(stage, "on_daily")
    lease = Settings(stage="test").daily_run_lease_seconds   # the deployed default
    visibility = spec("daily").visibility_timeout
    assert lease > timeout                 # the holder is still inside its invocation
    assert visibility >= 6 * timeout       # AWS's advice for SQS-triggered functions
    assert visibility > lease              # a message back after a crash finds the claim free
