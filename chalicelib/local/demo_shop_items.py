"""The demo shop's catalogue and settings: 20 products (the ids its orders reference), a
welcome voucher and Thai shop settings. Written only when missing, so a reload changes
nothing."""

from __future__ import annotations

from datetime import datetime

PRODUCTS = [
    ("Jasmine Rice 5 kg", "189.00"), ("Coconut Milk 1 L", "59.00"), ("Green Curry Paste", "45.00"),
    ("Fish Sauce 700 ml", "39.00"), ("Dried Mango 200 g", "99.00"), ("Thai Tea Mix 400 g", "129.00"),
    ("Rice Noodles 500 g", "35.00"), ("Chili Crisp Jar", "79.00"), ("Palm Sugar 500 g", "55.00"),
    ("Tom Yum Kit", "149.00"), ("Pandan Cake", "119.00"), ("Durian Chips 100 g", "159.00"),
    ("Sticky Rice 2 kg", "99.00"), ("Lemongrass Soap", "89.00"), ("Herbal Balm", "69.00"),
    ("Silk Scarf", "490.00"), ("Bamboo Steamer", "259.00"), ("Mortar and Pestle", "399.00"),
    ("Cotton Fisherman Pants", "290.00"), ("Coconut Oil 500 ml", "129.00"),
]
VOUCHER_ID = "demo-v-welcome"
SETTINGS = {"shop_name": "Demo Shop", "timezone": "Asia/Bangkok", "default_locale": "th",
            "default_region": "TH"}


def load(seller_id: str, now: datetime) -> dict[str, int]:
    """Write what is missing; returns how many products / vouchers / settings were written."""
    from chalicelib.domain.aggregates import to_ms
    from chalicelib.domain.shop_settings import SettingsPut
    from chalicelib.domain.vouchers import ProductPut
    from chalicelib.services import products as product_service
    from chalicelib.services import shop_settings
    from chalicelib.store import products as product_store
    from chalicelib.store import shop_settings as settings_store
    from chalicelib.store import vouchers as voucher_store

    ids = [f"demo-p{i:02d}" for i in range(1, len(PRODUCTS) + 1)]
    have = product_store.get_products(seller_id, ids)
    products = 0
    for product_id, (name, price) in zip(ids, PRODUCTS, strict=True):
        if product_id not in have:
            product_service.put_product(seller_id, product_id, ProductPut(
                name=name, price=price, currency="THB", stock=100), now)
            products += 1
    voucher = voucher_store.VoucherItem(
        seller_id=seller_id, voucher_id=VOUCHER_ID, name="Welcome 10% off", kind="regular",
        discount={"type": "percent", "value": "10"}, currency="THB", min_spend="200.00",
        claimed=0, code="DEMO10", created_at=to_ms(now), created_by="demo")
    vouchers = int(voucher_store.create_voucher(voucher))
    written = 0
    if settings_store.get(seller_id) is None:
        shop_settings.put(seller_id, SettingsPut(**SETTINGS), None, "demo", now)
        written = 1
    return {"products_created": products, "vouchers_created": vouchers, "settings_written": written}
