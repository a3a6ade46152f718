"""Body of /v1/local/demo-token (api/console.py)."""

from __future__ import annotations

from chalicelib.api.responses import ResponseModel


class DemoToken(ResponseModel):
    token: str
