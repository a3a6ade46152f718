"""The one optimistic-locking retry: a fixed number of attempts with jittered backoff, 412
at once with If-Match, 409 (never a RuntimeError) when the attempts run out."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict, KeptChanging, PreconditionFailed
from chalicelib.store.versioning import (
    ATTEMPTS,
    BASE_DELAY_S,
    MAX_DELAY_S,
    VersionConflict,
    backoff,
    retry_on_conflict,
)


def losing(times: int):
    """An attempt that loses ``times`` writes, then succeeds; records the attempt numbers."""
    calls: list[int] = []

    def attempt(n: int) -> str:
        calls.append(n)
        if len(calls) <= times:
            raise VersionConflict("x")
        return "written"

    return attempt, calls


@pytest.mark.parametrize("losses", [0, 1, ATTEMPTS - 1])
def test_a_write_that_loses_fewer_than_the_attempts_is_reapplied_until_it_lands(losses):
    attempt, calls = losing(losses)
    slept: list[float] = []
    assert retry_on_conflict(attempt, what="x", sleep=slept.append) == "written"
    assert calls == list(range(losses + 1)) and len(slept) == losses


def test_a_write_that_loses_every_attempt_is_a_409_conflict_after_a_fixed_count():
    attempt, calls = losing(ATTEMPTS)
    slept: list[float] = []
    with pytest.raises(KeptChanging) as caught:
        retry_on_conflict(attempt, what="customer 'c1'", sleep=slept.append)
    assert isinstance(caught.value, Conflict)
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert "customer 'c1'" in caught.value.message
    assert len(calls) == ATTEMPTS and len(slept) == ATTEMPTS - 1   # no sleep after the last


def test_a_write_with_if_match_that_loses_once_is_a_412_without_retrying():
    attempt, calls = losing(1)
    slept: list[float] = []
    with pytest.raises(PreconditionFailed) as caught:
        retry_on_conflict(attempt, what="x", if_match=3, sleep=slept.append)
    assert (caught.value.status, caught.value.code) == (412, "precondition_failed")
    assert calls == [0] and slept == []


def test_other_errors_pass_through_unretried():
    calls: list[int] = []

    def attempt(n: int) -> None:
        calls.append(n)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        retry_on_conflict(attempt, what="x", sleep=lambda _: None)
    assert calls == [0]


@pytest.mark.parametrize("n", range(ATTEMPTS))
def test_backoff_is_jittered_within_a_capped_exponential_bound(n):
    delays = [backoff(n) for _ in range(200)]
    assert all(0 <= d <= min(MAX_DELAY_S, BASE_DELAY_S * 2 ** n) for d in delays)
    assert len(set(delays)) > 1                     # jittered: not one fixed wait
