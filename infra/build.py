"""Builds the deployable infrastructure from the one declaration in code.

    CRM_STAGE=dev python -m infra.build      # writes infra/build/resources-dev.json + .chalice/policy-dev.json

`resources-<stage>.json` is a CloudFormation fragment that `chalice package
--merge-template` merges into the SAM template Chalice generates: every DynamoDB table
of ``chalicelib.store.tables.TABLES`` (keys, GSIs, TTL, on-demand), every SQS queue of
``chalicelib.store.queues.QUEUES`` with its DLQ (redrive after 5 receives), the EventBridge
Scheduler group and the role the scheduler assumes to send to the dispatch queue, and
``ReportBatchItemFailures`` on every SQS event source (Chalice does not set it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def _cfn_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def table_resources() -> dict[str, Any]:
    from chalicelib.store.tables import TABLES

    out = {}
    for model in TABLES:
        schema = model._get_schema()
        props: dict[str, Any] = {
            "TableName": model.Meta.table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": schema["attribute_definitions"],
            "KeySchema": sorted(schema["key_schema"], key=lambda k: k["KeyType"]),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        if schema.get("global_secondary_indexes"):
            props["GlobalSecondaryIndexes"] = [
                {"IndexName": g["index_name"], "KeySchema": g["key_schema"],
                 "Projection": g["projection"]} for g in schema["global_secondary_indexes"]]
        ttl = model._ttl_attribute()
        if ttl is not None:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
        out[_cfn_name(model.Meta.table_name) + "Table"] = {"Type": "AWS::DynamoDB::Table",
                                                          "Properties": props}
    return out


def queue_resources() -> dict[str, Any]:
    from chalicelib.settings import settings
    from chalicelib.store.queues import MAX_RECEIVES, QUEUES

    cfg = settings()
    out: dict[str, Any] = {}
    for q in QUEUES:
        name = cfg.queue_name(q.name)
        dlq = _cfn_name(name) + "Dlq"
        out[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": name + "-dlq", "MessageRetentionPeriod": 1209600}}
        out[_cfn_name(name) + "Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": name, "VisibilityTimeout": q.visibility_timeout,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                              "maxReceiveCount": MAX_RECEIVES}}}
    return out


def scheduler_resources() -> dict[str, Any]:
    from chalicelib.settings import settings

    cfg = settings()
    return {
        "PlansScheduleGroup": {"Type": "AWS::Scheduler::ScheduleGroup",
                               "Properties": {"Name": cfg.scheduler_group}},
        "SchedulerToSqsRole": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": f"{cfg.prefix}scheduler-to-sqs",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "send-to-crm-queues", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sqs:SendMessage",
                    "Resource": {"Fn::Sub": f"arn:aws:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{cfg.prefix}*"}}]}}]}},
    }


def event_source_patches() -> dict[str, Any]:
    """Partial batch responses: Chalice's SQS event sources do not set FunctionResponseTypes."""
    from chalice.app import SQSEventConfig

    from app import app

    out: dict[str, Any] = {}
    for src in app.event_sources:
        if isinstance(src, SQSEventConfig):
            fn = _cfn_name(src.name)
            out[fn] = {"Properties": {"Events": {f"{fn}SqsEventSource": {"Properties": {
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}}}
    return out


def policy() -> dict[str, Any]:
    from chalicelib.settings import settings

    prefix = settings().prefix
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                       "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan",
                                       "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                                       "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"],
         "Resource": [f"arn:aws:dynamodb:*:*:table/{prefix}*",
                      f"arn:aws:dynamodb:*:*:table/{prefix}*/index/*"]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                       "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                                       "sqs:ChangeMessageVisibility"],
         "Resource": f"arn:aws:sqs:*:*:{prefix}*"},
        {"Effect": "Allow", "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule",
                                       "scheduler:GetSchedule"],
         "Resource": f"arn:aws:scheduler:*:*:schedule/{prefix}*"},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"arn:aws:iam::*:role/{prefix}scheduler-to-sqs"},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                       "logs:PutLogEvents"], "Resource": "arn:*:logs:*:*:*"},
    ]}


def gateway_resources() -> dict[str, Any]:
    """API Gateway answers a path no route matches itself (403 "Missing Authentication Token",
    echoing the Authorization header): make it a 404 in the error contract."""
    body = ('{"error": {"code": "not_found", "message": "no such route", "details": []}}')
    return {"NoSuchRouteResponse": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
        "RestApiId": {"Ref": "RestAPI"}, "ResponseType": "MISSING_AUTHENTICATION_TOKEN",
        "StatusCode": "404", "ResponseTemplates": {"application/json": body}}}}


def build() -> dict[str, Any]:
    resources = {**table_resources(), **queue_resources(), **scheduler_resources(),
                 **gateway_resources()}
    for name, patch in event_source_patches().items():
        resources[name] = patch
    return {"Resources": resources}


def main() -> None:
    from chalicelib.settings import settings

    stage = settings().stage
    out = HERE / "build"
    out.mkdir(exist_ok=True)
    (out / f"resources-{stage}.json").write_text(json.dumps(build(), indent=2))
    (HERE.parent / ".chalice" / f"policy-{stage}.json").write_text(json.dumps(policy(), indent=2))
    print(f"wrote infra/build/resources-{stage}.json and .chalice/policy-{stage}.json")


if __name__ == "__main__":
    main()
