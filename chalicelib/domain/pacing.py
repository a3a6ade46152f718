"""The shop's send rate (API.md "Send rate"): at most ``rate`` messages in any 60 seconds,
all plans and channels together. Pure: the bucket arithmetic of the reservation kept in
store/pacing.py (docs/plans-and-delivery.md "Send rate").

Time is cut into one-second buckets. A message may only be handed to the channel inside
the second whose bucket it was counted in (the worker checks before each call and reserves
again if it missed it). Any 60-second span [a, a + 60 s) touches at most 61 consecutive
buckets, and 62 when each worker's clock may be off by up to half a second (Lambda's are
NTP-synchronised to milliseconds); so keeping every 62
consecutive buckets at or under ``rate`` keeps every 60 seconds at or under ``rate``: exact,
whatever the workers' number or timing. A reservation counts messages before they are
sent, so a crash between the two only wastes capacity, never exceeds it. The price is
throughput: a full-speed shop sends ``rate`` per 62 s, 3% under the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

SPAN = 62                   # buckets one 60-second span can touch (61, +1 for clocks ±0.5 s)
KEEP_S = 2 * SPAN           # buckets kept behind now (older ones cannot matter any more)
MIN_RATE, MAX_RATE = 1, 100_000


@dataclass(frozen=True)
class Grant:
    granted: int            # messages that may go out within ``second`` (0: none)
    second: int             # the bucket (epoch seconds) they are counted in
    retry_at_s: int | None  # when none (or not all) were granted: the next second with room

    def current(self, now_ms: int) -> bool:
        """Whether a channel call starting at ``now_ms`` is still inside the bucket."""
        return self.second * 1000 <= now_ms < (self.second + 1) * 1000


def room(buckets: dict[int, int], second: int, rate: int) -> int:
    """How many more messages bucket ``second`` can take: the least room over every span of
    ``SPAN`` buckets that contains it (later buckets count too: another worker's clock may
    run a little ahead)."""
    counts = [buckets.get(s, 0) for s in range(second - SPAN + 1, second + SPAN)]
    total = worst = sum(counts[:SPAN])
    for k in range(1, SPAN):               # slide the span one bucket at a time
        total += counts[k + SPAN - 1] - counts[k - 1]
        worst = max(worst, total)
    return max(0, rate - worst)


def reserve(buckets: dict[int, int], want: int, rate: int, now_s: int
            ) -> tuple[Grant, dict[int, int]]:
    """Take up to ``want`` messages in the current second: (the grant, the buckets to
    store, pruned). When the current second has no room for all, ``retry_at_s`` is the
    first later second with room for at least one."""
    if want < 1 or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError("want >= 1 and a rate of 1–100,000")
    kept = {s: n for s, n in buckets.items() if s >= now_s - KEEP_S and n > 0}
    granted = min(want, room(kept, now_s, rate))
    if granted:
        kept[now_s] = kept.get(now_s, 0) + granted
    retry = _first_room(kept, now_s + 1, rate) if granted < want else None
    return Grant(granted, now_s, retry), kept


def _first_room(buckets: dict[int, int], first: int, rate: int) -> int:
    """The first second from ``first`` on with room for one more message (at the latest,
    ``SPAN`` seconds after the last bucket anything was counted in)."""
    last = max(buckets, default=first)
    lo, hi = first - SPAN + 1, max(first, last) + SPAN
    prefix = [0]
    for s in range(lo, hi + SPAN):
        prefix.append(prefix[-1] + buckets.get(s, 0))
    spans = [prefix[k + SPAN] - prefix[k] for k in range(hi - lo + 1)]   # span starting lo+k
    for s in range(first, hi + 1):
        k = s - lo
        if max(spans[max(0, k - SPAN + 1):k + 1]) < rate:
            return s
    return hi + 1


def sent_within_limit(times_ms: list[int], rate: int, window_ms: int = 60_000) -> bool:
    """The rule itself, for tests and checks: no ``window_ms`` span [a, a + window) holds
    more than ``rate`` of the given send times."""
    times = sorted(times_ms)
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window_ms:
            start += 1
        if end - start + 1 > rate:
            return False
    return True
