"""Order notices and billing, the pure rules: ship dates in both input forms and per locale,
the CSV upload's rows, the fixed templates, the estimate, the ledger's movements."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from chalicelib.domain import billing, notices
from chalicelib.domain.plans import PlanCreate
from chalicelib.domain.templates import LOCALES

PRICES = billing.Prices(sms=Decimal("0.035"), voice=Decimal("0.200"))


@pytest.mark.parametrize(("given", "locale", "shown"), [
    ("12月05日", "zh", "12月05日"),
    ("12月05日", "zh-TW", "12月05日"),
    ("12月05日", "en", "Dec 05"),
    ("12月05日", "en-GB", "Dec 05"),
    ("12月05日", "th", "05/12"),
    ("12月05日", "vi", "05/12"),
    ("2026-01-09", "zh", "01月09日"),
    ("2026-01-09", "en", "Jan 09"),
    ("2026-01-09", "id", "09/01"),
    ("2026-01-09", "ms", "09/01"),
    ("02月29日", "en", "Feb 29"),
])
def test_ship_date_renders_mm_dd_for_zh_mon_dd_for_en_and_dd_mm_elsewhere(given, locale, shown):
    assert notices.render_ship_date(given, locale) == shown


@pytest.mark.parametrize("bad", ["12/05", "2026/12/05", "12月5日", "1月05日", "13月01日",
                                 "02月30日", "00月10日", "2026-02-30", "Dec 05", "", "12-05"])
def test_a_ship_date_must_be_an_iso_date_or_zero_padded_mm_dd(bad):
    with pytest.raises(ValueError):
        notices.parse_ship_date(bad)
    with pytest.raises(ValidationError):
        notices.NoticeOrder(order_id="o1", product_name="Rice", ship_date=bad or " ")


@pytest.mark.parametrize(("scenario", "order", "missing"), [
    ("delayed_shipping", {"ship_date": "12月05日", "reason": "storm"}, []),
    ("delayed_shipping", {"reason": "storm"}, ["ship_date"]),
    ("delayed_shipping", {"ship_date": "12月05日"}, ["reason"]),
    ("delayed_shipping", {"solution": "refund"}, ["ship_date", "reason"]),
    ("out_of_stock", {"solution": "refund"}, []),
    ("out_of_stock", {"ship_date": "12月05日", "reason": "storm"}, ["solution"]),
])
def test_each_scenario_needs_its_own_fields(scenario, order, missing):
    assert notices.missing_fields(scenario, {"order_id": "o", "product_name": "p", **order}) == missing


def test_orders_problems_name_each_order_by_index_and_repeated_ids():
    orders = [{"order_id": "a", "product_name": "p", "solution": "s"},
              {"order_id": "b", "product_name": "p"},
              {"order_id": "a", "product_name": "p", "solution": "s"}]
    assert notices.orders_problems("out_of_stock", orders) == [
        {"path": "orders[1].solution", "message": "required for out_of_stock"},
        {"path": "orders[2]", "message": "order 'a' is repeated"}]


@pytest.mark.parametrize(("channels", "ok"), [
    (["chat"], True), (["sms"], True), (["voice"], True), (["chat", "sms"], True),
    (["sms", "chat"], True), (["chat", "voice"], True), (["sms", "voice"], False),
    (["chat", "sms", "voice"], False)])
def test_a_notice_goes_over_chat_sms_voice_or_chat_with_one_paid_channel(channels, ok):
    problems = notices.shape_problems({"channels": channels, "scenario": "out_of_stock"})
    assert (problems == []) is ok, problems


def test_a_notice_takes_no_content_audience_or_products():
    paths = {p["path"] for p in notices.shape_problems({
        "channels": ["chat"], "content": {"text": {"en": "x"}}, "audience": {"segment_ids": ["s"]},
        "product_ids": ["p1"]})}
    assert paths == {"content", "audience", "product_ids", "scenario"}


def test_a_notice_body_holds_at_most_ten_thousand_orders():
    order = {"order_id": "o", "product_name": "p"}
    PlanCreate(name="n", kind="order_notice", orders=[order] * notices.MAX_ORDERS)
    with pytest.raises(ValidationError) as err:
        PlanCreate(name="n", kind="order_notice", orders=[order] * (notices.MAX_ORDERS + 1))
    assert err.value.errors()[0]["loc"] == ("orders",)


@pytest.mark.parametrize("scenario", notices.SCENARIOS)
def test_every_scenario_has_a_fixed_template_in_every_locale_with_its_placeholders(scenario):
    texts = notices.TEMPLATES[scenario]
    assert set(texts) == set(LOCALES)
    needs = {"{order_id}", "{product}", *(("{ship_date}", "{reason}") if scenario ==
                                         "delayed_shipping" else ("{solution}",))}
    for locale, text in texts.items():
        assert all(p in text for p in needs), (locale, text)


@pytest.mark.parametrize(("language", "default", "locale", "date_shown"), [
    ("zh", "en", "zh", "12月05日"), ("en", "th", "en", "Dec 05"), ("th-TH", "en", "th", "05/12"),
    (None, "vi", "vi", "05/12"), ("fr", "en", "en", "Dec 05"), (None, "fr", "en", "Dec 05")])
def test_a_recipient_gets_their_locale_else_the_shops_default_with_the_date_in_that_form(
        language, default, locale, date_shown):
    order = {"order_id": "DY123", "product_name": "Rice", "ship_date": "2026-12-05",
             "reason": "storm"}
    text, used = notices.render("delayed_shipping", order, language, default, "Shop", "Ann")
    assert used == locale and date_shown in text and "DY123" in text and "Rice" in text
    assert "{" not in text


HEADER = "order_id,product_name,ship_date,reason,solution\n"


@pytest.mark.parametrize(("body", "scenario", "rows", "accepted", "errors"), [
    ("o1,Rice,12月05日,storm,\n", "delayed_shipping", 1, ["o1"], []),
    ("o1,Rice,2026-12-05,storm,\no2,Tea,12月06日,late,\n", "delayed_shipping", 2, ["o1", "o2"], []),
    ("o1,Rice,,storm,\n", "delayed_shipping", 1, [], [(1, "ship_date required")]),
    ("o1,Rice,12/05,storm,\n", "delayed_shipping", 1, [], [(1, "ship_date")]),
    ("o1,Rice,12月05日,storm,\no1,Rice,12月05日,storm,\n", "delayed_shipping", 2, ["o1"],
     [(2, "repeated")]),
    ("o1,Rice,,,refund\no2,Rice,,,\n", "out_of_stock", 2, ["o1"], [(2, "solution required")]),
    ("bad id!,Rice,,,refund\n", "out_of_stock", 1, [], [(1, "order_id")]),
    (",Rice,,,refund\n\n,,,,\no3,Tea,,,swap\n", "out_of_stock", 2, ["o3"], [(1, "order_id")]),
    ("o1,,,,refund\n", "out_of_stock", 1, [], [(1, "product_name")]),
])
def test_csv_rows_count_from_one_and_each_bad_row_fails_alone(body, scenario, rows, accepted, errors):
    got_rows, got, got_errors = notices.parse_csv((HEADER + body).encode(), scenario)
    assert got_rows == rows
    assert [o["order_id"] for o in got] == accepted
    assert [(e["row"], ) for e in got_errors] == [(r,) for r, _ in errors]
    for error, (_, words) in zip(got_errors, errors, strict=True):
        assert words in error["reason"], error


def test_csv_header_may_come_in_any_order_with_a_bom_and_extra_columns():
    raw = "\ufeffsolution,Product_Name,ORDER_ID,note\nrefund,Rice,o1,x\n".encode()
    rows, accepted, errors = notices.parse_csv(raw, "out_of_stock")
    assert (rows, errors) == (1, [])
    assert accepted[0] | {"_row": 1} == {"order_id": "o1", "product_name": "Rice",
                                         "solution": "refund", "_row": 1}


@pytest.mark.parametrize("raw", [b"", b"product_name,reason\nRice,x\n", b"\xff\xfe\x00"])
def test_a_csv_without_the_columns_or_not_utf8_is_refused(raw):
    with pytest.raises(ValueError):
        notices.parse_csv(raw, "out_of_stock")


# ----- billing ---------------------------------------------------------------------------

@pytest.mark.parametrize(("facts", "channels", "estimate"), [
    ([(True, True)] * 3, ["chat"], "0.000"),
    ([(True, True)] * 3, ["sms"], "0.105"),
    ([(True, True)] * 3, ["chat", "sms"], "0.105"),
    ([(True, True)] * 3, ["chat", "voice"], "0.600"),
    ([(True, True)] * 2 + [(True, False)], ["sms"], "0.070"),          # no phone: no SMS
    ([(True, True), (False, True), (False, False)], ["voice"], "0.200"),  # blocked/unsubscribed
    ([], ["sms"], "0.000"),
    ([(True, True)] * 10_000, ["chat", "sms"], "350.000"),
])
def test_the_estimate_is_one_paid_message_per_order_whose_customer_may_get_it(
        facts, channels, estimate):
    assert billing.text(billing.estimate(facts, channels, PRICES)) == estimate


@pytest.mark.parametrize(("start", "kind", "amount", "after"), [
    (("0", "0"), "topup", "5", ("5.000", "0.000")),
    (("5", "0"), "reserve", "0.105", ("4.895", "0.105")),
    (("5", "0.105"), "charge", "0.070", ("5.000", "0.035")),
    (("5", "0.035"), "release", "0.035", ("5.035", "0.000")),
    (("0.105", "0"), "reserve", "0.105", ("0.000", "0.105")),
])
def test_a_movement_moves_balance_and_reserved_as_the_ledger_signs_say(start, kind, amount, after):
    got = billing.apply((Decimal(start[0]), Decimal(start[1])), kind, Decimal(amount))
    assert tuple(billing.text(x) for x in got) == after
    assert billing.signed(kind, Decimal(amount)) == billing.SIGN[kind] * Decimal(amount)


@pytest.mark.parametrize(("start", "kind", "amount"), [
    (("0.104", "0"), "reserve", "0.105"), (("9", "0.1"), "charge", "0.101"),
    (("9", "0.1"), "release", "0.2"), (("9", "0"), "topup", "-1")])
def test_no_movement_overspends(start, kind, amount):
    with pytest.raises(ValueError):
        billing.apply((Decimal(start[0]), Decimal(start[1])), kind, Decimal(amount))


def test_money_is_never_a_float():
    with pytest.raises(TypeError):
        billing.money(0.035)
    assert billing.text(Decimal("0.0350")) == "0.035"


@pytest.mark.parametrize(("amount", "ok"), [
    ("0.001", True), ("1000000", True), ("12.5", True), (5, True), ("0", False), ("-1", False),
    ("1000000.001", False), ("0.0001", False), ("NaN", False), ("abc", False)])
def test_a_topup_is_above_zero_up_to_a_million_with_three_places_at_most(amount, ok):
    if ok:
        assert billing.TopupBody(amount=amount).amount > 0
    else:
        with pytest.raises(ValidationError):
            billing.TopupBody(amount=amount)


def test_the_ledger_sums_give_the_balance_and_each_plans_cost():
    entries = [{"kind": "topup", "amount": "1.000"},
               {"kind": "reserve", "amount": "-0.105", "plan_id": "p"},
               {"kind": "charge", "amount": "-0.070", "plan_id": "p"},
               {"kind": "release", "amount": "0.035", "plan_id": "p"},
               {"kind": "reserve", "amount": "-0.035", "plan_id": "p", "test": True},
               {"kind": "charge", "amount": "-0.035", "plan_id": "p", "test": True}]
    assert billing.balance_of(entries) == Decimal("0.895")
    assert billing.cost_of(entries, "p") == Decimal("0.070")
