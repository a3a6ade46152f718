"""The plan form's rules: request shapes, what every plan needs, what a send needs, and
when a voucher fits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.plans import (
    PlanCreate,
    PlanPatch,
    send_problems,
    shape_problems,
    tag_names,
)
from chalicelib.domain.vouchers import VoucherCreate, misfits

BASE = {"name": "Weekend sale", "audience": {"segment_ids": ["loyal"]},
        "content": {"text": {"en": "Hi {name}"}}, "product_ids": ["p1"]}


def _errors(body: dict, model=PlanCreate) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


@pytest.mark.parametrize("name, ok", [
    ("Sale", True),
    ("  Sale  ", True),
    (" ".join(["word"] * 100), True),
    (" ".join(["word"] * 101), False),
    ("", False),
    ("   ", False),
])
def test_plan_name_is_one_to_one_hundred_words(name, ok):
    body = {**BASE, "name": name}
    if ok:
        assert PlanCreate.model_validate(body).name == name.strip()
    else:
        assert "name" in _errors(body)


def test_plan_defaults_follow_the_api():
    plan = PlanCreate.model_validate({"name": "x"})
    assert plan.kind == "one_off" and plan.channels == ["chat"] and plan.product_ids == []
    assert plan.action == "draft" and plan.send_at is None and plan.voucher is None


@pytest.mark.parametrize("change, path", [
    ({"product_ids": ["a", "b", "c", "d", "e"]}, "product_ids"),
    ({"channels": []}, "channels"),
    ({"channels": ["chat", "chat"]}, "channels"),
    ({"channels": ["fax"]}, "channels.0"),
    ({"content": {"template_id": "best_sellers", "text": {"en": "x"}}}, "content"),
    ({"content": {}}, "content"),
    ({"content": {"text": {}}}, "content"),
    ({"content": {"text": {"en": ""}}}, "content.text.en"),
    ({"content": {"text": {"english!": "x"}}}, "content.text.english!.[key]"),
    ({"voucher": {"mode": "chosen"}}, "voucher"),
    ({"voucher": {"mode": "smart", "voucher_id": "v1"}}, "voucher"),
    ({"button": {"type": "home"}}, "button.type"),
    ({"action": "publish"}, "action"),
    ({"kind": "broadcast"}, "kind"),
    ({"send_at": "tomorrow"}, "send_at"),
])
def test_plan_shape_errors_name_their_path(change, path):
    assert path in _errors({**BASE, **change})


def test_patch_cannot_null_required_fields_but_may_clear_optional_ones():
    cleared = PlanPatch.model_validate({"voucher": None})
    assert cleared.model_fields_set == {"voucher"} and cleared.voucher is None
    for field in ("name", "channels", "product_ids"):
        assert _errors({field: None}, PlanPatch)


def _plan(**change) -> dict:
    plan = {"kind": "one_off", "channels": ["chat"], "audience": {"segment_ids": ["loyal"]},
            "content": {"text": {"en": "x"}}, "product_ids": ["p1"], "button": None,
            "voucher": None}
    return {**plan, **change}


@pytest.mark.parametrize("change, path", [
    ({"channels": ["chat", "sms"]}, "channels"),
    ({"button": {"type": "cart"}}, "button.type"),
    ({"voucher": {"mode": "smart"}}, "voucher.mode"),
])
def test_one_off_plans_refuse_automated_only_features(change, path):
    assert [p["path"] for p in shape_problems(_plan(**change))] == [path]


def test_automated_plans_may_use_cart_buttons_and_smart_vouchers():
    assert shape_problems(_plan(kind="automated", button={"type": "cart"},
                                voucher={"mode": "smart"})) == []


@pytest.mark.parametrize("change, path", [
    ({"audience": None}, "audience.segment_ids"),
    ({"audience": {"segment_ids": [], "exclude_segment_ids": ["lapsed"]}}, "audience.segment_ids"),
    ({"content": None}, "content"),
    ({"product_ids": []}, "product_ids"),
])
def test_a_send_needs_a_segment_content_and_products(change, path):
    assert [p["path"] for p in send_problems(_plan(**change))] == [path]
    assert send_problems(_plan()) == []


def test_tag_names_of_a_filter():
    assert tag_names({"any": ["vip", "new"], "none": ["churn"]}) == ["vip", "new", "churn"]
    assert tag_names(None) == []


DAY = 86_400_000
VOUCHER = {"kind": "regular", "segment_id": None, "valid_from": 10 * DAY, "valid_until": 20 * DAY,
           "quantity": 100, "claimed": 0}


@pytest.mark.parametrize("change, segments, send_ms, problem", [
    ({}, ["loyal"], 15 * DAY, None),
    ({}, ["loyal"], 10 * DAY, None),                             # validity bounds included
    ({}, ["loyal"], 20 * DAY, None),
    ({}, ["loyal"], 10 * DAY - 1, "not valid yet"),
    ({}, ["loyal"], 20 * DAY + 1, "expired"),
    ({"claimed": 100}, ["loyal"], 15 * DAY, "used up"),
    ({"quantity": None, "claimed": 10**6}, ["loyal"], 15 * DAY, None),
    ({"kind": "targeted", "segment_id": "loyal"}, ["loyal"], 15 * DAY, None),
    ({"kind": "targeted", "segment_id": "loyal"}, ["loyal", "recent"], 15 * DAY, "exactly"),
    ({"kind": "targeted", "segment_id": "loyal"}, ["recent"], 15 * DAY, "exactly"),
])
def test_voucher_fits_a_plan_only_within_its_rules(change, segments, send_ms, problem):
    found = misfits({**VOUCHER, **change}, segments, send_ms)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0]


def test_voucher_create_rules():
    ok = VoucherCreate.model_validate({"name": "x", "kind": "targeted", "segment_id": "loyal",
                                       "discount": {"type": "percent", "value": 100}})
    assert ok.discount.value == 100
    with pytest.raises(ValidationError):
        VoucherCreate.model_validate({"name": "x", "kind": "targeted",
                                      "discount": {"type": "percent", "value": 10}})
