"""Operator commands:

    python -m chalicelib.ops dlq                      # every queue's DLQ depth
    python -m chalicelib.ops redrive delivery         # move delivery-dlq back to delivery
    python -m chalicelib.ops redrive delivery --limit 100
    python -m chalicelib.ops snapshot-rebuild <seller_id>   # a seller's columnar snapshot anew
    python -m chalicelib.ops snapshot-rebuild --all         # every seller that has one

Against AWS: the stage's name and your operator credentials (``CRM_STAGE=prod`` or
``--stage prod``). Against the local stack: ``--endpoint`` with the moto URL ``make run``
prints. Queue names are the short ones (events, dispatch, delivery, metrics); a DLQ's
name (``delivery-dlq``) or a full name (``crm-prod-delivery``) works too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from chalicelib.local.moto_env import point_at_moto
from chalicelib.settings import settings
from chalicelib.store import queues


def short_name(name: str, prefix: str, known: list[str]) -> str:
    """``crm-prod-delivery-dlq`` / ``delivery-dlq`` / ``delivery`` -> ``delivery``."""
    bare = name[len(prefix):] if name.startswith(prefix) else name
    bare = bare.removesuffix("-dlq")
    if bare not in known:
        raise SystemExit(f"unknown queue {name!r}: one of {', '.join(known)}")
    return bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", help="stage whose queues to use (default: $CRM_STAGE)")
    parser.add_argument("--endpoint", help="AWS endpoint (the local stack's moto URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    redrive = commands.add_parser("redrive", help="move a queue's DLQ messages back to it")
    redrive.add_argument("queue")
    redrive.add_argument("--limit", type=int, help="move at most this many")
    commands.add_parser("dlq", help="every DLQ's depth")
    rebuild = commands.add_parser("snapshot-rebuild",
                                  help="rebuild a seller's columnar snapshot from the table")
    rebuild.add_argument("seller_id", nargs="?")
    rebuild.add_argument("--all", action="store_true", help="every seller that has a snapshot")
    args = parser.parse_args(argv)
    if args.stage or args.endpoint:
        # Before anything reads settings (table and queue names come from the stage).
        if args.stage:
            os.environ["CRM_STAGE"] = args.stage
        if args.endpoint:
            point_at_moto(args.endpoint)
        settings.cache_clear()
    known = [q.name for q in queues.QUEUES]
    if args.command == "snapshot-rebuild":
        from chalicelib import snapshots

        if bool(args.all) == bool(args.seller_id):
            parser.error("snapshot-rebuild takes a seller id or --all")
        out = ({"rebuilt": snapshots.rebuild_all()} if args.all
               else snapshots.rebuild(args.seller_id))
    elif args.command == "dlq":
        out = {q: queues.depth(q + "-dlq") for q in known}
    else:
        short = short_name(args.queue, settings().prefix, known)
        out = {"queue": short, **queues.redrive(short, limit=args.limit)}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    # An operator's command serves nothing: like packaging, it needs the stage's names, not
    # the deployed functions' secrets and ARNs (settings checks those only when serving).
    os.environ.setdefault("CRM_PACKAGING", "1")
    sys.exit(main())
