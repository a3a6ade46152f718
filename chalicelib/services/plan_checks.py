"""Validation of a plan form against the shop's data: segments, tag filter, products,
voucher, content locale. Every problem found is reported at once, each naming its path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import audiences
from chalicelib.domain import experiments, templates, vouchers
from chalicelib.domain import plans as rules
from chalicelib.domain.aggregates import to_ms
from chalicelib.domain.errors import Invalid
from chalicelib.domain.shop_settings import ShopSettings
from chalicelib.services import vouchers as voucher_service
from chalicelib.store import products as product_store
from chalicelib.store import vouchers as voucher_store


def _has_locale(text: dict[str, str], locale: str) -> bool:
    wanted = locale.lower()
    return any(key.lower() == wanted or key.lower().split("-")[0] == wanted for key in text)


def _audience_problems(seller_id: str, audience: dict[str, Any]) -> list[dict]:
    problems = []
    for field in ("segment_ids", "exclude_segment_ids"):
        for index, segment_id in enumerate(audience.get(field) or []):
            if not audiences.segment_exists(seller_id, segment_id):
                problems.append({"path": f"audience.{field}[{index}]",
                                 "message": f"segment '{segment_id}' does not exist"})
    if audience.get("tags") is not None:
        try:
            audiences.validate_rule(seller_id, {"tags": audience["tags"]}, path="audience")
        except Invalid as exc:
            problems.extend(exc.details or [{"path": "audience.tags", "message": exc.message}])
    return problems


def _content_problems(content: dict[str, Any], default_locale: str) -> list[dict]:
    if content.get("template_id") is not None:
        if content["template_id"] not in templates.BY_ID:
            return [{"path": "content.template_id",
                     "message": f"no template '{content['template_id']}'"}]
        return []
    if not _has_locale(content.get("text") or {}, default_locale):
        return [{"path": "content.text",
                 "message": f"a text for the shop's default locale '{default_locale}' is required"}]
    return []


def _voucher_problems(seller_id: str, plan: dict[str, Any], send_time: datetime,
                      sending: bool) -> list[dict]:
    choice = plan.get("voucher")
    if not choice or choice.get("mode") != "chosen":
        return []
    found = voucher_store.get_voucher(seller_id, choice["voucher_id"])
    if found is None:
        return [{"path": "voucher.voucher_id",
                 "message": f"voucher '{choice['voucher_id']}' does not exist"}]
    segment_ids = (plan.get("audience") or {}).get("segment_ids") or []
    facts = voucher_service.voucher_facts(found)
    # A draft already holds the audience a targeted voucher must match (API.md: else 400);
    # validity and quantity are judged at the send time.
    found_problems = (vouchers.misfits(facts, segment_ids, to_ms(send_time)) if sending
                      else vouchers.audience_misfits(facts, segment_ids) if segment_ids else [])
    return [{"path": "voucher", "message": problem} for problem in found_problems]


def _product_problems(seller_id: str, product_ids: list[str]) -> list[dict]:
    if not product_ids:
        return []
    found = product_store.get_products(seller_id, product_ids)
    return [{"path": f"product_ids[{index}]", "message": f"product '{pid}' does not exist"}
            for index, pid in enumerate(product_ids) if pid not in found]


def _variant_problems(seller_id: str, plan: dict[str, Any], cfg: ShopSettings,
                      send_time: datetime, sending: bool) -> list[dict]:
    """Each A/B variant checked like a plan's own fields, at ``variants[i].<field>``."""
    problems = []
    for i, variant in enumerate(plan.get("variants") or []):
        found = _content_problems(variant["content"], cfg.default_locale)
        if "product_ids" in variant:
            found += _product_problems(seller_id, list(variant["product_ids"] or []))
        if "voucher" in variant:
            found += _voucher_problems(seller_id, experiments.effective(plan, variant),
                                       send_time, sending)
        problems += [{**p, "path": f"variants[{i}].{p['path']}"} for p in found]
    return problems


def validate(seller_id: str, plan: dict[str, Any], cfg: ShopSettings, send_time: datetime,
             *, sending: bool) -> None:
    """Raise Invalid listing every problem of the plan (a draft may be incomplete, a plan
    being sent may not)."""
    problems = rules.shape_problems(plan)
    if sending:
        problems += rules.send_problems(plan)
    if plan.get("audience"):
        problems += _audience_problems(seller_id, plan["audience"])
    if plan.get("content"):
        problems += _content_problems(plan["content"], cfg.default_locale)
    problems += _product_problems(seller_id, list(plan.get("product_ids") or []))
    problems += _voucher_problems(seller_id, plan, send_time, sending)
    problems += _variant_problems(seller_id, plan, cfg, send_time, sending)
    if problems:
        raise Invalid("plan is not valid", problems)
