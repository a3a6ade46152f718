"""Tag rules of SPEC.md §3 that need no storage."""

from __future__ import annotations


def norm_name(name: str) -> str:
    """Names compare case- and space-insensitively: 'Paid ' == 'paid' == 'P aid'."""
    return "".join(name.split()).casefold()
