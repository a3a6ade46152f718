"""Plans (SPEC.md §4): the plan form's request models, the lifecycle table, and the pure
rules a plan must meet to be saved or sent. Cross-references (segments, products,
vouchers, settings) are looked up by the service and handed in as plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain import experiments, notices
from chalicelib.domain.automated import Window
from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.domain.ids import Id
from chalicelib.domain.send_time import SendAt
from chalicelib.domain.shop_settings import LOCALE_PATTERN, QuietHours, quiet_until
from chalicelib.domain.vouchers import ProductId

Kind = Literal["one_off", "automated", "order_notice"]
Channel = Literal["chat", "sms", "voice"]
Action = Literal["edit", "delete", "send", "cancel", "pause", "resume", "test_send"]
STATUSES = ("draft", "scheduled", "in_progress", "sent", "cancelled", "active", "paused", "ended")
ACTIONS: tuple[str, ...] = ("edit", "delete", "send", "cancel", "pause", "resume", "test_send")
MAX_PRODUCTS = 4
MAX_NAME_WORDS = 100
# A send_at this little in the past is taken as "now" (clock skew between the seller's
# browser and us); anything older is refused rather than silently sent late.
PAST_GRACE = timedelta(seconds=60)
MAX_AHEAD = timedelta(days=366)

# The lifecycle, as data: kind -> action -> statuses it is allowed from. Anything else is a
# 409. "send" leads to scheduled/in_progress (one-off, order notice) or active (automated);
# the other moves are in TARGET. Deleting is for one-off plans only (SPEC.md §4).
LIFECYCLE: dict[str, dict[str, frozenset[str]]] = {
    "one_off": {
        "edit": frozenset({"draft"}),
        "delete": frozenset({"draft", "cancelled"}),
        "send": frozenset({"draft"}),
        "cancel": frozenset({"scheduled", "in_progress"}),
        "pause": frozenset(),
        "resume": frozenset(),
        "test_send": frozenset({"draft", "scheduled", "in_progress"}),
    },
    "order_notice": {
        "edit": frozenset({"draft"}),
        "delete": frozenset(),
        "send": frozenset({"draft"}),
        "cancel": frozenset({"scheduled", "in_progress"}),
        "pause": frozenset(),
        "resume": frozenset(),
        "test_send": frozenset({"draft", "scheduled", "in_progress"}),
    },
    "automated": {
        "edit": frozenset({"draft"}),
        "delete": frozenset(),
        "send": frozenset({"draft"}),
        "cancel": frozenset({"active", "paused"}),
        "pause": frozenset({"active"}),
        "resume": frozenset({"paused"}),
        "test_send": frozenset({"draft", "active", "paused"}),
    },
}
TARGET = {"cancel": "cancelled", "pause": "paused", "resume": "active"}


def allowed_from(kind: str, action: str) -> frozenset[str]:
    return LIFECYCLE[kind][action]


def check_action(kind: str, status: str, action: str) -> None:
    """Raise Conflict when the lifecycle forbids ``action`` on a ``kind`` plan in ``status``."""
    if status not in LIFECYCLE[kind][action]:
        verb = action.replace("_", "-")
        raise Conflict(f"cannot {verb} a {kind.replace('_', '-')} plan that is {status}",
                       [{"path": "status", "message": f"{verb} not allowed when {status}"}])


def _words(value: str) -> str:
    value = value.strip()
    count = len(value.split())
    if not 1 <= count <= MAX_NAME_WORDS:
        raise ValueError(f"name must be 1–{MAX_NAME_WORDS} words (got {count})")
    return value


Name = Annotated[str, Field(max_length=1000), AfterValidator(_words)]
SegmentId = Id
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Locale = Annotated[str, Field(pattern=LOCALE_PATTERN)]


class Audience(BaseModel):
    """Union of ``segment_ids``, narrowed by the ``tags`` filter, minus ``exclude_segment_ids``."""
    model_config = ConfigDict(extra="ignore")
    segment_ids: list[SegmentId] = Field(default_factory=list, max_length=20)
    tags: dict[str, Any] | None = Field(
        default=None, description='a tags node of the segment grammar: {"any"|"all"|"none": [names]}')
    exclude_segment_ids: list[SegmentId] = Field(default_factory=list, max_length=20)


class Content(BaseModel):
    """A built-in template, or a text per locale (must include the shop's default locale)."""
    model_config = ConfigDict(extra="ignore")
    template_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    text: dict[Locale, Text] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _one_of(self) -> Content:
        if (self.template_id is None) == (self.text is None):
            raise ValueError("give exactly one of template_id or text")
        if self.text is not None and not self.text:
            raise ValueError("text needs at least one locale")
        return self


class VoucherChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mode: Literal["chosen", "smart"]
    voucher_id: Id | None = None
    voucher_ids: list[Id] | None = Field(default=None, max_length=50,
                                         description="smart: the candidates (default: all)")

    @model_validator(mode="after")
    def _id_when_chosen(self) -> VoucherChoice:
        if self.mode == "chosen" and not self.voucher_id:
            raise ValueError("a chosen voucher needs voucher_id")
        if self.mode == "chosen" and self.voucher_ids is not None:
            raise ValueError("voucher_ids are for a smart voucher")
        if self.mode == "smart" and self.voucher_id:
            raise ValueError("a smart voucher is picked per customer; leave voucher_id out")
        return self


class Button(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["product_list", "live", "cart"]
    target: Annotated[str, Field(min_length=1, max_length=500)] | None = None


def _channels(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("channels must not repeat")
    return value


Channels = Annotated[list[Channel], Field(min_length=1, max_length=3), AfterValidator(_channels)]
ProductIds = Annotated[list[ProductId], Field(max_length=MAX_PRODUCTS)]


class Variant(BaseModel):
    """One variant of an A/B test: its fields replace the plan's own (one it leaves out
    keeps the plan's; ``voucher: null`` sends it without one)."""
    model_config = ConfigDict(extra="ignore")
    variant_id: experiments.VariantId
    content: Content
    voucher: VoucherChoice | None = None
    product_ids: ProductIds | None = None


Variants = Annotated[list[Variant], Field(min_length=experiments.MIN_VARIANTS,
                                          max_length=experiments.MAX_VARIANTS),
                     AfterValidator(experiments.unique_variants)]


class PlanCreate(BaseModel):
    """Body of POST /v1/plans (API.md "Plans")."""
    model_config = ConfigDict(extra="ignore")
    name: Name
    kind: Kind = "one_off"
    audience: Audience | None = None
    channels: Channels = Field(default_factory=lambda: ["chat"])
    content: Content | None = None
    voucher: VoucherChoice | None = None
    product_ids: ProductIds = Field(default_factory=list)
    button: Button | None = None
    send_at: SendAt | None = Field(
        default=None, description="null = now; any UTC offset; without one, the shop's time "
                                  "zone; \"best\": the shop's peak read hour within 24 h")
    trigger: dict[str, Any] | None = None
    window: Window | None = None                                       # automated
    cooldown_hours: int | None = Field(default=None, ge=0, le=720)     # automated, default 24
    holdout_percent: int | None = Field(default=None, ge=0, le=50)
    variants: Variants | None = Field(default=None, description="A/B test (one-off plans)")
    ab_test: experiments.AbTest | None = Field(default=None, description="required with variants")
    scenario: notices.Scenario | None = Field(default=None, description="order notices")
    orders: list[notices.NoticeOrder] | None = Field(default=None, max_length=notices.MAX_ORDERS)
    action: Literal["draft", "send"] = "draft"


class PlanPatch(BaseModel):
    """Body of PATCH /v1/plans/{plan_id} (drafts only): the fields given replace the stored ones."""
    model_config = ConfigDict(extra="ignore")
    name: Name | None = None
    audience: Audience | None = None
    channels: Channels | None = None
    content: Content | None = None
    voucher: VoucherChoice | None = None
    product_ids: ProductIds | None = None
    button: Button | None = None
    send_at: SendAt | None = None
    trigger: dict[str, Any] | None = None
    window: Window | None = None
    cooldown_hours: int | None = Field(default=None, ge=0, le=720)
    holdout_percent: int | None = Field(default=None, ge=0, le=50)
    variants: Variants | None = None
    ab_test: experiments.AbTest | None = None
    scenario: notices.Scenario | None = None
    orders: list[notices.NoticeOrder] | None = Field(default=None, max_length=notices.MAX_ORDERS)

    @model_validator(mode="after")
    def _not_null(self) -> PlanPatch:
        for required in ("name", "channels", "product_ids"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


class SendTestBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    customer_id: Id


# ----- test sends (API.md: consent first, at most 10 per plan per rolling hour) -------------

TEST_SENDS_PER_HOUR = 10
TEST_SEND_WINDOW_MS = 3_600_000


def consent_refusal(blocked: bool, unsubscribed: bool) -> str | None:
    """Why a customer may not get even a test send (a real message to a real person): they
    blocked the shop or unsubscribed. None when they may."""
    return "blocked" if blocked else "unsubscribed" if unsubscribed else None


def refused_test_send(customer_id: str, reason: str) -> Conflict:
    """The 409 for a test send to a customer who withdrew consent."""
    verb = "blocked the shop" if reason == "blocked" else "unsubscribed"
    return Conflict(f"customer '{customer_id}' {verb}; no test send goes to them",
                    [_detail("customer_id", reason)])


def retry_after_seconds(wait_ms: int) -> int:
    """Whole seconds (at least 1, rounded up) until a rate-limit slot frees up."""
    return max(1, -(-wait_ms // 1000))


def to_utc(send_at: datetime | None, timezone: str) -> datetime | None:
    """A send time in UTC; one given without an offset is read in the shop's time zone
    (SPEC.md: a scheduled time is given in the shop's time zone)."""
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=ZoneInfo(timezone))
    return send_at.astimezone(UTC)


def send_timing(send_at: datetime | None, now: datetime, timezone: str,
                quiet: QuietHours | None) -> tuple[str, datetime | None, list[str]]:
    """(status, send_at in UTC or None for "now", warnings) for sending a one-off plan.

    A past ``send_at`` is refused (400), never sent late by surprise; a send time inside quiet
    hours is deferred to the end of the window, with a warning."""
    when = to_utc(send_at, timezone)
    if when is not None and when < now - PAST_GRACE:
        raise Invalid("send_at is in the past", [{"path": "send_at", "message": "must be in the future"}])
    if when is not None and when > now + MAX_AHEAD:
        raise Invalid("send_at is more than a year ahead",
                      [{"path": "send_at", "message": "at most 366 days ahead"}])
    if when is not None and when <= now:
        when = None
    warnings: list[str] = []
    deferred = quiet_until(when or now, quiet, timezone)
    if deferred is not None and quiet is not None:
        warnings.append(f"quiet_hours: the send time falls inside the shop's quiet hours "
                        f"({quiet.start}–{quiet.end} {timezone}); deferred to "
                        f"{deferred.isoformat().replace('+00:00', 'Z')}")
        when = deferred
    return ("scheduled" if when is not None else "in_progress"), when, warnings


def _detail(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def shape_problems(plan: dict[str, Any]) -> list[dict[str, str]]:
    """Rules that hold for every saved plan, draft or not (plan: the stored field values)."""
    problems = []
    kind = plan["kind"]
    if kind == "one_off" and any(c != "chat" for c in plan.get("channels") or []):
        problems.append(_detail("channels", "a one-off plan sends chat messages; sms and voice "
                                            "are for order notices"))
    button = plan.get("button")
    if button and button["type"] == "cart" and kind != "automated":
        problems.append(_detail("button.type", "a cart button is only for automated plans"))
    voucher = plan.get("voucher")
    if voucher and voucher["mode"] == "smart" and kind != "automated":
        problems.append(_detail("voucher.mode", "a smart voucher is only for automated plans"))
    for i, variant in enumerate(plan.get("variants") or []):
        if (variant.get("voucher") or {}).get("mode") == "smart":
            problems.append(_detail(f"variants[{i}].voucher.mode",
                                    "a smart voucher is only for automated plans"))
    if plan.get("trigger") is not None and kind != "automated":
        problems.append(_detail("trigger", "a trigger is only for automated plans"))
    if plan.get("orders") is not None and kind != "order_notice":
        problems.append(_detail("orders", "orders are only for order notices"))
    if kind == "order_notice":
        problems += notices.shape_problems(plan)
    return problems + experiments.shape_problems(plan)


def send_problems(plan: dict[str, Any]) -> list[dict[str, str]]:
    """What a plan must have before it can be sent (a draft may be incomplete)."""
    if plan["kind"] == "order_notice":
        return notices.send_problems(plan)
    problems = []
    audience = plan.get("audience") or {}
    # A follow-up's audience is the original's non-readers, fixed at its dispatch.
    if not audience.get("segment_ids") and not plan.get("follow_up_of"):
        problems.append(_detail("audience.segment_ids", "at least one segment is required"))
    variants = plan.get("variants")
    if not plan.get("content") and not variants:
        problems.append(_detail("content", "a template_id or a text is required"))
    chat = plan["kind"] == "one_off" and "chat" in (plan.get("channels") or [])
    for path, form in [("", plan)] if not variants else [
            (f"variants[{i}].", experiments.effective(plan, v)) for i, v in enumerate(variants)]:
        if chat and not form.get("product_ids"):
            problems.append(_detail(path + "product_ids",
                                    f"a chat message carries 1–{MAX_PRODUCTS} products"))
    return problems


def tag_names(tags_node: dict[str, Any] | None) -> list[str]:
    """The tag names a ``{"any"|"all"|"none": [...]}`` filter mentions."""
    if not tags_node:
        return []
    return [name for key in ("any", "all", "none") for name in tags_node.get(key) or []
            if isinstance(name, str)]
