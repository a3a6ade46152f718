"""What the local stack keeps between runs (docs/local-stack.md, "Between runs").

On a clean stop the stack writes moto's contents to a state directory; on the next start it
puts them back before the API and the pollers run:

- every DynamoDB table's items (typed, as the wire carries them), one JSON line each;
- every S3 bucket's objects (the snapshot bucket, and any other the stack declares);
- every EventBridge Scheduler schedule still pending, with its group;
- every SQS queue's messages not yet deleted (in flight or delayed included; a delayed one
  keeps what is left of its delay), DLQs included.

Order: the schedules, then the queues, then the tables and buckets (``save``), so a
handler still finishing when the quiesce deadline passed can only make the save redeliver.

Layout: ``<dir>/current`` is a symlink to the last complete ``saved-<stamp>/``. A save writes
``saving-<pid>-<stamp>/`` first, renames it to ``saved-<stamp>/``, then swaps the symlink
with one ``rename`` (atomic): a process killed at any point leaves ``current`` naming the
previous complete save (or nothing), and the next start deletes the leftovers.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.logs import get_logger, log
from chalicelib.store.aws import client

logger = get_logger("local.state")
FORMAT = 2   # 2: a real one-key map whose key is a tag is escaped as "$map" (``_encode``)
READABLE = (1, 2)
CURRENT = "current"
META = "meta.json"   # written last inside a save: a save without it is no save


# ----- the directory ---------------------------------------------------------------------

def saved(root: Path) -> Path | None:
    """The last complete save under ``root``, or None."""
    link = root / CURRENT
    if not link.is_symlink() and not link.is_dir():
        return None
    target = link.resolve()
    return target if (target / META).is_file() else None


def discard(root: Path) -> None:
    """Forget every save under ``root`` (``make run FRESH=1``)."""
    link = root / CURRENT
    if link.is_symlink():
        link.unlink()
    for path in root.glob("sav*-*"):
        shutil.rmtree(path, ignore_errors=True)


def tidy(root: Path) -> None:
    """Delete what a killed save left behind: every save but the current one."""
    keep = saved(root)
    for path in root.glob("sav*-*"):
        if path.is_dir() and path.resolve() != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".current-*"):
        path.unlink(missing_ok=True)


def save(root: Path, info: dict[str, Any]) -> Path:
    """Write moto's contents as the new current save; returns its directory."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    work = root / f"saving-{os.getpid()}-{stamp}"
    work.mkdir()
    started = time.monotonic()
    # Schedules, then queues, then tables: past the quiesce deadline a handler may still be
    # finishing. A schedule firing between the first two dumps is saved as both the schedule
    # and its message, a message deleted after the queue dump as both the message and its
    # effects: the worst case is a redelivery, which every handler takes (idempotent). The
    # other order could save neither a message nor what it did.
    counts = {"schedules": _dump_schedules(work / "scheduler.json"),
              "messages": _dump_queues(work / "sqs.json"),
              "items": _dump_tables(work / "dynamodb"), "objects": _dump_buckets(work / "s3")}
    _write(work / META, json.dumps({"format": FORMAT, "saved_at": stamp, **info,
                                    "counts": counts}, indent=1))
    final = root / f"saved-{stamp}"
    os.rename(work, final)
    link = root / f".current-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(final.name, link)
    os.replace(link, root / CURRENT)
    tidy(root)
    log(logger, "local state saved", path=str(final), seconds=round(time.monotonic() - started, 2),
        **counts)
    return final


def restore(root: Path) -> dict[str, Any] | None:
    """Put the current save back into moto (its tables, queues and the scheduler group already
    created); returns the save's meta, or None when there is none."""
    tidy(root)
    found = saved(root)
    if found is None:
        return None
    info = json.loads((found / META).read_text())
    if info.get("format") not in READABLE:
        raise RuntimeError(f"{found}: saved by another version of the local stack "
                           "(start with FRESH=1 to discard it)")
    loads = _loads if info["format"] == FORMAT else _loads_v1
    started = time.monotonic()
    _restore_tables(found / "dynamodb", loads)
    _restore_buckets(found / "s3")
    _restore_schedules(found / "scheduler.json", loads)
    _restore_queues(found / "sqs.json", loads)
    log(logger, "local state restored", path=str(found),
        seconds=round(time.monotonic() - started, 2), **info.get("counts", {}))
    return info


