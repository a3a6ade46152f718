"""Order notices (SPEC.md §4, the Douyin seed), pure: the orders a notice carries and what
each scenario needs of them, the ship date's two input forms and its rendering per locale,
the fixed template of each scenario in every template locale, the CSV upload's rows, and
the units of delivery (one message per order and channel).

Configuration as data: ``TEMPLATES`` is the one place the notice texts are declared."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.errors import validation_details
from chalicelib.domain.ids import Id
from chalicelib.domain.templates import LOCALES, fill, pick_locale

Scenario = Literal["delayed_shipping", "out_of_stock"]
SCENARIOS: tuple[str, ...] = ("delayed_shipping", "out_of_stock")
MAX_ORDERS = 10_000
# The channel sets a notice may go through (order does not matter): chat, SMS or voice
# singly, or chat with one of the two paid ones (the seed's advice).
CHANNEL_SETS = (frozenset({"chat"}), frozenset({"sms"}), frozenset({"voice"}),
                frozenset({"chat", "sms"}), frozenset({"chat", "voice"}))
# What each scenario needs of every order, beyond its id and product name.
REQUIRED = {"delayed_shipping": ("ship_date", "reason"), "out_of_stock": ("solution",)}
CSV_COLUMNS = ("order_id", "product_name", "ship_date", "reason", "solution")
UNIT_SEP = "/"    # never inside an id (ids are A–Z a–z 0–9 . _ : - + @)
_ZH_DATE = re.compile(r"^(\d{2})月(\d{2})日$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS_IN = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_ship_date(value: str) -> tuple[int, int]:
    """(month, day) of a ship date given as an ISO date (``2026-12-05``) or as the seed's
    zero-padded ``MM月DD日`` (``12月05日``); ValueError otherwise."""
    value = value.strip()
    found = _ZH_DATE.match(value)
    if found:
        month, day = int(found.group(1)), int(found.group(2))
        if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN[month - 1]:
            raise ValueError(f"'{value}' is not a day of the year")
        return month, day
    if _ISO_DATE.match(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a date") from None
        return parsed.month, parsed.day
    raise ValueError("ship_date must be an ISO date (2026-12-05) or MM月DD日, zero-padded (12月05日)")


def render_ship_date(value: str | None, locale: str) -> str:
    """``MM月DD日`` for zh, ``Mon DD`` for en (``Dec 05``), ``DD/MM`` for every other locale."""
    if not value:
        return ""
    month, day = parse_ship_date(value)
    primary = locale.lower().split("-")[0]
    if primary == "zh":
        return f"{month:02d}月{day:02d}日"
    if primary == "en":
        return f"{_MONTHS[month - 1]} {day:02d}"
    return f"{day:02d}/{month:02d}"


def _ship_date(value: str) -> str:
    parse_ship_date(value)
    return value.strip()


Field200 = Annotated[str, Field(min_length=1, max_length=200)]
Field500 = Annotated[str, Field(min_length=1, max_length=500)]


class NoticeOrder(BaseModel):
    """One order of a notice: its customer (who paid it) is the recipient."""
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    order_id: Id
    product_name: Field200
    ship_date: Annotated[str, Field(max_length=20, description="ISO date or MM月DD日 (zero-padded)",
                                    examples=["12月05日", "2026-12-05"]),
                         AfterValidator(_ship_date)] | None = None
    reason: Field500 | None = None
    solution: Field500 | None = None


def missing_fields(scenario: str, order: dict[str, Any]) -> list[str]:
    """The fields ``scenario`` needs that this order lacks."""
    return [f for f in REQUIRED.get(scenario, ()) if not order.get(f)]


def orders_problems(scenario: str | None, orders: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every order's missing fields (``orders[i].field``) and repeated order ids (``orders[i]``)."""
    problems, seen = [], set()
    for index, order in enumerate(orders):
        if scenario:
            problems += [{"path": f"orders[{index}].{f}", "message": f"required for {scenario}"}
                         for f in missing_fields(scenario, order)]
        if order["order_id"] in seen:
            problems.append({"path": f"orders[{index}]",
                             "message": f"order '{order['order_id']}' is repeated"})
        seen.add(order["order_id"])
    return problems


def shape_problems(plan: dict[str, Any]) -> list[dict[str, str]]:
    """What every saved order notice must meet (a draft included)."""
    problems = []
    channels = plan.get("channels") or []
    if frozenset(channels) not in CHANNEL_SETS:
        problems.append({"path": "channels", "message": "chat, sms, voice, chat+sms or chat+voice"})
    if plan.get("content") is not None:
        problems.append({"path": "content", "message": "an order notice's text is its scenario's "
                                                       "fixed template; leave content out"})
    for name in ("audience", "voucher", "button"):
        if plan.get(name) is not None:
            problems.append({"path": name, "message": "not for order notices (the orders' "
                                                      "customers are the recipients)"})
    if plan.get("product_ids"):
        problems.append({"path": "product_ids", "message": "not for order notices"})
    if not plan.get("scenario"):
        problems.append({"path": "scenario", "message": "delayed_shipping or out_of_stock is required"})
    return problems


def send_problems(plan: dict[str, Any]) -> list[dict[str, str]]:
    if not plan.get("order_count"):
        return [{"path": "orders", "message": "at least one order is required"}]
    return []


# ----- the fixed templates ------------------------------------------------------------------

