"""Ids as API.md "Ids" defines them: 1–128 characters of ``A–Z a–z 0–9 . _ : - + @``.

Every id that reaches a key (in a path, a body, an event, a cursor or the token's
``seller_id``) is one of these first. ``#`` — the separator of composed keys such as
``f"{seller_id}#{customer_id}"`` — is not in the alphabet, so a composed key splits back
into exactly one (seller, id) pair and no two pairs can share a key.

    class Body(BaseModel):
        customer_id: Id
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import StringConstraints, TypeAdapter, ValidationError

from chalicelib.domain.errors import Invalid

MAX_ID = 128
ID_CHARS = "A-Za-z0-9._:+@-"
ID_PATTERN = rf"^[{ID_CHARS}]{{1,{MAX_ID}}}$"
ID_RULE = f"an id is 1–{MAX_ID} characters of A–Z a–z 0–9 . _ : - + @"
KEY_SEPARATOR = "#"

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]
ID_ADAPTER: TypeAdapter = TypeAdapter(Id)
_ID = re.compile(rf"[{ID_CHARS}]{{1,{MAX_ID}}}")


def is_id(value: Any) -> bool:
    """True for a string that is a well-formed id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: Any, path: str) -> str:
    """The id itself, or Invalid (400) naming ``path``."""
    try:
        return ID_ADAPTER.validate_python(value)
    except ValidationError as exc:
        raise Invalid(f"'{path}' is not a valid id: {ID_RULE}",
                      [{"path": path, "message": ID_RULE,
                        "type": exc.errors(include_url=False)[0]["type"]}]) from None
