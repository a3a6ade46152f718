"""Routes: audience exports of a segment (hashed phones as a CSV, a presigned download URL)."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.common import now
from chalicelib.api.routing import endpoint
from chalicelib.domain.exports import Format

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: Format = Field(description='"hashed_phone": the SHA-256 hex of each member\'s '
                                       "E.164 phone without '+'")


@endpoint(bp, "/v1/segments/{segment_id}/exports", "POST", role="admin", body=ExportCreate,
          status=201, response="exports.ExportStarted")
def create_export(p, segment_id, body):
    """Export a segment's members' hashed phones (admin or owner): ready at once when small,
    else running until the exports queue has written the file."""
    from chalicelib.services import exports

    return exports.start(p.seller_id, segment_id, body.format, now(), p.user_id)


@endpoint(bp, "/v1/exports/{export_id}", "GET", role="admin", response="exports.Export")
def get_export(p, export_id):
    """An export's status and, once ready, a download URL valid for one hour (admin or owner:
    the URL hands out the file)."""
    from chalicelib.services import exports

    return exports.get(p.seller_id, export_id, now())
