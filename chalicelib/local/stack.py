"""Starts the whole local stack in one process and stops it on Ctrl-C.

The moto server must be up, and AWS_ENDPOINT_URL set, before anything reads settings,
so this module imports the application only inside ``start``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stack:
    api_url: str
    moto_url: str
    stop: threading.Event
    threads: list[threading.Thread] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    # The meta of the save it started from (chalicelib/local/state.py), None when it had none.
    restored: dict[str, Any] | None = None
    api_server: Any = None

    def quiesce(self, timeout: float = 30.0) -> list[str]:
        """Stop taking requests and let every poller and timer finish what it is doing (a
        handler mid-batch completes; none starts another), moto still up, so what is in it
        can be saved. Returns the names of the threads still running at the deadline."""
        self.stop.set()
        if self.api_server is not None:
            self.api_server.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]

    def shutdown(self) -> None:
        self.stop.set()
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # stopping: best effort, keep closing the rest
                pass


def start(port: int, moto_port: int | None = None, host: str = "127.0.0.1",
          state_dir: Path | None = None, fresh: bool = False) -> Stack:
    """``state_dir``: restore the save kept there (chalicelib/local/state.py) after the tables,
    queues and scheduler group exist and before the API and the pollers start; ``fresh``
    discards it first."""
    import logging
    import warnings

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # moto's per-request lines
    warnings.filterwarnings("ignore", message=".*HMAC key.*")  # the short local dev secret

    from chalicelib.local.moto_fixes import install_all

    install_all()
    # Port 0: the kernel picks a free port as the server binds it, and no other process can
    # take it between a pick and a bind (spawn reads the bound ports from the banner).
    moto = ThreadedMotoServer(ip_address=host, port=moto_port or 0, verbose=False)
    moto.start()
    moto_url = f"http://{host}:{moto.get_host_and_port()[1]}"
    from chalicelib.local.moto_env import point_at_moto

    point_at_moto(moto_url)

    from chalicelib.settings import settings

    settings.cache_clear()
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app
    from chalicelib import snapshots
    from chalicelib.local.gateway import use_contract_gateway
    from chalicelib.local.pollers import (
        Every,
        Poller,
        StreamPoller,
        dynamodb_handlers,
        sqs_handlers,
    )
    from chalicelib.local.scheduler import SchedulerEmulator, create_group
    from chalicelib.store import queues, tables

    tables.create_all()
    queues.create_all(local_visibility=30)
    create_group()
    restored = None
    if state_dir is not None:
        from chalicelib.local.state import discard, restore

        if fresh:
            discard(state_dir)
        restored = restore(state_dir)

    stop = threading.Event()
    config = Config.create(chalice_stage="local", app_name="seller-crm")
    server = create_local_server(app, config, host, port)
    server.port = server.server.server_address[1]          # the one bound, when port is 0
    stack = Stack(api_url=f"http://{host}:{server.port}", moto_url=moto_url, stop=stop,
                  restored=restored)
    stack.closers.append(moto.stop)
    use_contract_gateway(server, app, config)
    api = threading.Thread(target=server.serve_forever, name="api", daemon=True)
    api.start()
    stack.api_server = server
    stack.closers.append(server.shutdown)
    for queue_name, handler, batch_size in sqs_handlers(app):
        poller = Poller(queue_name, handler, batch_size, stop)
        poller.start()
        stack.threads.append(poller)
    for table_name, handler, batch_size in dynamodb_handlers(app):
        follower = StreamPoller(table_name, handler, batch_size, stop,
                                on_trimmed=snapshots.rebuild_all)
        follower.start()
        stack.threads.append(follower)
    ticker = Every(5.0, snapshots.tick_due, stop, "snapshot-ticks")   # app.snapshot_ticks
    ticker.start()
    stack.threads.append(ticker)
    emulator = SchedulerEmulator(stop)
    emulator.start()
    stack.threads.append(emulator)
    from chalicelib.local.timers import DueSweeper

    sweeper = DueSweeper(stop)
    sweeper.start()
    stack.threads.append(sweeper)
    return stack
