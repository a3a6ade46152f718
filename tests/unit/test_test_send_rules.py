"""Test-send rules, pure: who may get one, and how long a refused sender waits."""

from __future__ import annotations

import pytest

from chalicelib.domain import plans as rules


@pytest.mark.parametrize("blocked, unsubscribed, reason", [
    (False, False, None), (True, False, "blocked"), (False, True, "unsubscribed"),
    (True, True, "blocked"),
])
def test_only_a_customer_who_kept_consent_may_get_a_test_send(blocked, unsubscribed, reason):
    assert rules.consent_refusal(blocked, unsubscribed) == reason


@pytest.mark.parametrize("reason", ["blocked", "unsubscribed"])
def test_a_refused_test_send_is_a_409_naming_the_reason(reason):
    error = rules.refused_test_send("c1", reason)
    assert (error.status, error.code) == (409, "conflict")
    assert error.details == [{"path": "customer_id", "message": reason}]


@pytest.mark.parametrize("wait_ms, seconds", [
    (0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (1_800_000, 1800), (3_600_000, 3600),
])
def test_retry_after_rounds_up_to_whole_seconds_and_is_at_least_one(wait_ms, seconds):
    assert rules.retry_after_seconds(wait_ms) == seconds


def test_the_limit_is_ten_per_rolling_hour():
    assert (rules.TEST_SENDS_PER_HOUR, rules.TEST_SEND_WINDOW_MS) == (10, 3_600_000)
