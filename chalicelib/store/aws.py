"""boto3 clients, created once per process, lazily, from settings."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.settings import settings

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            # On first use: app.py imports this module (api.auth -> store.secrets) and boto3
            # would add ~110 ms, the whole of the cold-import budget's unit, to it.
            import boto3
            from botocore.config import Config

            cfg = settings()
            extra: dict[str, Any] = {}
            if service == "s3":
                # Presigned URLs (audience exports) signed with SigV4, as S3 requires in
                # every region opened since 2014; botocore would sign them with SigV2.
                extra["signature_version"] = "s3v4"
            if service == "dynamodbstreams":
                # The regional endpoint (streams.dynamodb.<region>), not the account-based
                # one botocore now picks, which moto's in-process mock does not route.
                extra["account_id_endpoint_mode"] = "disabled"
            _clients[service] = boto3.session.Session().client(
                service, region_name=cfg.region, endpoint_url=cfg.aws_endpoint_url,
                config=Config(retries={"max_attempts": 8, "mode": "standard"},
                              max_pool_connections=32, **extra))
        return _clients[service]


def ensure_bucket(name: str) -> None:
    """Create an S3 bucket of the offline stages' moto if it is not there (the template
    creates the buckets on AWS): the snapshot and the export buckets."""
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except Exception:  # not there yet
        s3.create_bucket(Bucket=name)
