"""Bodies of the import routes (api/imports.py)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time


class RowError(ResponseModel):
    row: int = Field(description="data row, from 1")
    reason: str


class DuplicateRow(ResponseModel):
    row: int
    first_row: int = Field(description="the row with the same phone that was kept")


class IgnoredTag(ResponseModel):
    row: int
    tag: str = Field(description="a tag name the shop does not have (cut to 50 characters)")


class ImportReport(ResponseModel):
    """An import's report: every data row is exactly one of imported, failed or duplicate."""
    import_id: str
    rows: int
    imported: int
    failed: int
    duplicates: int
    errors: list[RowError] = Field(description="failed and duplicate rows, by row")
    duplicate_rows: list[DuplicateRow]
    tags_ignored: list[IgnoredTag] = Field(description="the first 1,000")
    tags_ignored_count: int
    customers_created: int
    customers_updated: int
    unchanged: int
    tags_added: int
    default_region: str | None
    created_at: Time
