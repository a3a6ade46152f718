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


def _refs(value) -> set[str]:
    """Logical ids a template value refers to (Ref, GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    import re

    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    if "Ref" in value:
        return {value["Ref"]}
    if "Fn::GetAtt" in value:
        return {value["Fn::GetAtt"][0]}
    if "Fn::Sub" in value:
        return {m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"])}
    return set().union(*(_refs(v) for v in value.values())) if value else set()


def test_the_policy_names_exactly_this_stacks_resources_by_reference():
    """Changed with issue 9: ARNs are references now, no longer strings with the stage prefix."""
    template = build()
    known = set(template["Resources"]) | set(template["Parameters"])
    pseudo = {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
    for statement in policy()["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            assert isinstance(resource, dict), resource      # never a written ARN or a wildcard one
            refs = _refs(resource)
            assert refs and refs <= known | pseudo, resource
            if refs <= pseudo:       # a pattern of pseudo parameters: scoped to a name of this stage
                assert settings().prefix in resource["Fn::Sub"] or ":logs:" in resource["Fn::Sub"]


def test_every_function_gets_the_arns_and_parameters_it_reads_from_the_template():
    from infra.build import function_ids

    template = build()
    known = set(template["Resources"]) | set(template["Parameters"])
    assert "APIHandler" in function_ids() and len(function_ids()) >= 5
    for fn in function_ids():
        env = template["Resources"][fn]["Properties"]["Environment"]["Variables"]
        assert set(env) >= {"CRM_JWT_SECRET_PARAMETER", "CRM_MESSAGING_ENDPOINT",
                            "CRM_DISPATCH_QUEUE_ARN", "CRM_SCHEDULER_ROLE_ARN",
                            "CRM_SNAPSHOT_BUCKET", "CRM_EXPORT_BUCKET"}
        assert all(_refs(v) and _refs(v) <= known for v in env.values())


def test_every_dlq_and_the_dispatch_queue_age_have_an_alarm():
    from infra.build import dlq_id, queue_id

    alarms = {k: r["Properties"] for k, r in build()["Resources"].items()
              if r.get("Type") == "AWS::CloudWatch::Alarm"}
    depth = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms.values()
             if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
             and (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 0)}
    assert depth == {dlq_id(q.name) for q in QUEUES}
    age = [a for a in alarms.values() if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert [a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in age] == [queue_id("dispatch")]


def test_no_account_region_or_arn_is_written_in_code_or_config():
    """What ships to AWS (app.py, chalicelib/ but the local stack, infra/, .chalice/config.json)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [root / "app.py", root / ".chalice" / "config.json", *(root / "infra").glob("*.py"),
             *(p for p in (root / "chalicelib").rglob("*.py") if "local" not in p.relative_to(root).parts)]
    pattern = re.compile(r"arn:aws|(?<![0-9])[0-9]{12}(?![0-9])|\b[a-z]{2}(?:-gov)?-[a-z]+-[0-9]\b")
    found = [f"{p.relative_to(root)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_the_export_bucket_is_encrypted_private_and_expires_exports_after_seven_days():
    from chalicelib.domain.exports import EXPIRY_DAYS, object_key
    from infra.build import EXPORT_BUCKET, function_ids

    template = build()
    props = template["Resources"][EXPORT_BUCKET]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(props["PublicAccessBlockConfiguration"][k] is True for k in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    rule, = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == EXPIRY_DAYS == 7
    assert object_key("s", "e").startswith(rule["Prefix"])
    for fn in function_ids():
        env = template["Resources"][fn]["Properties"]["Environment"]["Variables"]
        assert env["CRM_EXPORT_BUCKET"] == {"Ref": EXPORT_BUCKET}
    s3 = [st for st in policy()["Statement"] if EXPORT_BUCKET in _refs(st["Resource"])]
    assert {a for st in s3 for a in ([st["Action"]] if isinstance(st["Action"], str)
                                     else st["Action"])} == {
        "s3:GetObject", "s3:PutObject", "s3:ListBucket"}

