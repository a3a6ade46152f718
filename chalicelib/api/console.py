"""Routes: the seller console (docs/console.md) and the local stage's demo token.

``/console`` and ``/console/{file}`` serve the static page from chalicelib/console/ (packaged
with the app: Chalice zips all of chalicelib/). They are a web page, not part of the JSON
API, so they are plain Chalice routes outside the OpenAPI registry; a file outside the
allow-list is a 404 in the error contract. ``/v1/local/demo-token`` is an API route."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.auth import demo_token as mint_local_demo_token
from chalicelib.api.routing import endpoint, error_body, json_response

bp = Blueprint(__name__)
FILES_DIR = Path(__file__).resolve().parents[1] / "console"
HTML, JS, CSS = "text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# URL name -> (file under chalicelib/console/, content type, cached for a year). The vendored
# libraries carry their version in the name, so a new version is a new URL.
ASSETS: dict[str, tuple[str, str, bool]] = {
    "console.css": ("console.css", CSS, False),
    "console.js": ("console.js", JS, False),
    "overview.js": ("overview.js", JS, False),
    "segments.js": ("segments.js", JS, False),
    "plans.js": ("plans.js", JS, False),
    "tags.js": ("tags.js", JS, False),
    "alpine-3.17.5.min.js": ("vendor/alpine-3.17.5.min.js", JS, True),
    "chart-4.6.1.umd.min.js": ("vendor/chart-4.6.1.umd.min.js", JS, True),
}
# Only our files and the API: no CDN, no inline script. Alpine.js evaluates its attribute
# expressions with Function(), hence 'unsafe-eval'; Chart.js and Alpine set inline styles.
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'")


@cache
def _read(name: str) -> str:
    return (FILES_DIR / name).read_text(encoding="utf-8")


def _file(name: str, content_type: str, immutable: bool) -> Response:
    return Response(body=_read(name), status_code=200, headers={
        "Content-Type": content_type, "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"})


@bp.route("/console", methods=["GET"])
def console_page() -> Response:
    """The console's page (no auth: it signs in in the browser, then calls the API)."""
    return _file("index.html", HTML, False)


@bp.route("/console/{file}", methods=["GET"])
def console_asset(file: str) -> Response:
    """One of the page's scripts or styles, by the allow-list."""
    if file not in ASSETS:
        return json_response(error_body("not_found", "no such console file"), 404)
    return _file(*ASSETS[file])


@endpoint(bp, "/v1/local/demo-token", "GET", role=None, response="console.DemoToken",
          errors=(404,))
def demo_token():
    """A token for the demo shop (seller demo, role owner): the local stage only, a 404 on
    every other stage."""
    return {"token": mint_local_demo_token()}
