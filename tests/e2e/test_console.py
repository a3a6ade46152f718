"""The seller console in a real headless browser (docs/console.md): Debian's chromium driven
by Playwright against the worker's local stack (tests/e2e/conftest.py). Every figure the page
shows is checked against what the API answers for the same request.

Screenshots of each view go to $CONSOLE_SCREENSHOTS when set (`make screenshots` sets it to
docs/screenshots/), else to a temporary folder: the code that takes them runs either way."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chalicelib.api.auth import mint_token

CHROMIUM = "/usr/bin/chromium"     # Debian's package; `make test` installs it when missing
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 60_000                   # a loaded CI machine: generous, never a fixed sleep


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack):
    """A fresh browser context (its own session storage) per test; a script error fails it."""
    context = browser.new_context(viewport=DESKTOP, base_url=stack["base"])
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def _sign_in_demo(page, view: str = "overview") -> None:
    page.goto(f"/console#{view}")
    page.get_by_test_id("demo-signin").click()
    _expect(page.get_by_test_id(f"view-{view}")).to_be_visible()


def _sign_in(page, token: str, view: str) -> None:
    page.goto(f"/console#{view}")
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-signin").click()
    _expect(page.get_by_test_id(f"view-{view}")).to_be_visible()


def _int(n) -> str:
    return f"{n:,}"


def _money(amount: str, currency: str) -> str:
    whole, _, frac = amount.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "") + f" {currency}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shop(http) -> None:
    """A small shop of its own: three new followers and one product, Bangkok time."""
    assert http.call("PUT", "/v1/settings", json={"shop_name": "Console Shop",
                                                  "timezone": "Asia/Bangkok"}).status_code == 200
    assert http.call("PUT", "/v1/products/rice", json={"name": "Rice", "price": "99.00",
                                                       "currency": "THB"}).status_code == 201
    events = []
    for i in range(3):
        assert http.call("PUT", f"/v1/customers/c{i}", json={"name": f"Buyer {i}"}).status_code == 201
        events.append({"event_id": f"c{i}-f", "type": "followed", "customer_id": f"c{i}",
                       "occurred_at": _iso(datetime.now(UTC) - timedelta(hours=5))})
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202


def test_the_demo_shop_button_signs_in_and_the_token_stays_in_this_tab_only(page, demo):
    _sign_in_demo(page)
    shop = demo.call("GET", "/v1/settings").json()
    _expect(page.get_by_test_id("shop-name")).to_have_text(shop["shop_name"])
    storage = page.evaluate("() => [Object.keys(sessionStorage), localStorage.length, document.cookie]")
    assert storage == [["crm.console.token"], 0, ""]
    other_tab = page.context.new_page()      # session storage is per tab
    other_tab.goto("/console")
    _expect(other_tab.get_by_test_id("signin")).to_be_visible()
    page.get_by_test_id("sign-out").click()
    _expect(page.get_by_test_id("signin")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_refused_token_shows_the_apis_error_and_a_good_one_signs_in(page, http):
    page.goto("/console")
    page.get_by_test_id("token-input").fill("not-a-token")
    page.get_by_test_id("token-signin").click()
    _expect(page.get_by_test_id("error")).to_contain_text("401 unauthorized")
    _expect(page.get_by_test_id("error-message")).to_contain_text("invalid token")
    _expect(page.get_by_test_id("signin")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    _sign_in(page, mint_token(http.seller_id, "owner"), "segments")
    _expect(page.get_by_test_id("shop-name")).to_have_text(http.seller_id)   # the default name


def _overview_on_page(page) -> dict:
    ids = ["customers", "plans", "gmv", "gmv-share", "shop-gmv", "orders",
           *(f"funnel-{k}" for k in ("reached", "read", "clicked", "ordered"))]
    shown = {i: page.get_by_test_id(f"ov-{i}").inner_text() for i in ids}
    shown["segments"] = {el.get_attribute("data-testid")[len("ov-segment-"):]: el.inner_text()
                         for el in page.locator("[data-testid^=ov-segment-]").all()}
    shown["funnel_chart"] = page.evaluate(
        "() => Chart.getChart(document.querySelector('[x-ref=funnel]')).data.datasets[0].data")
    shown["daily_points"] = page.evaluate(
        "() => Chart.getChart(document.querySelector('[x-ref=daily]')).data.labels.length")
    return shown


def _overview_expected(api: dict, currency: str) -> dict:
    funnel = api["funnel"]
    return {"customers": _int(api["customers"]), "plans": _int(api["plans"]),
            "gmv": _money(api["gmv"], currency), "gmv-share": f"{float(api['gmv_share']) * 100:.1f}%",
            "shop-gmv": _money(api["shop_gmv"], currency), "orders": _int(api["orders"]),
            **{f"funnel-{k}": _int(funnel[k]) for k in ("reached", "read", "clicked", "ordered")},
            "segments": {k: _int(v) for k, v in api["segments"].items()},
            "funnel_chart": [funnel[k] for k in ("reached", "read", "clicked", "ordered")],
            "daily_points": len(api["daily"])}


def test_the_overview_shows_the_apis_numbers_and_charts_them(page, demo):
    currency = demo.call("GET", "/v1/settings").json()["currency"]
    _sign_in_demo(page)
    # The demo shop's events may still be flowing into the rollups behind the queues: poll
    # until the page and the API agree, each read after the other, with a deadline.
    deadline = time.time() + 240
    while True:
        page.reload()
        _expect(page.get_by_test_id("ov-customers")).to_be_visible()
        page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('[x-ref=daily]'))")
        shown = _overview_on_page(page)
        api = demo.call("GET", "/v1/overview?days=30").json()
        if shown == _overview_expected(api, currency) or time.time() > deadline:
            break
    assert shown == _overview_expected(api, currency)
    assert len(shown["segments"]) == 7 and shown["daily_points"] == 30
    top = page.get_by_test_id("ov-top").locator("tbody tr")
    _expect(top).to_have_count(len(api["plans_top"]))


def test_the_rule_builder_previews_saves_and_explains_like_the_api(page, demo):
    _sign_in_demo(page, "segments")
    rule = {"all": [{"attr": "order_count", "op": "gte", "value": 1}]}   # the builder's first row
    page.get_by_test_id("seg-preview").click()
    api = demo.call("POST", "/v1/segments/preview", json={"rule": rule}).json()
    _expect(page.get_by_test_id("seg-preview-size")).to_have_text(_int(api["size"]))
    _expect(page.get_by_test_id("seg-sample").locator("li")).to_have_count(len(api["sample"]))
    _expect(page.get_by_test_id("seg-warnings")).to_contain_text("at least 3")

    # OR of two conditions: the JSON view shows what the builder sends
    page.get_by_test_id("seg-join").select_option("any")
    page.get_by_test_id("seg-add").click()
    second = page.get_by_test_id("seg-condition").nth(1)
    second.get_by_test_id("cond-attr").select_option("age")
    second.get_by_test_id("cond-op").select_option("between")
    second.get_by_test_id("cond-value").fill("18, 24")
    page.get_by_test_id("seg-json-toggle").check()
    sent = json.loads(page.get_by_test_id("seg-json").input_value())
    assert sent == {"any": [rule["all"][0], {"attr": "age", "op": "between", "value": [18, 24]}]}
    page.get_by_test_id("seg-name").fill(f"Console buyers {int(time.time())}")
    page.get_by_test_id("seg-save").click()
    _expect(page.get_by_test_id("seg-saved")).to_contain_text("Saved")

    page.get_by_test_id("seg-open-recent").click()
    page.get_by_test_id("explain-id").fill("demo-c0001")
    page.get_by_test_id("explain-run").click()
    member = demo.call("GET", "/v1/segments/recent/explain/demo-c0001").json()["member"]
    _expect(page.get_by_test_id("explain-result")).to_contain_text(
        "is a member" if member else "is not a member")


def test_an_api_error_is_shown_with_its_message_and_the_field_it_names(page, demo):
    _sign_in_demo(page, "segments")
    rule = {"all": [{"attr": "age", "op": "gte", "value": 18}, {"attr": "shoe_size", "op": "eq", "value": 1}]}
    page.get_by_test_id("seg-json-toggle").check()
    page.get_by_test_id("seg-json").fill(json.dumps(rule))
    page.get_by_test_id("seg-preview").click()
    api = demo.call("POST", "/v1/segments/preview", json={"rule": rule}).json()["error"]
    _expect(page.get_by_test_id("error-message")).to_have_text(api["message"])
    fields = [d["path"] for d in api["details"]]
    assert fields == ["rule.all[1].attr"]
    _expect(page.get_by_test_id("error-field")).to_have_text(fields)
    _expect(page.get_by_test_id("error")).to_contain_text("400 validation_error")


def _row(page, name: str):
    return page.get_by_test_id("plan-list").locator("tbody tr", has_text=name)


def _new_plan(page, name: str) -> None:
    page.get_by_test_id("plan-new").click()
    page.get_by_test_id("plan-name").fill(name)
    page.get_by_test_id("plan-seg-new_followers").check()
    page.get_by_test_id("plan-text-0").fill("Hi {name}, fresh {product} at {shop}")
    page.get_by_test_id("plan-product-rice").check()


def test_a_one_off_plan_is_drafted_sent_and_its_performance_shown(page, http):
    _shop(http)
    _sign_in(page, mint_token(http.seller_id, "owner"), "plans")
    _new_plan(page, "Console flash sale")
    page.get_by_test_id("plan-save-draft").click()
    _expect(page.get_by_test_id("plan-notice")).to_contain_text("is draft")
    row = _row(page, "Console flash sale")
    _expect(row.get_by_test_id("plan-status")).to_have_text("draft")
    row.get_by_test_id("plan-row-send").click()
    _expect(row.get_by_test_id("plan-status")).to_have_text(re.compile("in progress|sent"))

    plan_id = row.get_attribute("data-plan")
    assert http.wait_for(lambda: http.call("GET", f"/v1/plans/{plan_id}/performance")
                         .json()["delivered"] == 3, timeout=120)
    row.get_by_test_id("plan-open").click()
    api = http.call("GET", f"/v1/plans/{plan_id}/performance").json()
    for key in ("recipients", "delivered", "failed", "read", "orders"):
        _expect(page.get_by_test_id(f"perf-{key}")).to_have_text(_int(api[key]))
    _expect(page.get_by_test_id("perf-gmv")).to_have_text(_money(api["gmv"], "USD"))


def test_a_plan_sent_at_a_time_is_scheduled_in_the_shops_zone_and_can_be_cancelled(page, http):
    _shop(http)
    _sign_in(page, mint_token(http.seller_id, "owner"), "plans")
    _new_plan(page, "Console tomorrow night")
    local = (datetime.now(ZoneInfo("Asia/Bangkok")) + timedelta(days=1)).replace(
        hour=20, minute=0, second=0, microsecond=0, tzinfo=None)
    page.get_by_test_id("plan-when-at").check()
    page.get_by_test_id("plan-send-at").fill(local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_test_id("plan-send").click()
    _expect(page.get_by_test_id("plan-notice")).to_contain_text("is scheduled")
    row = _row(page, "Console tomorrow night")
    plan = http.call("GET", f"/v1/plans/{row.get_attribute('data-plan')}").json()
    assert plan["send_at"] == _iso(local.replace(tzinfo=ZoneInfo("Asia/Bangkok")).astimezone(UTC))
    row.get_by_test_id("plan-row-cancel").click()
    _expect(row.get_by_test_id("plan-status")).to_have_text("cancelled")
    page.get_by_test_id("plan-filter-status").select_option("draft")
    _expect(page.get_by_test_id("plan-list")).to_be_hidden()     # none is a draft


def test_a_csv_import_shows_its_report(page, http):
    assert http.call("POST", "/v1/tags", json={"name": "vip", "dimension": "spending_power"}).status_code == 201
    _sign_in(page, mint_token(http.seller_id, "owner"), "tags")
    csv = b"phone,name,tags\n+66812345001,Ann,vip\nnot-a-phone,Bob,\n+66812345002,Cat,unknown_tag\n"
    page.get_by_test_id("import-file").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": csv}])
    page.get_by_test_id("import-run").click()
    _expect(page.get_by_test_id("import-imported")).to_have_text("2")
    _expect(page.get_by_test_id("import-failed")).to_have_text("1")
    _expect(page.get_by_test_id("import-report")).to_contain_text("unknown_tag")
    vip = page.get_by_test_id("tag-list").locator("tbody tr", has_text="vip")
    _expect(vip.locator("td.num").first).to_have_text("1")      # its customers, after the import


def test_screenshots_of_each_view_at_1280x800_and_on_a_phone(page, shots):
    _sign_in_demo(page)
    _expect(page.get_by_test_id("ov-customers")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('[x-ref=daily]'))")
    page.screenshot(path=shots / "overview.png")
    for view, ready in (("segments", "seg-list"), ("plans", "plan-list"), ("tags", "tag-list")):
        page.get_by_test_id(f"nav-{view}").click()
        _expect(page.get_by_test_id(ready).locator("tbody tr").first).to_be_visible()
        page.screenshot(path=shots / f"{view}.png")
    page.set_viewport_size(PHONE)
    page.get_by_test_id("nav-overview").click()
    _expect(page.get_by_test_id("ov-customers")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('[x-ref=daily]'))")
    page.screenshot(path=shots / "overview-phone.png", full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing wider than the phone's screen"
    assert {p.name for p in shots.glob("*.png")} >= {"overview.png", "segments.png", "plans.png",
                                                      "tags.png", "overview-phone.png"}
