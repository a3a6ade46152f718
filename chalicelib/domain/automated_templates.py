"""The built-in texts of automated plans, one per trigger, in every template locale (goal =
the trigger type). Same placeholders as every template: {name}, {product}, {voucher}, {shop}."""

from __future__ import annotations

from typing import Any


def _t(template_id: str, trigger: str, name: str, **text: str) -> dict[str, Any]:
    return {"template_id": template_id, "kind": "automated", "goal": trigger, "name": name,
            "text": text}


AUTOMATED_TEMPLATES: list[dict[str, Any]] = [
    _t("cart_recovery", "abandoned_cart", "Abandoned cart recovery",
       en="Hi {name}, you left {product} in your cart at {shop}. It's still waiting for you. {voucher}",
       th="สวัสดีค่ะ {name} คุณยังมี {product} อยู่ในตะกร้าที่ {shop} รีบกลับมาสั่งซื้อนะคะ {voucher}",
       vi="Chào {name}, bạn còn {product} trong giỏ hàng tại {shop}. Sản phẩm vẫn đang chờ bạn. {voucher}",
       id="Hai {name}, {product} masih ada di keranjangmu di {shop}. Yuk selesaikan pesananmu. {voucher}",
       ms="Hai {name}, {product} masih dalam troli anda di {shop}. Jom selesaikan pesanan anda. {voucher}",
       zh="{name}，你在{shop}的购物车里还有{product}，快回来下单吧！{voucher}"),
    _t("payment_recovery", "incomplete_payment", "Incomplete payment recovery",
       en="Hi {name}, your order at {shop} is almost done. Complete the payment to get {product}. {voucher}",
       th="สวัสดีค่ะ {name} คำสั่งซื้อของคุณที่ {shop} ใกล้เสร็จแล้ว ชำระเงินเพื่อรับ {product} ได้เลยค่ะ {voucher}",
       vi="Chào {name}, đơn hàng của bạn tại {shop} sắp hoàn tất. Hãy thanh toán để nhận {product}. {voucher}",
       id="Hai {name}, pesananmu di {shop} hampir selesai. Selesaikan pembayaran untuk mendapatkan {product}. {voucher}",
       ms="Hai {name}, pesanan anda di {shop} hampir siap. Lengkapkan pembayaran untuk mendapatkan {product}. {voucher}",
       zh="{name}，你在{shop}的订单还差一步，完成付款即可拥有{product}。{voucher}"),
    _t("price_drop_alert", "price_drop", "Price drop alert",
       en="Good news, {name}! {product} at {shop} just dropped in price. {voucher}",
       th="ข่าวดีค่ะ {name}! {product} ที่ {shop} ลดราคาแล้ว {voucher}",
       vi="Tin vui, {name}! {product} tại {shop} vừa giảm giá. {voucher}",
       id="Kabar baik, {name}! Harga {product} di {shop} baru saja turun. {voucher}",
       ms="Berita baik, {name}! Harga {product} di {shop} baru sahaja turun. {voucher}",
       zh="{name}，好消息！{shop}的{product}降价啦。{voucher}"),
    _t("live_reminder", "live_reminder", "LIVE starting reminder",
       en="Hi {name}, {shop} is going LIVE in a few minutes. Tap to join! {voucher}",
       th="สวัสดีค่ะ {name} {shop} กำลังจะไลฟ์สดในอีกไม่กี่นาที กดเข้าร่วมได้เลย! {voucher}",
       vi="Chào {name}, {shop} sắp phát LIVE trong vài phút nữa. Nhấn để tham gia! {voucher}",
       id="Hai {name}, {shop} akan LIVE beberapa menit lagi. Ketuk untuk bergabung! {voucher}",
       ms="Hai {name}, {shop} akan LIVE dalam beberapa minit lagi. Tekan untuk sertai! {voucher}",
       zh="{name}，{shop}几分钟后开播，点击进入直播间！{voucher}"),
    _t("order_thank_you", "thank_you", "Thank you after purchase",
       en="Thank you for your order at {shop}, {name}! We hope you enjoy {product}. {voucher}",
       th="ขอบคุณสำหรับคำสั่งซื้อที่ {shop} นะคะ {name}! หวังว่าคุณจะชอบ {product} {voucher}",
       vi="Cảm ơn {name} đã đặt hàng tại {shop}! Mong bạn sẽ thích {product}. {voucher}",
       id="Terima kasih atas pesananmu di {shop}, {name}! Semoga kamu suka {product}. {voucher}",
       ms="Terima kasih atas pesanan anda di {shop}, {name}! Semoga anda suka {product}. {voucher}",
       zh="{name}，感谢你在{shop}下单！希望你喜欢{product}。{voucher}"),
]
