"""Follow-up to non-readers: the body's timing rules and when it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from chalicelib.domain.aggregates import to_ms
from chalicelib.domain.followups import FollowUpCreate, after_days_time, has_seen

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("sent_ago, after_days, expected", [
    (timedelta(hours=1), None, NOW - timedelta(hours=1) + timedelta(days=3)),   # default 3
    (timedelta(hours=1), 1, NOW - timedelta(hours=1) + timedelta(days=1)),
    (timedelta(days=2), 30, NOW - timedelta(days=2) + timedelta(days=30)),
    (timedelta(days=3), None, None),                      # exactly due now: now
    (timedelta(days=5), 3, None),                         # past due: now
    (timedelta(days=1) - timedelta(seconds=1), 1, NOW + timedelta(seconds=1)),
])
def test_a_follow_up_goes_after_days_after_the_originals_send_time(sent_ago, after_days,
                                                                    expected):
    assert after_days_time(to_ms(NOW - sent_ago), after_days, NOW) == expected


@pytest.mark.parametrize("body, ok, by_send_at", [
    ({}, True, False),
    ({"after_days": 1}, True, False),
    ({"after_days": 30}, True, False),
    ({"after_days": 0}, False, None),
    ({"after_days": 31}, False, None),
    ({"send_at": None}, True, True),                      # null: now
    ({"send_at": "2026-11-23T20:00:00+07:00"}, True, True),
    ({"send_at": "best"}, True, True),
    ({"after_days": 3, "send_at": None}, False, None),    # both: 400
    ({"after_days": None, "send_at": "best"}, False, None),
])
def test_follow_up_body_takes_after_days_or_send_at_not_both(body, ok, by_send_at):
    if not ok:
        with pytest.raises(ValidationError):
            FollowUpCreate.model_validate(body)
        return
    parsed = FollowUpCreate.model_validate(body)
    assert parsed.timed_by_send_at is by_send_at
    assert parsed.action == "send"


@pytest.mark.parametrize("per_plan, seen", [
    (None, False), ({}, False), ({"message_read": []}, False),
    ({"message_read": [1]}, True), ({"message_clicked": [1]}, True),
    ({"message_replied": [1]}, True), ({"unsubscribed": [1]}, False),
])
def test_a_read_click_or_reply_counts_as_read(per_plan, seen):
    assert has_seen(per_plan) is seen
