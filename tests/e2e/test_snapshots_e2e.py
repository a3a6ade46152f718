"""The local stack follows moto's customers stream into the columnar snapshot, as Lambda
follows DynamoDB's on AWS (docs/segments.md, "Snapshot and read-your-writes")."""

from __future__ import annotations

import tempfile

import boto3

from chalicelib import columnar as engine


def snapshot_ages(moto: str, seller: str) -> dict[str, int]:
    """The seller's snapshot as the read path sees its files: customer -> age (the last
    file's row per customer), read straight from the stack's moto."""
    kw = {"endpoint_url": moto, "region_name": "us-east-1", "aws_access_key_id": "local",
          "aws_secret_access_key": "local"}
    got = boto3.client("dynamodb", **kw).get_item(
        TableName="crm-local-snapshots", Key={"seller_id": {"S": seller}}, ConsistentRead=True)
    if "Item" not in got:
        return {}
    import json

    item = got["Item"]
    keys = ([json.loads(item["base"]["S"])["key"]] if "S" in item.get("base", {}) else []) + [
        d["key"] for d in json.loads(item["deltas"]["S"])]
    s3 = boto3.client("s3", **kw)
    folder = tempfile.mkdtemp()
    files = []
    for n, key in enumerate(keys):
        files.append(f"{folder}/{n}.parquet")
        s3.download_file("crm-local-snapshots", key, files[-1])
    con = engine.connect(threads=1)
    parts = " UNION ALL ".join(f"SELECT {n} AS f, customer_id, age FROM {engine.source_of(p)}"
                               for n, p in enumerate(files))
    rows = con.execute(f"SELECT customer_id, age FROM ({parts}) QUALIFY row_number() OVER "
                       "(PARTITION BY customer_id ORDER BY f DESC) = 1").fetchall() if files else []
    con.close()
    return dict(rows)


def test_the_snapshot_catches_up_with_writes_over_http(stack, http):
    for n in range(5):
        assert http.call("PUT", f"/v1/customers/c{n}", json={"age": 20 + n}).status_code in (200, 201)
    want = {f"c{n}": 20 + n for n in range(5)}
    assert http.wait_for(lambda: snapshot_ages(stack["moto"], http.seller_id) == want, timeout=60)
    assert http.call("PUT", "/v1/customers/c2", json={"age": 99}).status_code == 200
    want["c2"] = 99
    assert http.wait_for(lambda: snapshot_ages(stack["moto"], http.seller_id) == want, timeout=60)
