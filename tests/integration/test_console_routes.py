"""The seller console's routes (docs/console.md): the page and its allow-listed files with
their content types, anything else a 404 in the error contract, and the demo shop's token
on the local stage only."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from chalicelib.api.console import ASSETS, FILES_DIR
from chalicelib.settings import settings


def _get(client, path, headers=None):
    response = client.http.get(path, headers=headers or {})
    return response.status_code, response.headers, response.body


def test_the_console_page_is_served_without_auth_as_html_that_loads_nothing_from_elsewhere(client):
    status, headers, body = _get(client, "/console")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    page = body.decode()
    assert "<title>Seller CRM console</title>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no CDN, no other origin"


def test_every_file_the_page_names_is_served_with_its_content_type(client):
    page = (FILES_DIR / "index.html").read_text()
    named = re.findall(r"""(?:src|href)="console/([^"]+)\"""", page)
    assert set(named) == set(ASSETS), "the allow-list is exactly what the page loads"
    for name in named:
        status, headers, body = _get(client, f"/console/{name}")
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert status == 200 and headers["Content-Type"].startswith(expected), name
        assert body == (FILES_DIR / ASSETS[name][0]).read_bytes(), name


def test_the_vendored_libraries_are_cached_for_a_year_and_our_own_files_revalidated(client):
    assert "immutable" in _get(client, "/console/alpine-3.17.5.min.js")[1]["Cache-Control"]
    assert _get(client, "/console/console.js")[1]["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name", ["index.html", "LICENSE-alpinejs.md", "README.md", "vendor",
                                  "..%2Fapi%2Fconsole.py", "%2e%2e", "console.JS", "app.py"])
def test_a_file_outside_the_allow_list_is_a_404_in_the_error_contract(client, name):
    status, headers, body = _get(client, f"/console/{name}")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"


def _demo_token(client):
    status, _, body = _get(client, "/v1/local/demo-token")
    return status, json.loads(body)


def test_the_local_stage_hands_out_an_owner_token_for_the_demo_shop(client, monkeypatch):
    from chalicelib.api.auth import authenticate

    monkeypatch.setenv("CRM_STAGE", "local")
    settings.cache_clear()
    try:
        status, body = _demo_token(client)
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    assert status == 200 and set(body) == {"token"}
    principal = authenticate(f"Bearer {body['token']}")
    assert (principal.seller_id, principal.role) == ("demo", "owner")


# A deployment's settings, as tests/integration/test_deploy_secrets.py gives a dev cold start
# (the ARNs are placeholders: this route reads nothing of AWS).
DEPLOYED = {"CRM_CHAT_CHANNEL": "http", "CRM_MESSAGING_ENDPOINT": "https://chat.example.test/send",
            "CRM_DISPATCH_QUEUE_ARN": "set-by-the-template", "CRM_SCHEDULER_ROLE_ARN": "set-by-the-template",
            "CRM_SNAPSHOT_BUCKET": "set-by-the-template", "CRM_EXPORT_BUCKET": "set-by-the-template"}


@pytest.mark.parametrize("stage", ["test", "bench", "dev", "staging", "prod"])
def test_every_stage_but_local_answers_the_demo_token_route_with_a_404(client, monkeypatch, stage):
    monkeypatch.setenv("CRM_STAGE", stage)
    if stage not in ("test", "bench"):
        for key, value in {**DEPLOYED, "CRM_JWT_SECRET": uuid.uuid4().hex * 2}.items():
            monkeypatch.setenv(key, value)
    settings.cache_clear()
    try:
        assert settings().stage == stage
        status, body = _demo_token(client)
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    assert status == 404 and body["error"]["code"] == "not_found", body
    assert "token" not in json.dumps(body)


def test_each_vendored_library_is_the_pinned_file_with_its_licence_beside_it():
    import hashlib

    readme = (FILES_DIR / "vendor" / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+\.js)` \| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \| [^|`]*`(LICENSE[^`]+)`",
                      readme, flags=re.M)
    assert {name for name, *_ in rows} == {path.split("/")[-1] for path, _, _ in ASSETS.values()
                                            if path.startswith("vendor/")}
    for name, package, sha256, licence in rows:
        assert hashlib.sha256((FILES_DIR / "vendor" / name).read_bytes()).hexdigest() == sha256, package
        assert package.split("@")[1] in name, "the version is in the file's name (and its URL)"
        assert "MIT License" in (FILES_DIR / "vendor" / licence).read_text(), licence
