"""Every table, declared once: the local stack creates them from here and infra/ reads them."""

from __future__ import annotations

from chalicelib.store.billing import BillingItem
from chalicelib.store.conversations import ConversationItem
from chalicelib.store.customers import CustomerItem
from chalicelib.store.deliveries import ChunkItem, DeliveryRow, EarlyFact
from chalicelib.store.events import EventSeen, ShopEvent
from chalicelib.store.exports import ExportItem
from chalicelib.store.exports import create_bucket as create_export_bucket
from chalicelib.store.imports import ImportItem, RateSlot
from chalicelib.store.inbox import InboxItem
from chalicelib.store.interest import InterestItem
from chalicelib.store.occurrences import OccurrenceItem
from chalicelib.store.orders import NoticeOrderItem, OrderItem
from chalicelib.store.overview import OverviewItem
from chalicelib.store.pacing import PaceItem
from chalicelib.store.plan_history import PlanHistoryItem
from chalicelib.store.plan_stats import PlanStatsItem
from chalicelib.store.plans import PlanItem
from chalicelib.store.products import ProductItem
from chalicelib.store.segments import SegmentItem
from chalicelib.store.shop_settings import SettingsItem
from chalicelib.store.snapshots import ManifestItem, create_bucket
from chalicelib.store.tag_rules import DailyRunItem, RuleIndexItem, TagRuleItem
from chalicelib.store.tags import TagAuditItem, TagItem, TagNameClaim, TagUsage
from chalicelib.store.vouchers import VoucherClaimItem, VoucherItem

TABLES = [
    SegmentItem,
    CustomerItem,
    EventSeen,
    ShopEvent,
    TagItem,
    TagNameClaim,
    TagUsage,
    TagAuditItem,
    ImportItem,
    RateSlot,
    TagRuleItem,
    RuleIndexItem,
    DailyRunItem,
    PlanItem,
    PlanHistoryItem,
    ProductItem,
    VoucherItem,
    VoucherClaimItem,
    SettingsItem,
    ChunkItem,
    DeliveryRow,
    EarlyFact,
    PlanStatsItem,
    InboxItem,
    ManifestItem,
    OccurrenceItem,
    InterestItem,
    BillingItem,
    OrderItem,
    NoticeOrderItem,
    ConversationItem,
    PaceItem,
    ExportItem,
    OverviewItem,
]


def create_all() -> None:
    """Every table, the snapshot bucket and the export bucket (the offline stages' moto; on
    AWS the template creates them)."""
    for model in TABLES:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    create_bucket()
    create_export_bucket()
