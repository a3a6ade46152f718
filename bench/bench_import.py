"""Import throughput on the local stack (`python -m chalicelib.local` in a subprocess, driven
over HTTP like the front end): rows per second for 5,000 messy rows into an empty shop, the
same file again (matches everything, writes nothing), and 5,000 rows that tag existing
customers; each set against the bare minimum of one PutItem per written customer on the
same moto server."""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = 5000


def messy_csv(rows: int, seed: int = 11) -> tuple[str, int]:
    """A seller's export: numbers in many shapes (80%), invalid ones (10%), repeats (10%).
    Returns (text, distinct valid numbers)."""
    rng = random.Random(seed)
    lines, seen = [], []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.1 and seen:
            lines.append(f'"{rng.choice(seen)}",vip')
        elif roll < 0.2:
            lines.append(rng.choice(["abc", "12", "+99912345", "", "0"]) + ",vip")
        else:
            n = f"81{i:07d}"
            shape = rng.choice([f"+66{n}", f"0{n}", f"+66 {n[:2]}-{n[2:5]}-{n[5:]}",
                                f"(0{n[:2]}) {n[2:5]} {n[5:]}"])
            seen.append(f"+66{n}")
            lines.append(f'"{shape}","vip,ghost",Customer {i}')
    return "phone,tags,name\n" + "\n".join(lines) + "\n", len(seen)


def start_stack() -> tuple[subprocess.Popen, str, str]:
    from chalicelib.local.spawn import spawn

    started = spawn("--no-demo", stage="bench")
    return started.proc, started.base, started.moto_url


class Shop:
    def __init__(self, base: str) -> None:
        from chalicelib.api.auth import mint_token

        self.base, self.seller = base, f"bench-{uuid.uuid4().hex[:6]}"
        self.auth = {"Authorization": f"Bearer {mint_token(self.seller, 'owner')}"}

    def call(self, method: str, path: str, **kw):
        import requests

        r = requests.request(method, self.base + path, headers={**self.auth, **kw.pop(
            "headers", {})}, timeout=600, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def upload(self, text: str) -> tuple[dict, float]:
        t0 = time.perf_counter()
        report = self.call("POST", "/v1/imports?default_region=TH", data=text.encode(),
                           headers={"Content-Type": "text/csv"})
        return report, time.perf_counter() - t0


def bare_puts(moto_url: str, count: int) -> float:
    """Seconds for ``count`` conditional PutItems of a small customer item (8 threads, like
    the importer's writers) straight to the stack's moto server."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    table = "crm-bench-customers"

    def put(i: int) -> None:
        ddb.put_item(TableName=table, Item={
            "pk": {"S": f"bare#{i % 8}"}, "customer_id": {"S": f"phone:+6690{i:07d}"},
            "seller_id": {"S": "bare"}, "phone": {"S": f"+6690{i:07d}"},
            "tags": {"SS": ["t1"]}, "version": {"N": "1"}},
            ConditionExpression="attribute_not_exists(version)")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(count)))
    return time.perf_counter() - t0


def main() -> None:
    proc, base, moto_url = start_stack()
    try:
        text, distinct = messy_csv(ROWS)
        fresh = Shop(base)
        fresh.call("POST", "/v1/tags", json={"name": "vip", "dimension": "spending_power"})
        report, first = fresh.upload(text)
        accounted = report["imported"] + report["failed"] + report["duplicates"]
        print(f"import, empty shop: {ROWS} rows ({report['imported']} imported, "
              f"{report['failed']} failed, {report['duplicates']} duplicates; accounted "
              f"{accounted}/{report['rows']}) in {first:.1f} s = {ROWS / first:.0f} rows/s")
        _, again = fresh.upload(text)
        print(f"re-import of the same file (writes nothing): {again:.1f} s = "
              f"{ROWS / again:.0f} rows/s; {again / first:.2f}x the first import")
        fresh.call("POST", "/v1/tags", json={"name": "wave2", "dimension": "custom"})
        retag = text.replace('"vip,ghost"', '"wave2"')
        report, third = fresh.upload(retag)
        print(f"import tagging existing customers: {third:.1f} s = {ROWS / third:.0f} rows/s "
              f"({report['customers_updated']} updated)")
        bare = bare_puts(moto_url, distinct)
        print(f"bare minimum on the same moto: {distinct} PutItems in {bare:.1f} s; "
              f"first import / bare = {first / bare:.2f}x")
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
