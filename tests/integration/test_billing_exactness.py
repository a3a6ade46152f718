"""Money under races, duplicates and crashes: concurrent sends never take the balance below
zero; each delivered paid message is charged once and the rest released once, whatever
SQS redelivers or wherever a process dies; SMS and voice requests checked against
botocore's own model of AWS End User Messaging (moto does not serve it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.integration.delivery_support import run_pipeline
from tests.integration.notice_support import (
    assert_ledger_sums,
    cost_from_ledger,
    ledger,
    notice_body,
    seed_orders,
    topup,
)


def test_concurrent_sends_never_take_the_balance_below_zero(api, app, atomic_moto):
    from chalicelib.domain.billing import InsufficientBalance
    from chalicelib.services import plans

    orders = seed_orders(api, 16)
    topup(api, "0.350")                       # ten SMS; eight notices of two SMS each race for it
    ids = [api.post("/v1/plans", notice_body(orders[2 * i:2 * i + 2], channels=["sms"],
                                             action="draft")).json["plan_id"] for i in range(8)]

    def send(plan_id: str) -> str:
        try:
            plans.send(api.seller_id, plan_id, datetime.now(UTC))
            return "sent"
        except InsufficientBalance:
            return "402"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, ids))
    assert sorted(results) == ["402"] * 3 + ["sent"] * 5, results
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.000", "0.350")
    statuses = {pid: api.get(f"/v1/plans/{pid}").json["status"] for pid in ids}
    assert sorted(statuses.values()) == ["draft"] * 3 + ["in_progress"] * 5
    reserved_for = {e["plan_id"] for e in ledger(api) if e["kind"] == "reserve"}
    assert reserved_for == {pid for pid, s in statuses.items() if s == "in_progress"}
    run_pipeline(app)
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.000", "0.000")
    assert sum(cost_from_ledger(api, pid) for pid in ids) == Decimal("0.350")


def test_a_plan_is_reserved_once_even_when_its_send_races_itself(api, atomic_moto):
    from chalicelib.domain.errors import Conflict
    from chalicelib.services import plans

    orders = seed_orders(api, 2)
    topup(api, "1")
    pid = api.post("/v1/plans", notice_body(orders, channels=["sms"], action="draft")).json["plan_id"]

    def send(_: int) -> str:
        try:
            plans.send(api.seller_id, pid, datetime.now(UTC))
            return "sent"
        except Conflict:
            return "409"

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(send, range(6)))
    assert sorted(results) == ["409"] * 5 + ["sent"]
    assert [e["kind"] for e in ledger(api)] == ["reserve", "topup"]
    assert api.get("/v1/billing").json["reserved"] == "0.070"


def test_a_failed_hand_over_gives_the_reservation_back_with_the_draft(api, monkeypatch):
    from chalicelib.delivery import dispatch

    orders = seed_orders(api, 2)
    topup(api, "1")

    def down(*_a, **_k):
        raise RuntimeError("queue down")

    monkeypatch.setattr(dispatch, "enqueue", down)
    pid = api.post("/v1/plans", notice_body(orders, channels=["sms"], action="draft")).json["plan_id"]
    with pytest.raises(RuntimeError):
        from chalicelib.services import plans

        plans.send(api.seller_id, pid, datetime.now(UTC))
    assert api.get(f"/v1/plans/{pid}").json["status"] == "draft"
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("1.000", "0.000")
    monkeypatch.undo()
    assert api.post(f"/v1/plans/{pid}/send").json["status"] == "in_progress"   # and again
    assert api.get("/v1/billing").json["reserved"] == "0.070"


def test_cancel_mid_send_charges_what_went_out_and_releases_the_rest_once(api, app, monkeypatch):
    from chalicelib.settings import settings
    from tests.integration.delivery_support import pump

    monkeypatch.setattr(settings(), "delivery_chunk_size", 2)
    orders = seed_orders(api, 6)
    topup(api, "1")
    pid = api.post("/v1/plans", notice_body(orders, channels=["sms"])).json["plan_id"]
    pump(app, "dispatch")
    from chalicelib.delivery import worker

    worker.deliver_chunk(api.seller_id, pid, 0, datetime.now(UTC))     # two SMS went out
    assert api.post(f"/v1/plans/{pid}/cancel").json["status"] == "cancelled"
    # chunk 0 was charged; the rest stays held while chunks are still to finish
    assert api.get("/v1/billing").json["reserved"] == "0.140"
    run_pipeline(app, duplicate=True)
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.930", "0.000")
    assert cost_from_ledger(api, pid) == Decimal("0.070")
    assert [e["kind"] for e in ledger(api)].count("release") == 1
    rows = api.get(f"/v1/plans/{pid}/deliveries").json["items"]
    assert sorted((d["status"], d.get("reason")) for d in rows) == [
        ("delivered", None)] * 2 + [("skipped", "cancelled")] * 4
    assert all("order_id" in d and d["channel"] == "sms" for d in rows)


# ----- AWS End User Messaging, checked against botocore's own service model -----------------

@pytest.fixture
def stubbed_sms(monkeypatch):
    """The SMS/voice client of store/aws, wrapped in botocore's Stubber: every request is
    validated against the service model (a wrong parameter name or type fails the test)."""
    import boto3
    from botocore.stub import Stubber

    from chalicelib.settings import settings
    from chalicelib.store import aws

    real = boto3.session.Session().client("pinpoint-sms-voice-v2", region_name="us-east-1")
    stubber = Stubber(real)
    monkeypatch.setitem(aws._clients, "pinpoint-sms-voice-v2", real)
    monkeypatch.setattr(settings(), "phone_channel", "aws")
    monkeypatch.setattr(settings(), "sms_origination_identity", "arn:aws:sms-voice:us-east-1:1:pool/p")
    monkeypatch.setattr(settings(), "voice_origination_identity", "+12065550100")
    with stubber:
        yield stubber


def test_sms_and_voice_go_through_end_user_messaging_with_the_delivery_key_as_context(
        api, app, stubbed_sms):
    from botocore.stub import ANY

    orders = seed_orders(api, 3, no_phone=(2,))
    topup(api, "1")
    sms = api.post("/v1/plans", notice_body(orders, channels=["sms"])).json["plan_id"]
    for i in range(2):
        stubbed_sms.add_response("send_text_message", {"MessageId": f"m{i}"}, {
            "DestinationPhoneNumber": f"+6681{i:07d}", "MessageBody": ANY,
            "MessageType": "TRANSACTIONAL",
            "OriginationIdentity": "arn:aws:sms-voice:us-east-1:1:pool/p",
            "Context": {"delivery_key": f"{sms}#{orders[i]}#sms"}})
    run_pipeline(app)
    stubbed_sms.assert_no_pending_responses()
    rows = {d["order_id"]: (d["status"], d.get("reason"))
            for d in api.get(f"/v1/plans/{sms}/deliveries").json["items"]}
    assert rows == {orders[0]: ("delivered", None), orders[1]: ("delivered", None),
                    orders[2]: ("skipped", "no_phone")}
    assert api.get(f"/v1/plans/{sms}/performance").json["cost"] == "0.070"

    voice = api.post("/v1/plans", notice_body(orders[:2], channels=["chat", "voice"],
                                               scenario="out_of_stock")).json["plan_id"]
    stubbed_sms.add_response("send_voice_message", {"MessageId": "v0"}, {
        "DestinationPhoneNumber": "+66810000000", "OriginationIdentity": "+12065550100",
        "MessageBody": ANY, "MessageBodyTextType": "TEXT", "VoiceId": "JOANNA",   # an en text
        "Context": {"delivery_key": f"{voice}#{orders[0]}#voice"}})
    # a number the service refuses fails that message alone, and is not charged
    stubbed_sms.add_client_error("send_voice_message", "ValidationException", "bad number")
    run_pipeline(app)
    stubbed_sms.assert_no_pending_responses()
    rows = {(d["order_id"], d["channel"]): (d["status"], d.get("reason"))
            for d in api.get(f"/v1/plans/{voice}/deliveries").json["items"]}
    assert rows[(orders[0], "voice")] == ("delivered", None)
    assert rows[(orders[1], "voice")] == ("failed", "rejected_invalid")
    assert rows[(orders[1], "chat")] == ("delivered", None)
    assert api.get(f"/v1/plans/{voice}/performance").json["cost"] == "0.200"
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.730", "0.000")


def test_a_throttled_provider_retries_the_chunk_without_sending_twice(api, app, stubbed_sms):
    from botocore.stub import ANY

    from chalicelib.delivery import worker

    orders = seed_orders(api, 2)
    topup(api, "1")
    pid = api.post("/v1/plans", notice_body(orders, channels=["sms"])).json["plan_id"]
    from tests.integration.delivery_support import pump

    pump(app, "dispatch")
    stubbed_sms.add_response("send_text_message", {"MessageId": "m0"})
    stubbed_sms.add_client_error("send_text_message", "ThrottlingException", "slow down",
                                 http_status_code=429)
    with pytest.raises(Exception, match="sms provider failed"):
        worker.deliver_chunk(api.seller_id, pid, 0, datetime.now(UTC))
    # the retry sends only the second SMS (the first is kept on the chunk as sent)
    stubbed_sms.add_response("send_text_message", {"MessageId": "m1"}, {
        "DestinationPhoneNumber": "+66810000001", "MessageBody": ANY, "MessageType": "TRANSACTIONAL",
        "OriginationIdentity": "arn:aws:sms-voice:us-east-1:1:pool/p",
        "Context": {"delivery_key": f"{pid}#{orders[1]}#sms"}})
    run_pipeline(app)
    stubbed_sms.assert_no_pending_responses()
    assert api.get(f"/v1/plans/{pid}/performance").json["cost"] == "0.070"
