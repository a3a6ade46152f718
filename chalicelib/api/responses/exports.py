"""Bodies of the audience export routes (api/exports.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import ResponseModel

Status = Literal["running", "ready"]


class ExportStarted(ResponseModel):
    export_id: str
    status: Status = Field(description="ready when the file was written during the request")
    rows: int | None = Field(description="lines of the file (members with a phone); null "
                                         "while running")


class Export(ResponseModel):
    export_id: str
    segment_id: str
    status: Status
    rows: int | None = Field(description="null while running")
    download_url: str | None = Field(description="a presigned GET of the CSV, valid one hour "
                                                 "from this response; null while running")
