"""The built-in message templates (SPEC.md §4: the three one-off goals) and how a message
text is chosen and filled for one recipient.

Configuration as data: the catalogue below is the one place templates are declared.
Placeholders are ``{name}``, ``{product}``, ``{voucher}``, ``{shop}``; a placeholder with no
value renders empty.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.automated_templates import AUTOMATED_TEMPLATES
from chalicelib.domain.errors import Invalid

LOCALES = ("en", "th", "vi", "id", "ms", "zh")
GOALS = ("drive_sales", "bring_back", "build_loyalty")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _t(template_id: str, goal: str, name: str, **text: str) -> dict[str, Any]:
    return {"template_id": template_id, "kind": "one_off", "goal": goal, "name": name,
            "text": text}


TEMPLATES: list[dict[str, Any]] = [
    _t("best_sellers", "drive_sales", "Best sellers",
       en="Hi {name}! Our best seller {product} is flying off the shelves at {shop}. Grab yours with {voucher} before it's gone!",
       th="สวัสดีค่ะ {name}! {product} สินค้าขายดีของ {shop} กำลังจะหมดแล้ว ใช้ {voucher} แล้วรีบสั่งเลยนะคะ!",
       vi="Chào {name}! Sản phẩm bán chạy {product} của {shop} sắp hết hàng. Dùng {voucher} và đặt ngay nhé!",
       id="Hai {name}! Produk terlaris {product} di {shop} hampir habis. Pakai {voucher} dan pesan sekarang!",
       ms="Hai {name}! Produk terlaris {product} di {shop} hampir habis. Guna {voucher} dan pesan sekarang!",
       zh="{name}，你好！{shop}的热销商品{product}即将售罄，使用{voucher}赶快下单吧！"),
    _t("new_arrival", "drive_sales", "New product launch",
       en="Hi {name}, something new just landed at {shop}: {product}. Be the first to try it, and enjoy {voucher}!",
       th="สวัสดีค่ะ {name} สินค้าใหม่มาแล้วที่ {shop}: {product} เป็นคนแรกที่ได้ลอง พร้อมรับ {voucher}!",
       vi="Chào {name}, {shop} vừa ra mắt sản phẩm mới: {product}. Hãy là người đầu tiên trải nghiệm và nhận {voucher}!",
       id="Hai {name}, produk baru sudah tiba di {shop}: {product}. Jadilah yang pertama mencoba dan nikmati {voucher}!",
       ms="Hai {name}, produk baharu sudah tiba di {shop}: {product}. Jadilah yang pertama mencuba dan nikmati {voucher}!",
       zh="{name}，你好！{shop}上新啦：{product}。抢先体验，还可使用{voucher}！"),
    _t("live_promo", "drive_sales", "Promote a LIVE",
       en="Hi {name}, {shop} is going LIVE soon with special deals on {product}. Tap to join and use {voucher}!",
       th="สวัสดีค่ะ {name} {shop} กำลังจะไลฟ์สด พร้อมดีลพิเศษสำหรับ {product} กดเข้าร่วมและใช้ {voucher} ได้เลย!",
       vi="Chào {name}, {shop} sắp phát LIVE với ưu đãi đặc biệt cho {product}. Nhấn để tham gia và dùng {voucher}!",
       id="Hai {name}, {shop} akan segera LIVE dengan promo spesial untuk {product}. Ketuk untuk bergabung dan pakai {voucher}!",
       ms="Hai {name}, {shop} akan LIVE tidak lama lagi dengan tawaran istimewa untuk {product}. Tekan untuk sertai dan guna {voucher}!",
       zh="{name}，你好！{shop}即将开播，{product}有直播专属优惠，点击进入直播间并使用{voucher}！"),
    _t("sale_campaign", "drive_sales", "Promote a sale or campaign",
       en="Hi {name}, the {shop} sale is on! {product} and more at special prices. Use {voucher} at checkout.",
       th="สวัสดีค่ะ {name} {shop} จัดโปรลดราคาแล้ว! {product} และสินค้าอื่นๆ ราคาพิเศษ ใช้ {voucher} ตอนชำระเงินนะคะ",
       vi="Chào {name}, {shop} đang giảm giá! {product} và nhiều sản phẩm khác với giá ưu đãi. Dùng {voucher} khi thanh toán.",
       id="Hai {name}, promo {shop} sedang berlangsung! {product} dan lainnya dengan harga spesial. Pakai {voucher} saat checkout.",
       ms="Hai {name}, jualan {shop} sedang berlangsung! {product} dan lain-lain pada harga istimewa. Guna {voucher} semasa pembayaran.",
       zh="{name}，你好！{shop}大促进行中，{product}等商品限时特价，结算时使用{voucher}。"),
    _t("follower_first_order", "bring_back", "Turn followers into buyers",
       en="Thanks for following {shop}, {name}! Here is {voucher} for your first order. We think you'll love {product}.",
       th="ขอบคุณที่ติดตาม {shop} นะคะ {name}! รับ {voucher} สำหรับคำสั่งซื้อแรก เราคิดว่าคุณจะชอบ {product}",
       vi="Cảm ơn {name} đã theo dõi {shop}! Tặng bạn {voucher} cho đơn hàng đầu tiên. Có thể bạn sẽ thích {product}.",
       id="Terima kasih sudah mengikuti {shop}, {name}! Ini {voucher} untuk pesanan pertamamu. Kamu pasti suka {product}.",
       ms="Terima kasih kerana mengikuti {shop}, {name}! Ini {voucher} untuk pesanan pertama anda. Anda pasti suka {product}.",
       zh="{name}，感谢关注{shop}！送你{voucher}，首单可用。相信你会喜欢{product}。"),
    _t("repeat_purchase", "bring_back", "Repeat purchase",
       en="Hi {name}, time to restock? {product} is waiting for you at {shop}. Order again with {voucher}.",
       th="สวัสดีค่ะ {name} ถึงเวลาเติมของแล้วหรือยัง? {product} รอคุณอยู่ที่ {shop} สั่งซื้ออีกครั้งพร้อม {voucher}",
       vi="Chào {name}, đã đến lúc mua thêm? {product} đang chờ bạn tại {shop}. Đặt lại ngay với {voucher}.",
       id="Hai {name}, waktunya belanja lagi? {product} menunggumu di {shop}. Pesan lagi dengan {voucher}.",
       ms="Hai {name}, masa untuk beli lagi? {product} sedang menunggu anda di {shop}. Pesan semula dengan {voucher}.",
       zh="{name}，该补货啦！{shop}的{product}在等你，使用{voucher}再次下单吧。"),
    _t("win_back", "bring_back", "Win back inactive customers",
       en="We miss you, {name}! Come back to {shop} and enjoy {voucher} on {product} and more.",
       th="คิดถึงคุณนะคะ {name}! กลับมาที่ {shop} แล้วรับ {voucher} สำหรับ {product} และสินค้าอื่นๆ",
       vi="{shop} nhớ bạn lắm, {name}! Quay lại và nhận {voucher} cho {product} và nhiều sản phẩm khác.",
       id="Kami rindu kamu, {name}! Kembali ke {shop} dan nikmati {voucher} untuk {product} dan lainnya.",
       ms="Kami rindu anda, {name}! Kembali ke {shop} dan nikmati {voucher} untuk {product} dan lain-lain.",
       zh="{name}，好久不见，{shop}想你了！回来看看吧，{product}等商品可使用{voucher}。"),
    _t("ask_review", "build_loyalty", "Ask for a review",
       en="Hi {name}, how do you like {product}? A quick review helps {shop} a lot. Thank you!",
       th="สวัสดีค่ะ {name} ชอบ {product} ไหมคะ? ช่วยรีวิวสั้นๆ ให้ {shop} หน่อยนะคะ ขอบคุณค่ะ!",
       vi="Chào {name}, bạn thấy {product} thế nào? Một đánh giá ngắn sẽ giúp {shop} rất nhiều. Cảm ơn bạn!",
       id="Hai {name}, bagaimana {product} menurutmu? Ulasan singkatmu sangat membantu {shop}. Terima kasih!",
       ms="Hai {name}, bagaimana dengan {product}? Ulasan ringkas anda sangat membantu {shop}. Terima kasih!",
       zh="{name}，你好！{product}用得还满意吗？留下简短评价对{shop}帮助很大，谢谢！"),
    _t("thank_you", "build_loyalty", "Thank loyal customers",
       en="Thank you for shopping with {shop}, {name}! As a thank-you, here is {voucher} for your next order.",
       th="ขอบคุณที่อุดหนุน {shop} นะคะ {name}! รับ {voucher} สำหรับคำสั่งซื้อถัดไปเป็นการขอบคุณค่ะ",
       vi="Cảm ơn {name} đã mua sắm tại {shop}! Để tri ân, tặng bạn {voucher} cho đơn hàng tiếp theo.",
       id="Terima kasih sudah berbelanja di {shop}, {name}! Sebagai tanda terima kasih, ini {voucher} untuk pesanan berikutnya.",
       ms="Terima kasih kerana membeli-belah di {shop}, {name}! Sebagai penghargaan, ini {voucher} untuk pesanan seterusnya.",
       zh="{name}，感谢你在{shop}购物！送你{voucher}，下次下单可用。"),
]
TEMPLATES += AUTOMATED_TEMPLATES   # one per trigger (domain/automated_templates.py)
BY_ID: dict[str, dict[str, Any]] = {t["template_id"]: t for t in TEMPLATES}


def listing(kind: str | None = None, goal: str | None = None, locale: str | None = None
            ) -> list[dict[str, Any]]:
    """Templates filtered by kind and goal; with ``locale``, only that locale's text (the
    closest one the template has, as a recipient would get it)."""
    out = []
    for template in TEMPLATES:
        if (kind and template["kind"] != kind) or (goal and template["goal"] != goal):
            continue
        text = template["text"]
        if locale:
            used = pick_locale(text, locale, "en")
            text = {used: text[used]}
        out.append({**template, "text": dict(text)})
    return out


def _candidates(locale: str | None) -> list[str]:
    if not locale:
        return []
    lowered = locale.lower()
    return [lowered, lowered.split("-")[0]]


def pick_locale(text_by_locale: dict[str, str], locale: str | None, default_locale: str) -> str:
    """The key of the text a recipient gets: their language (exact, then its primary subtag,
    so ``th-TH`` reads ``th``), else the shop's default, else English, else any."""
    keys = {k.lower(): k for k in text_by_locale}
    for wanted in [*_candidates(locale), *_candidates(default_locale), "en"]:
        if wanted in keys:
            return keys[wanted]
    if not text_by_locale:
        raise ValueError("no text to choose from")
    return sorted(text_by_locale)[0]


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``{placeholder}``s; one without a value (or unknown) renders empty."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1)) or ""), text)


def render(text_by_locale: dict[str, str], locale: str | None, default_locale: str,
           values: dict[str, str]) -> tuple[str, str]:
    """(filled text, locale used) for one recipient."""
    used = pick_locale(text_by_locale, locale, default_locale)
    return fill(text_by_locale[used], values), used


def resolve_content(content: dict[str, Any]) -> dict[str, str]:
    """A plan's content (``{"template_id"}`` or ``{"text": {locale: text}}``) as text per locale."""
    if content.get("template_id") is not None:
        template = BY_ID.get(content["template_id"])
        if template is None:
            raise Invalid(f"unknown template '{content['template_id']}'",
                          [{"path": "content.template_id", "message": "no such template"}])
        return dict(template["text"])
    text = content.get("text")
    if not text:
        raise Invalid("content needs a template_id or a text",
                      [{"path": "content", "message": "template_id or text required"}])
    return dict(text)
