"""`python -m chalicelib.local` (what `make run` calls): the whole stack, a demo shop, Ctrl-C stops."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRUE = ("1", "true", "yes", "on")


SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first Ctrl-C (or SIGTERM), read by the main thread. A plain flag: a handler
    that took a lock (``threading.Event.set``) could deadlock, as the handler runs on the main
    thread, which may hold that same lock inside ``Event.wait``."""

    def __init__(self) -> None:
        self.requested = False


def stop_on_signals() -> StopRequest:
    """The first Ctrl-C (or SIGTERM) asks for a clean stop; the second one stops at once, as a
    developer pressing it twice expects."""
    stop = StopRequest()

    def first(*_: object) -> None:
        stop.requested = True
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)

    for sig in SIGNALS:
        signal.signal(sig, first)
    return stop


def wait_for_stop(stop: StopRequest, tick: float = 0.5) -> None:
    """Wait in short ticks, never one unbounded wait. Linux hands a process's signal to any of
    its threads; Python then runs the handler only when the main thread next runs bytecode. A
    main thread blocked in one unbounded wait would never run it, and Ctrl-C would hang the
    stack (tests/e2e/test_foundation.py sends SIGINT to another of its threads)."""
    while not stop.requested:
        time.sleep(tick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seller CRM local stack")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CRM_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("CRM_MOTO_PORT", "0")))
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo shop")
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("CRM_LOCAL_STATE", ROOT / ".local-state")),
                        help="where what you did is kept between runs (CRM_LOCAL_STATE)")
    parser.add_argument("--fresh", action="store_true",
                        default=os.environ.get("CRM_LOCAL_FRESH", "").lower() in TRUE,
                        help="discard the saved state and start clean (CRM_LOCAL_FRESH=1)")
    parser.add_argument("--no-state", action="store_true",
                        help="neither restore nor save (the e2e tests and benchmarks)")
    args = parser.parse_args(argv)
    state_dir = None if args.no_state else args.state_dir.resolve()

    from chalicelib.local.stack import start

    stack = start(args.port, args.moto_port or None, state_dir=state_dir, fresh=args.fresh)
    print(f"moto server   {stack.moto_url}", flush=True)
    print(f"API           {stack.api_url}", flush=True)
    print(f"console       {stack.api_url}/console  (\"Open the demo shop\")", flush=True)
    restored = stack.restored or {}
    if state_dir is not None:
        print(f"state         {state_dir} " + (
            f"(restored the save of {restored['saved_at']}; FRESH=1 starts clean)" if restored
            else "(nothing saved yet: starting clean)"), flush=True)
    # The demo shop is in a save made by a run that loaded it: loaded once, never again.
    demo_loaded = bool(restored.get("demo_loaded"))
    if demo_loaded:
        print("demo shop     seller 'demo': restored with the rest", flush=True)
    elif not args.no_demo:
        from chalicelib.local.demo import load

        summary = load()
        demo_loaded = True
        print(f"demo shop     seller 'demo': {summary}", flush=True)
    from datetime import UTC, datetime

    from chalicelib.api.auth import mint_demo_token

    # Before READY: a Ctrl-C the moment READY shows must stop cleanly, not interrupt the banner.
    stop = stop_on_signals()
    token = mint_demo_token()
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"\nDev token (seller demo, role owner, 30 days):\n  export TOKEN={token}\n")
    print("Try:")
    print(f"  curl -s {stack.api_url}/health")
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" "{stack.api_url}/v1/customers?limit=3"')
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" {stack.api_url}/v1/customers/demo-c0001')
    print(f'  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
          f'{stack.api_url}/v1/events -d \'{{"events":[{{"event_id":"try-1","type":"followed",'
          f'"customer_id":"demo-c0001","occurred_at":"{today}"}}]}}\'')
    print("\nREADY (Ctrl-C stops everything)", flush=True)
    wait_for_stop(stop)
    print("stopping... (Ctrl-C again stops at once, without saving)", flush=True)
    busy = stack.quiesce()
    if state_dir is not None:
        if busy:
            print(f"still running at the deadline (saved as it stood): {busy}", flush=True)
        from chalicelib.local import state

        saved = state.save(state_dir, {"demo_loaded": demo_loaded})
        print(f"state saved   {saved}", flush=True)
    stack.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
