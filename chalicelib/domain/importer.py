"""Customer/tag import (SPEC.md §3): a UTF-8 CSV or TXT with ``phone``, ``tags`` and optional
``name`` columns, read and checked as a whole into a plan of what to write plus the report.

Pure: the caller looks up tags and customers and writes; nothing here touches storage, so a
file that cannot be read as a whole is refused before anything is written.

    plan = parse(raw_bytes, default_region="TH", tags_by_norm={"vip": "t1"})
    plan.accepted  # [PlannedRow(row=1, phone="+66812345678", name="Malee", tag_ids=["t1"])]
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from chalicelib.domain.errors import Invalid, TooLarge
from chalicelib.domain.tags import MAX_NAME as MAX_TAG_NAME
from chalicelib.domain.tags import norm_name

MAX_ROWS = 5000
MAX_NAME = 200
# The report is stored as one item (DynamoDB: 400 KB) and returned whole, so it lists at
# most this many ignored tags, each once per row and cut to the longest possible tag name;
# ``tags_ignored_count`` says how many there were.
MAX_TAGS_IGNORED = 1000
PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "mobile", "tel", "telephone")
TAG_COLUMNS = ("tags", "tag")
NAME_COLUMNS = ("name", "customer_name")
# Separators people put between tags inside one cell (ASCII and CJK commas, semicolons).
TAG_SPLIT = re.compile(r"[,，;；、]")
# What a phone cell may carry around the digits: spaces, dashes, brackets, dots, slashes.
PHONE_NOISE = re.compile(r"[\s\-‐-―−().\[\]/]")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


@dataclass(frozen=True)
class PlannedRow:
    row: int
    phone: str                    # E.164
    name: str | None
    tag_ids: tuple[str, ...]


@dataclass
class ImportPlan:
    rows: int = 0
    accepted: list[PlannedRow] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)      # {row, reason}
    duplicates: list[dict] = field(default_factory=list)    # {row, reason, first_row}
    tags_ignored: list[dict] = field(default_factory=list)  # {row, tag}, the first ones
    tags_ignored_count: int = 0                              # every (row, tag) once

    def ignore_tag(self, row: int, tag: str) -> None:
        self.tags_ignored_count += 1
        if len(self.tags_ignored) < MAX_TAGS_IGNORED:
            shown = tag if len(tag) <= MAX_TAG_NAME else tag[:MAX_TAG_NAME] + "…"
            self.tags_ignored.append({"row": row, "tag": shown})

    def report(self) -> dict:
        """The counts and lists of the import report; every row is exactly one of imported,
        failed or duplicate. Duplicates also appear in ``errors`` with their reason."""
        errors = sorted(self.failures + [{"row": d["row"], "reason": d["reason"]}
                                         for d in self.duplicates], key=lambda e: e["row"])
        return {"rows": self.rows, "imported": len(self.accepted), "failed": len(self.failures),
                "duplicates": len(self.duplicates), "errors": errors,
                "duplicate_rows": [{"row": d["row"], "first_row": d["first_row"]}
                                   for d in self.duplicates],
                "tags_ignored": self.tags_ignored, "tags_ignored_count": self.tags_ignored_count}


def check_region(region: str | None) -> str | None:
    """An ISO 3166 region code phonenumbers knows (upper-cased), or None; Invalid otherwise."""
    if region is None or not region.strip():
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise Invalid(f"default_region '{region}' is not a known region code (e.g. TH, VN, ID)",
                      [{"path": "default_region", "message": "unknown region code"}])
    return code


def normalise(raw: str, region: str | None) -> tuple[str | None, str | None]:
    """(E.164, None) for a usable number, else (None, the reason)."""
    cleaned = PHONE_NOISE.sub("", raw.strip().lstrip("'"))
    if not cleaned:
        return None, "phone is empty"
    if any(c.isalpha() for c in cleaned):
        return None, "not a phone number: contains letters"
    if cleaned.startswith("00") and region is None:
        cleaned = "+" + cleaned[2:]
    if not cleaned.startswith("+") and region is None:
        return None, ("no country code and no default region: write the number with +<country "
                      "code> or pass ?default_region=")
    try:
        number = phonenumbers.parse(cleaned, region)
    except NumberParseException as exc:
        return None, f"invalid phone: {_PARSE_REASONS.get(exc.error_type, 'not a phone number')}"
    where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
    length = phonenumbers.is_possible_number_with_reason(number)
    if length in _LENGTH_REASONS:
        return None, f"invalid phone: {_LENGTH_REASONS[length]} for {where}"
    if not phonenumbers.is_valid_number(number):
        return None, f"invalid phone: not a valid number for {where}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")   # a BOM (Excel's "CSV UTF-8") is dropped
    except UnicodeDecodeError as exc:
        raise Invalid(f"the file is not UTF-8 (undecodable byte at offset {exc.start}); save it "
                      "as 'CSV UTF-8'", [{"path": "body", "message": "not UTF-8"}]) from None
    if "\x00" in text:
        raise Invalid("the file is not UTF-8 text (it holds NUL bytes; UTF-16?)",
                      [{"path": "body", "message": "not UTF-8"}])
    if not text.strip():
        raise Invalid("the file is empty; expected a header row with a phone column",
                      [{"path": "body", "message": "empty file"}])
    return text


def _delimiter(header_line: str) -> str:
    # TXT exports often use tabs; some locales' spreadsheets write semicolons.
    if "\t" in header_line:
        return "\t"
    if "," not in header_line and ";" in header_line:
        return ";"
    return ","


def _columns(header: list[str]) -> tuple[int, int | None, int | None]:
    names = [norm_name(h).replace("-", "_").lstrip("\ufeff") for h in header]

    def find(options: tuple[str, ...]) -> int | None:
        return next((i for i, n in enumerate(names) if n in options), None)

    phone = find(PHONE_COLUMNS)
    if phone is None:
        raise Invalid(f"no phone column: the header row must name a 'phone' column (found: "
                      f"{', '.join(h.strip() for h in header) or 'nothing'})",
                      [{"path": "header", "message": "no phone column"}])
    return phone, find(TAG_COLUMNS), find(NAME_COLUMNS)


def _records(text: str) -> tuple[list[str], list[list[str]]]:
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line),
                        strict=True)
    records: list[list[str]] = []
    try:
        header = next(reader, [])
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue   # blank lines are not rows
            records.append(record)
            if len(records) > MAX_ROWS:
                raise TooLarge(f"at most {MAX_ROWS} data rows per import; this file has more")
    except csv.Error as exc:
        raise Invalid(f"the file cannot be read as CSV near line {reader.line_num}: {exc} "
                      "(check the quotes)", [{"path": f"line {reader.line_num}",
                                              "message": str(exc)}]) from None
    return header, records


def parse(raw: bytes, default_region: str | None, tags_by_norm: dict[str, str]) -> ImportPlan:
    """Read and check the whole file: Invalid (400) when it cannot be read as a whole,
    TooLarge (413) above MAX_ROWS data rows, else the plan and report, row by row."""
    header, records = _records(_decode(raw))
    phone_col, tags_col, name_col = _columns(header)
    plan = ImportPlan(rows=len(records))
    first_row_of: dict[str, int] = {}
    for row, record in enumerate(records, start=1):
        cell = record[phone_col] if phone_col < len(record) else ""
        phone, reason = normalise(cell, default_region)
        if phone is None:
            plan.failures.append({"row": row, "reason": reason})
            continue
        name = " ".join((record[name_col] if name_col is not None and name_col < len(record)
                         else "").split()) or None
        if name is not None and len(name) > MAX_NAME:
            plan.failures.append({"row": row, "reason": f"name longer than {MAX_NAME} characters"})
            continue
        if phone in first_row_of:
            first = first_row_of[phone]
            plan.duplicates.append({"row": row, "first_row": first, "reason":
                                    f"duplicate phone: same number as row {first} (the first "
                                    "occurrence is kept)"})
            continue
        first_row_of[phone] = row
        tag_ids: list[str] = []
        unknown: set[str] = set()
        cell = record[tags_col] if tags_col is not None and tags_col < len(record) else ""
        for tag in (t.strip() for t in TAG_SPLIT.split(cell)):
            if not tag:
                continue
            norm = norm_name(tag)
            tag_id = tags_by_norm.get(norm)
            if tag_id is None:
                if norm not in unknown:   # "ghost, Ghost, ghost" is one ignored tag
                    unknown.add(norm)
                    plan.ignore_tag(row, tag)
            elif tag_id not in tag_ids:
                tag_ids.append(tag_id)
        plan.accepted.append(PlannedRow(row, phone, name, tuple(tag_ids)))
    return plan
