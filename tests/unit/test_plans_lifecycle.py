"""The plan lifecycle (SPEC.md §4), pinned for every (kind, status, action) triple."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.plans import ACTIONS, STATUSES, TARGET, check_action

# Written out by hand from SPEC.md, independently of the table in the code.
ALLOWED = {
    "one_off": {("draft", "edit"), ("draft", "delete"), ("draft", "send"), ("draft", "test_send"),
                ("scheduled", "cancel"), ("scheduled", "test_send"),
                ("in_progress", "cancel"), ("in_progress", "test_send"),
                ("cancelled", "delete")},
    "order_notice": {("draft", "edit"), ("draft", "send"), ("draft", "test_send"),
                     ("scheduled", "cancel"), ("scheduled", "test_send"),
                     ("in_progress", "cancel"), ("in_progress", "test_send")},
    "automated": {("draft", "edit"), ("draft", "send"), ("draft", "test_send"),
                  ("active", "pause"), ("active", "cancel"), ("active", "test_send"),
                  ("paused", "resume"), ("paused", "cancel"), ("paused", "test_send")},
}
CASES = [(kind, status, action, (status, action) in ALLOWED[kind])
         for kind in ALLOWED for status, action in itertools.product(STATUSES, ACTIONS)]


@pytest.mark.parametrize("kind, status, action, allowed", CASES,
                         ids=[f"{k}-{s}-{a}" for k, s, a, _ in CASES])
def test_lifecycle_allows_exactly_the_spec_moves(kind, status, action, allowed):
    if allowed:
        check_action(kind, status, action)
    else:
        with pytest.raises(Conflict) as caught:
            check_action(kind, status, action)
        assert status in caught.value.message


@pytest.mark.parametrize("status", ["sent", "ended"])
def test_sent_and_ended_plans_allow_nothing(status):
    for kind, action in itertools.product(ALLOWED, ACTIONS):
        with pytest.raises(Conflict):
            check_action(kind, status, action)


def test_pause_and_resume_are_for_automated_plans_only():
    for action in ("pause", "resume"):
        for status in STATUSES:
            with pytest.raises(Conflict):
                check_action("one_off", status, action)


def test_moves_lead_to_their_statuses():
    assert TARGET == {"cancel": "cancelled", "pause": "paused", "resume": "active"}