def _write(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# Binary and datetime values travel as {"$b64": "..."} and {"$dt": "..."} in the JSON files.
# A real map of one key that is one of the tags (a DynamoDB M attribute named "$b64", say;
# SQS allows no "$" in a message attribute's name) would read back as a tagged value, so it
# is written as {"$map": [[key, value]]}: its key then sits in a list, where no tag is
# looked for.
TAGS = ("$b64", "$dt", "$map")


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in TAGS:
            return {"$map": [[k, _encode(v)] for k, v in value.items()]}
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        (key, value), = obj.items()
        if key == "$b64":
            return base64.b64decode(value)
        if key == "$dt":
            return datetime.fromisoformat(value)
        if key == "$map":
            return dict(value)
    return obj


def _hook_v1(obj: dict) -> Any:
    """Format 1's tags (no "$map"; its one-key maps named "$b64" or "$dt" were ambiguous)."""
    return obj if len(obj) == 1 and "$map" in obj else _hook(obj)


def _dumps(value: Any) -> str:
    return json.dumps(_encode(value), separators=(",", ":"))


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_hook)


def _loads_v1(text: str) -> Any:
    return json.loads(text, object_hook=_hook_v1)


# ----- DynamoDB --------------------------------------------------------------------------
# Read from and written to moto's backend in this process: scanning the demo shop's ~6,000
# items over HTTP took 18-31 s and batch-writing them back 12 s on this machine, against
# about a second here (docs/local-stack.md, "Between runs"). The items are moto's own wire
# form, and put back through its put_item, so indexes and the stream see them as writes.

def _moto_dynamodb() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.local.moto_env import MOTO_REGION

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][MOTO_REGION]


def _dump_tables(into: Path) -> int:
    from chalicelib.local.moto_fixes import _lock

    into.mkdir()
    total = 0
    for name, table in list(_moto_dynamodb().tables.items()):
        with _lock:   # the item writes' lock: no write lands mid-copy
            items = list(table.all_items())
        lines = [_dumps(item.to_json()["Attributes"]) for item in items]
        _write(into / f"{name}.jsonl", "\n".join(lines))
        total += len(lines)
    return total


def _restore_tables(path: Path, loads: Callable[[str], Any] = _loads) -> None:
    backend = _moto_dynamodb()
    for file in sorted(path.glob("*.jsonl")):
        if file.stem not in backend.tables:
            log(logger, "saved table no longer declared; skipped", table=file.stem)
            continue
        for line in file.read_text().splitlines():
            if line:
                backend.put_item(file.stem, loads(line))


# ----- S3 --------------------------------------------------------------------------------
# Every bucket moto holds (the snapshot bucket, and any other a store module creates), over
# the API, a few objects at a time.

def _dump_buckets(into: Path) -> int:
    s3 = client("s3")
    total = 0
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        folder = into / name
        folder.mkdir(parents=True)
        keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name)
                for obj in page.get("Contents", [])]
        with ThreadPoolExecutor(4) as pool:
            index = list(pool.map(_fetch, [name] * len(keys), keys,
                                  [folder / str(n) for n in range(len(keys))]))
        _write(folder / "index.json", json.dumps(index))
        total += len(index)
    return total


def _restore_buckets(path: Path) -> None:
    s3 = client("s3")
    if not path.is_dir():
        return
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        if folder.name not in have:
            s3.create_bucket(Bucket=folder.name)
        index = json.loads((folder / "index.json").read_text())
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(_put, [folder.name] * len(index), index,
                          [folder / str(n) for n in range(len(index))]))


def _fetch(bucket: str, key: str, path: Path) -> dict[str, Any]:
    got = client("s3").get_object(Bucket=bucket, Key=key)
    _write(path, got["Body"].read())
    return {"key": key, "content_type": got.get("ContentType"),
            "metadata": got.get("Metadata") or {}}


