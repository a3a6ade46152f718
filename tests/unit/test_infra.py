"""infra/ is generated from the same declarations the local stack creates."""

from chalicelib.settings import settings
from chalicelib.store.queues import QUEUES
from chalicelib.store.tables import TABLES
from infra.build import build, policy


def test_every_declared_table_and_queue_is_in_the_template():
    resources = build()["Resources"]
    names = {r["Properties"].get("TableName") for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"}
    assert names == {m.Meta.table_name for m in TABLES}
    queues = {r["Properties"]["QueueName"] for r in resources.values() if r.get("Type") == "AWS::SQS::Queue"}
    for q in QUEUES:
        assert {settings().queue_name(q.name), settings().queue_name(q.name) + "-dlq"} <= queues


def test_queues_redrive_to_their_dlq_after_five_receives():
    for res in build()["Resources"].values():
        if res.get("Type") == "AWS::SQS::Queue" and not res["Properties"]["QueueName"].endswith("-dlq"):
            assert res["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_every_sqs_event_source_reports_batch_item_failures():
    from chalice.app import SQSEventConfig

    from app import app

    resources = build()["Resources"]
    for src in app.event_sources:
        if isinstance(src, SQSEventConfig):
            fn = "".join(p.capitalize() for p in src.name.split("_"))
            events = resources[fn]["Properties"]["Events"]
            assert events[f"{fn}SqsEventSource"]["Properties"]["FunctionResponseTypes"] == [
                "ReportBatchItemFailures"]


def test_unmatched_paths_are_a_404_in_the_contract_on_api_gateway():
    import json

    res = build()["Resources"]["NoSuchRouteResponse"]["Properties"]
    assert res["StatusCode"] == "404" and res["ResponseType"] == "MISSING_AUTHENTICATION_TOKEN"
    assert json.loads(res["ResponseTemplates"]["application/json"])["error"]["code"] == "not_found"


def test_the_policy_is_scoped_to_this_stage():
    prefix = settings().prefix
    for statement in policy()["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(prefix in r or ":logs:" in r for r in resources)
