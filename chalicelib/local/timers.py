"""The local stack's stand-in for the ``sweep_due_messages`` schedule (every minute on AWS):
a thread that sweeps the automated plans' due index every two seconds, so a due message goes
out well within 60 s of its due time (docs/automated-plans.md)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from chalicelib.logs import get_logger

logger = get_logger("local.timers")
# An idle sweep is one Query per due shard (four), so a short interval costs little; a busy
# one keeps taking pages until its budget is spent.
INTERVAL_SECONDS = 2.0


class DueSweeper(threading.Thread):
    def __init__(self, stop: threading.Event, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="due-sweeper", daemon=True)
        self.stop, self.interval = stop, interval

    def run(self) -> None:
        from chalicelib.delivery import timers

        while not self.stop.wait(self.interval):
            try:
                timers.sweep(datetime.now(UTC))
            except Exception:
                logger.exception("due sweep failed")