def _put(bucket: str, obj: dict[str, Any], path: Path) -> None:
    extra = {"ContentType": obj["content_type"]} if obj.get("content_type") else {}
    client("s3").put_object(Bucket=bucket, Key=obj["key"], Body=path.read_bytes(),
                            Metadata=obj.get("metadata") or {}, **extra)


# ----- EventBridge Scheduler ---------------------------------------------------------------

SCHEDULE_FIELDS = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone",
                   "FlexibleTimeWindow", "Target", "State", "ActionAfterCompletion",
                   "Description", "StartDate", "EndDate", "KmsKeyArn")


def _dump_schedules(path: Path) -> int:
    scheduler = client("scheduler")
    groups = [g["Name"] for page in scheduler.get_paginator("list_schedule_groups").paginate()
              for g in page.get("ScheduleGroups", [])]
    schedules = []
    for group in groups:
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
            for listed in page.get("Schedules", []):
                try:
                    got = scheduler.get_schedule(Name=listed["Name"], GroupName=group)
                except scheduler.exceptions.ResourceNotFoundException:
                    continue   # fired meanwhile
                schedules.append({k: got[k] for k in SCHEDULE_FIELDS if got.get(k) is not None})
    _write(path, _dumps({"groups": groups, "schedules": schedules}))
    return len(schedules)


def _restore_schedules(path: Path, loads: Callable[[str], Any] = _loads) -> None:
    scheduler = client("scheduler")
    saved_ = loads(path.read_text())
    for group in saved_["groups"]:
        try:
            scheduler.create_schedule_group(Name=group)
        except scheduler.exceptions.ConflictException:
            pass
    for schedule in saved_["schedules"]:
        try:
            scheduler.create_schedule(**schedule)
        except scheduler.exceptions.ConflictException:
            pass


# ----- SQS -------------------------------------------------------------------------------

def _moto_queues() -> dict[str, Any]:
    """moto's queues in this process (the server runs here): the API cannot list a message
    in flight or still delayed, and both must survive a restart."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    from chalicelib.local.moto_env import MOTO_REGION

    return sqs_backends[DEFAULT_ACCOUNT_ID][MOTO_REGION].queues


def _dump_queues(path: Path) -> int:
    now_ms = time.time() * 1000
    queues = {name: [{"body": m.body, "attributes": m.message_attributes,
                      "delay": max(0, min(900, round((m.delayed_until - now_ms) / 1000)))}
                     for m in list(queue._messages)]
              for name, queue in _moto_queues().items()}
    _write(path, _dumps(queues))
    return sum(len(m) for m in queues.values())


SEND_TRIES = 5


def _restore_queues(path: Path, loads: Callable[[str], Any] = _loads) -> None:
    sqs = client("sqs")
    for name, messages in loads(path.read_text()).items():
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            log(logger, "saved queue no longer declared; skipped", queue=name,
                messages=len(messages))
            continue
        for start in range(0, len(messages), 10):
            _send_back(sqs, name, url, {
                str(i): {"Id": str(i), "MessageBody": m["body"], "DelaySeconds": m["delay"],
                         **({"MessageAttributes": m["attributes"]} if m["attributes"] else {})}
                for i, m in enumerate(messages[start:start + 10])})


def _send_back(sqs: Any, name: str, url: str, entries: dict[str, dict[str, Any]]) -> None:
    """Send one batch, again and again for the entries SQS reports failed; a message that
    still fails after SEND_TRIES raises: a restore must not lose one quietly."""
    for attempt in range(SEND_TRIES):
        if attempt:
            time.sleep(0.05 * 2 ** attempt)
        failed = sqs.send_message_batch(QueueUrl=url, Entries=list(entries.values())).get(
            "Failed", [])
        if not failed:
            return
        entries = {f["Id"]: entries[f["Id"]] for f in failed}
    reasons = sorted({f"{f.get('Code')}: {f.get('Message')}" for f in failed})
    raise RuntimeError(f"queue {name}: {len(entries)} saved message(s) could not be put back "
                       f"after {SEND_TRIES} tries ({'; '.join(reasons)}); the save is kept, "
                       "start again (or with FRESH=1 to discard it)")
