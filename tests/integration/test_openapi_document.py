"""The OpenAPI document's success bodies and error statuses (docs/openapi.md): every 2xx
with a body has the schema of the model the route's body leaves through, each route lists
only the error statuses it can answer, and a body leaves with exactly the keys the service
gave it."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc(app):
    from chalicelib.api.openapi import document

    return document()


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_every_success_body_in_the_document_has_the_schema_of_its_response_model(app, doc):
    from chalicelib.api.routing import ROUTES

    by_key = {(r.method, r.path): r for r in ROUTES}
    for method, path, op in _operations(doc):
        route = by_key[(method, path)]
        for status, answer in op["responses"].items():
            if not status.startswith("2"):
                continue
            if status == "204":
                assert route.response is None and "content" not in answer, (method, path)
                continue
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[1]
            assert name == route.response_model.__name__, (method, path, status)
            assert doc["components"]["schemas"][name]["type"] == "object", name


def test_every_route_with_a_body_names_a_model_of_the_responses_package(app):
    from chalicelib.api.routing import ROUTES

    for route in ROUTES:
        if route.statuses == (204,):
            assert route.response is None, route.path
        else:
            assert issubclass(route.response_model, BaseModel), (route.method, route.path)


@pytest.mark.parametrize("method, path, errors", [
    ("GET", "/health", ["400"]),                                  # a Content-Type it does not take
    ("GET", "/v1/settings", ["400", "401", "403"]),
    ("PUT", "/v1/customers/{customer_id}", ["400", "401", "403", "409", "412"]),   # creates: no 404
    ("GET", "/v1/customers", ["400", "401", "403", "404"]),       # ?segment_id= unknown
    ("GET", "/v1/customers/{customer_id}", ["400", "401", "403", "404"]),
    ("POST", "/v1/events", ["400", "401", "403", "409", "413"]),
    ("POST", "/v1/imports", ["400", "401", "403", "409", "413", "429"]),
    ("POST", "/v1/plans/{plan_id}/test-send", ["400", "401", "402", "403", "404", "409", "429"]),
    ("DELETE", "/v1/tag-rules/{rule_id}", ["400", "401", "403", "404"]),
])
def test_each_route_lists_only_the_error_statuses_it_can_answer(doc, method, path, errors):
    listed = [s for s in doc["paths"][path][method.lower()]["responses"] if s >= "400"]
    assert listed == errors


def test_a_rate_limited_answer_documents_its_retry_after_header(doc):
    answer = doc["paths"]["/v1/imports"]["post"]["responses"]["429"]
    assert answer["headers"]["Retry-After"]["required"] is True


def test_a_body_leaves_with_exactly_the_keys_the_service_gave_nulls_kept(app):
    from chalicelib.api.routing import serialise

    skipped = {"customer_id": "c1", "channel": "chat", "status": "skipped", "reason": "blocked"}
    delivered = {"customer_id": "c2", "channel": "chat", "status": "delivered",
                 "sent_at": "2026-11-22T10:00:00.123000Z"}
    page = {"items": [skipped, delivered], "next_cursor": None}
    assert serialise("performance.DeliveryPage", page) == page
    product = {"product_id": "p1", "name": "Rice", "price": "129.90", "currency": "THB",
               "image_url": None, "stock": None, "version": 1,
               "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}
    assert json.dumps(serialise("products.Product", product)) == json.dumps(product)


@pytest.mark.parametrize("change, why", [
    ({"surprise": 1}, "a field the model does not know"),
    ({"price": Decimal("129.90")}, "money that is not a decimal string"),
    ({"version": None}, "null where the model says never null"),
])
def test_a_body_that_drifts_from_its_model_is_refused_not_sent(app, change, why):
    from chalicelib.api.routing import serialise

    product = {"product_id": "p1", "name": "Rice", "price": "129.90", "currency": "THB",
               "image_url": None, "stock": None, "version": 1,
               "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}
    with pytest.raises(ValidationError):
        serialise("products.Product", {**product, **change})


def test_a_missing_field_is_refused_too(app):
    from chalicelib.api.routing import serialise

    with pytest.raises(ValidationError):
        serialise("health.Health", {})


def test_the_response_models_stay_out_of_the_cold_import():
    code = ("import sys, app; print(sorted(m for m in sys.modules "
            "if m.startswith('chalicelib.api.responses.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
