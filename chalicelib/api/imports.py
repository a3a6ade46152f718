"""Routes: CSV/TXT imports of customers and tags, and their reports."""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.common import now
from chalicelib.api.routing import Reply, endpoint

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


CSV_TYPES = ["text/csv", "text/plain"]


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    default_region: Annotated[str, Field(min_length=2, max_length=3, description=(
        "ISO 3166 region for numbers without a country code, e.g. TH"))] | None = None


@endpoint(bp, "/v1/imports", "POST", role="operator", query=ImportQuery, status=201,
          content_types=CSV_TYPES, raw_body=True, response="imports.ImportReport",
          errors=(409, 413, 429))
def create_import(p, raw, query):
    """Import a CSV/TXT of phone, tags, name (≤ 5,000 rows; 3 per hour) -> the report."""
    from chalicelib.services import imports

    return Reply(imports.run(p.seller_id, raw, query.default_region, p.user_id, now()), 201)


@endpoint(bp, "/v1/imports/{import_id}", "GET", response="imports.ImportReport")
def get_import(p, import_id):
    """An import's report."""
    from chalicelib.services import imports

    return imports.get(p.seller_id, import_id)

