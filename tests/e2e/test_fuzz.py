"""Schemathesis over the served OpenAPI document: no generated request, valid or not, gets a
5xx from the local stack (DESIGN.md "Reliability"), and every answer is one the document
describes: a status the route lists, its media type, its headers and a body matching the
status's schema (docs/openapi.md)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app  # noqa: F401  (registers every route before the document is built)
from chalicelib.api.auth import mint_token
from chalicelib.api.openapi import document

schema = schemathesis.openapi.from_dict(document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_one_the_document_describes_and_none_is_a_server_error(case, stack):
    token = mint_token("fuzz-seller", "owner", sub="fuzzer")
    response = case.call_and_validate(base_url=stack["base"], checks=CHECKS, timeout=60,
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}, response.text[:300]
