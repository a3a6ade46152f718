"""Schemathesis over the served OpenAPI document: no generated request, valid or not, gets a
5xx from the local stack (DESIGN.md "Reliability")."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from app import app  # noqa: F401  (registers every route before the document is built)
from chalicelib.api.auth import mint_token
from chalicelib.api.openapi import document

schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, stack):
    token = mint_token("fuzz-seller", "owner", sub="fuzzer")
    response = case.call(base_url=stack["base"], headers={"Authorization": f"Bearer {token}"},
                         timeout=60)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}, response.text[:300]
