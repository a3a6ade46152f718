"""`python -m chalicelib.local` (what `make run` calls): the whole stack, a demo shop, Ctrl-C stops."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seller CRM local stack")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CRM_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("CRM_MOTO_PORT", "0")))
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo shop")
    args = parser.parse_args(argv)

    from chalicelib.local.stack import start

    stack = start(args.port, args.moto_port or None)
    print(f"moto server   {stack.moto_url}", flush=True)
    print(f"API           {stack.api_url}", flush=True)
    print(f"console       {stack.api_url}/console  (\"Open the demo shop\")", flush=True)
    if not args.no_demo:
        from chalicelib.local.demo import load

        summary = load()
        print(f"demo shop     seller 'demo': {summary}", flush=True)
    from datetime import UTC, datetime

    from chalicelib.api.auth import mint_demo_token

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

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    print("stopping...", flush=True)
    stack.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