TEMPLATES: dict[str, dict[str, str]] = {
    "delayed_shipping": {
        "en": "{shop}: we are sorry, your order {order_id} ({product}) is delayed because {reason}. "
              "It will ship by {ship_date}. Thank you for your patience.",
        "th": "{shop}: ขออภัยค่ะ คำสั่งซื้อ {order_id} ({product}) จัดส่งล่าช้าเนื่องจาก {reason} "
              "จะจัดส่งภายใน {ship_date} ขอบคุณที่รอนะคะ",
        "vi": "{shop}: Xin lỗi, đơn hàng {order_id} ({product}) bị giao chậm do {reason}. "
              "Đơn sẽ được gửi trước {ship_date}. Cảm ơn bạn đã kiên nhẫn.",
        "id": "{shop}: Mohon maaf, pesanan {order_id} ({product}) terlambat karena {reason}. "
              "Akan dikirim paling lambat {ship_date}. Terima kasih atas kesabaranmu.",
        "ms": "{shop}: Maaf, pesanan {order_id} ({product}) lewat kerana {reason}. "
              "Ia akan dihantar selewat-lewatnya {ship_date}. Terima kasih atas kesabaran anda.",
        "zh": "{shop}：非常抱歉，您的订单{order_id}（{product}）因{reason}延迟发货，"
              "预计{ship_date}前发出，感谢您的耐心等待。",
    },
    "out_of_stock": {
        "en": "{shop}: we are sorry, {product} in your order {order_id} is out of stock. "
              "{solution}. Reply to us if you need any help.",
        "th": "{shop}: ขออภัยค่ะ {product} ในคำสั่งซื้อ {order_id} สินค้าหมด {solution} "
              "หากต้องการความช่วยเหลือ ตอบกลับเราได้เลยค่ะ",
        "vi": "{shop}: Xin lỗi, {product} trong đơn hàng {order_id} đã hết hàng. {solution}. "
              "Hãy trả lời nếu bạn cần hỗ trợ.",
        "id": "{shop}: Mohon maaf, {product} di pesanan {order_id} sedang habis. {solution}. "
              "Balas pesan ini jika butuh bantuan.",
        "ms": "{shop}: Maaf, {product} dalam pesanan {order_id} kehabisan stok. {solution}. "
              "Balas kepada kami jika anda perlukan bantuan.",
        "zh": "{shop}：非常抱歉，您订单{order_id}中的{product}暂时缺货。{solution}。"
              "如需帮助，请回复我们。",
    },
}
NAMES = {"delayed_shipping": "Delayed shipping", "out_of_stock": "Out of stock"}
assert all(set(texts) == set(LOCALES) for texts in TEMPLATES.values())


def render(scenario: str, order: dict[str, Any], language: str | None, default_locale: str,
           shop: str, name: str | None = None) -> tuple[str, str]:
    """(text, locale) of one order's notice for a recipient of ``language``: their locale,
    else the shop's default, else English; ``{ship_date}`` in that locale's form."""
    texts = TEMPLATES[scenario]
    used = pick_locale(texts, language, default_locale)
    values = {"shop": shop, "name": name or "", "order_id": order.get("order_id") or "",
              "product": order.get("product_name") or "",
              "ship_date": render_ship_date(order.get("ship_date"), used),
              "reason": order.get("reason") or "", "solution": order.get("solution") or ""}
    return fill(texts[used], values), used


def listing(locale: str | None = None) -> list[dict[str, Any]]:
    """The two scenarios' templates as GET /v1/templates?kind=order_notice lists them."""
    out = []
    for scenario, texts in TEMPLATES.items():
        text = dict(texts)
        if locale:
            used = pick_locale(texts, locale, "en")
            text = {used: texts[used]}
        out.append({"template_id": scenario, "kind": "order_notice", "goal": scenario,
                    "name": NAMES[scenario], "text": text})
    return out


# ----- units of delivery ---------------------------------------------------------------------

def unit(order_id: str, channel: str) -> str:
    """One message: an order on one channel (the delivery row's key)."""
    return f"{order_id}{UNIT_SEP}{channel}"


def split_unit(value: str) -> tuple[str, str]:
    order_id, _, channel = value.rpartition(UNIT_SEP)
    return order_id, channel


# ----- the CSV upload --------------------------------------------------------------------------

def parse_csv(raw: bytes | str, scenario: str | None
              ) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """(data rows, accepted orders with their row numbers, errors [{row, reason}]) of an
    uploaded orders file. Rows count from 1 after the header; a row missing a field its
    scenario needs, malformed, or repeating an order id fails alone. Raises ValueError when
    the file is not UTF-8 or lacks a column."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("the file is not UTF-8") from None
    reader = csv.reader(io.StringIO(raw.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise ValueError(f"the file is empty; expected the columns {', '.join(CSV_COLUMNS)}")
    names = [h.strip().lower() for h in header]
    absent = [c for c in ("order_id", "product_name") if c not in names]
    if absent:
        raise ValueError(f"missing column(s) {', '.join(absent)}; expected {', '.join(CSV_COLUMNS)}")
    rows, accepted, errors, seen = 0, [], [], set()
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        rows += 1
        data = {name: cells[i].strip() for i, name in enumerate(names)
                if name in CSV_COLUMNS and i < len(cells) and cells[i].strip()}
        try:
            order = NoticeOrder.model_validate(data).model_dump(exclude_none=True)
        except ValidationError as exc:
            errors.append({"row": rows, "reason": "; ".join(
                f"{d['path']}: {d['message']}" for d in validation_details(exc))})
            continue
        missing = missing_fields(scenario, order) if scenario else []
        if missing:
            errors.append({"row": rows, "reason": f"{', '.join(missing)} required for {scenario}"})
        elif order["order_id"] in seen:
            errors.append({"row": rows, "reason": f"order '{order['order_id']}' is repeated"})
        else:
            seen.add(order["order_id"])
            accepted.append({**order, "_row": rows})
    return rows, accepted, errors
