"""E2E: start the real local stack (`python -m chalicelib.local`) on free ports and drive it
over HTTP as the front end would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack():
    import tempfile

    from chalicelib.local.spawn import spawn

    log = tempfile.NamedTemporaryFile("w", prefix="e2e-stack-", suffix=".log", delete=False)
    started = spawn(stderr=log)
    yield {"base": started.base, "banner": started.banner, "proc": started.proc,
           "moto": started.moto_url}
    started.stop(timeout=20)
    log.close()


class Http:
    def __init__(self, base: str, seller_id: str, role: str = "owner") -> None:
        self.base, self.seller_id, self.role = base, seller_id, role

    def as_role(self, role: str) -> Http:
        return Http(self.base, self.seller_id, role)

    def headers(self, extra=None) -> dict:
        from chalicelib.api.auth import mint_token

        return {"Authorization": f"Bearer {mint_token(self.seller_id, self.role)}", **(extra or {})}

    def call(self, method, path, json=None, headers=None, data=None):
        return requests.request(method, self.base + path, json=json, data=data,
                                headers=self.headers(headers), timeout=60)

    def wait_for(self, predicate, timeout: float = 120.0, interval: float = 0.3):
        """Poll until predicate() is truthy (for what runs behind queues). The default deadline
        is generous: on a loaded 2-core CI machine the stack's pollers and sweeps lag."""
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value or time.time() > deadline:
                return value
            time.sleep(interval)


@pytest.fixture
def http(stack):
    import uuid

    return Http(stack["base"], f"e2e-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def demo(stack):
    return Http(stack["base"], "demo")
