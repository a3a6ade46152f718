"""Point this process's AWS clients at a moto server (the local stack, its job runner, the
ops commands run against it): endpoint, dummy credentials and moto's region."""

from __future__ import annotations

import os

MOTO_REGION = "us-east-1"


def point_at_moto(url: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = url
    for key, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                       ("AWS_DEFAULT_REGION", MOTO_REGION)):
        os.environ.setdefault(key, value)
    from chalicelib.settings import settings

    settings.cache_clear()
