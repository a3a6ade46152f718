"""The send rate's bucket arithmetic (domain/pacing.py): no 60 seconds ever hold more than
the rate, whatever order and timing the reservations come in."""

from __future__ import annotations

import random

import pytest

from chalicelib.domain.pacing import reserve, room, sent_within_limit

T0 = 1_800_000_000


@pytest.mark.parametrize("rate, wants, granted, retry", [
    (5, [3, 3], [3, 2], [None, T0 + 62]),     # the 6th waits until the first second leaves
    (5, [5, 1], [5, 0], [None, T0 + 62]),
    (1, [1, 1], [1, 0], [None, T0 + 62]),
    (100, [30, 30, 30, 30], [30, 30, 30, 10], [None, None, None, T0 + 62]),
    (100_000, [25] * 4, [25] * 4, [None] * 4),
])
def test_a_second_takes_what_the_62_buckets_around_it_leave(rate, wants, granted, retry):
    buckets: dict[int, int] = {}
    got = []
    for want in wants:
        grant, buckets = reserve(buckets, want, rate, T0)
        got.append((grant.granted, grant.retry_at_s))
    assert got == list(zip(granted, retry, strict=True))


def test_room_counts_buckets_ahead_of_now_too():
    # another worker whose clock runs 2 s ahead already took the whole rate at T0+2
    assert room({T0 + 2: 10}, T0, 10) == 0
    assert room({T0 + 62: 10}, T0, 10) == 10        # 62 buckets apart: never in one span
    assert room({T0 - 62: 10}, T0, 10) == 10
    assert room({T0 - 61: 10}, T0, 10) == 0


def test_old_buckets_are_pruned():
    _, kept = reserve({T0 - 500: 3, T0 - 10: 2}, 1, 10, T0)
    assert kept == {T0 - 10: 2, T0: 1}


@pytest.mark.parametrize("times, rate, ok", [
    ([0, 59_999], 1, False), ([0, 60_000], 1, True), ([0, 1, 2], 3, True),
    ([0, 1, 2, 59_999], 3, False), ([0, 30_000, 60_000, 90_000], 2, True),
])
def test_the_rule_is_any_60_seconds(times, rate, ok):
    assert sent_within_limit(times, rate) is ok


@pytest.mark.parametrize("seed", range(5))
def test_random_workers_sending_anywhere_in_their_second_never_exceed_the_rate(seed):
    rng = random.Random(seed)
    rate, buckets, sends = rng.choice([7, 60, 300]), {}, []
    now_ms = T0 * 1000
    for _ in range(1500):
        now_ms += rng.choice([0, 1, 5, 200, 999, 3000])
        skew = rng.choice([0, 0, 0, 499, -499])         # a worker whose clock is off by < 0.5 s
        grant, buckets = reserve(buckets, rng.randint(1, 25), rate, (now_ms + skew) // 1000)
        # each granted message goes out at some moment inside the granted second
        sends += [grant.second * 1000 - skew + rng.randint(0, 999) for _ in range(grant.granted)]
    assert len(sends) > rate
    assert sent_within_limit(sends, rate)
