"""For benchmarks: a moto server in this process, with every table and queue created.

Call ``start()`` before importing anything that reads settings."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable


def start() -> str:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto as the local stack runs it (chalicelib/local/moto_fixes.py): item writes under one
    # lock, transactions without a copy of the backend per action, LSI Queries over their
    # own item collection, bounded streams.
    from chalicelib.local.moto_fixes import install_all

    install_all()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    url = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", CRM_STAGE="bench")
    from chalicelib.settings import settings

    settings.cache_clear()
    from chalicelib.local.scheduler import create_group
    from chalicelib.store import queues, tables

    tables.create_all()
    queues.create_all(local_visibility=30)
    create_group()
    return url


class RequestCounter:
    """Counts AWS requests by service and operation through botocore's event hooks, for both
    boto3 clients and PynamoDB's connection (which also uses botocore)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def hook(self, model=None, **_: object) -> None:
        self.counts[f"{model.service_model.service_name}.{model.name}"] += 1

    def attach_everywhere(self) -> None:
        import botocore.session

        from chalicelib.store import aws

        original = botocore.session.Session.create_client
        counter = self

        def create_client(session, *args, **kwargs):
            made = original(session, *args, **kwargs)
            made.meta.events.register("before-call", counter.hook)
            return made

        botocore.session.Session.create_client = create_client
        aws._clients.clear()

    def total(self) -> int:
        return sum(self.counts.values())


def process_ratio(cmd_a: list[str], cmd_b: list[str], runs: int = 9,
                  env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Median wall time of two whole-process commands, run alternately; returns (a, b, a/b median
    of the pairwise ratios)."""
    a_times, b_times, ratios = [], [], []
    full_env = {**os.environ, **(env or {})}
    subprocess.run(cmd_a, capture_output=True, env=full_env)
    subprocess.run(cmd_b, capture_output=True, env=full_env)
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd_a, capture_output=True, check=True, env=full_env)
        t1 = time.perf_counter()
        subprocess.run(cmd_b, capture_output=True, check=True, env=full_env)
        t2 = time.perf_counter()
        a_times.append(t1 - t0)
        b_times.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    return statistics.median(a_times), statistics.median(b_times), statistics.median(ratios)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


PY = sys.executable
