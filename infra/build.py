"""Builds the deployable infrastructure from the one declaration in code.

    CRM_STAGE=dev python -m infra.build      # writes infra/build/resources-dev.json + .chalice/policy-dev.json

`resources-<stage>.json` is a CloudFormation fragment that `chalice package
--merge-template` merges into the SAM template Chalice generates: every DynamoDB table
of ``chalicelib.store.tables.TABLES`` (keys, GSIs, TTL, on-demand), every SQS queue of
``chalicelib.store.queues.QUEUES`` with its DLQ (redrive after 5 receives), the snapshot and
export buckets, the EventBridge Scheduler group and the role the scheduler assumes to send
to the dispatch queue, alarms on every DLQ's depth and on the dispatch queue's oldest message, and patches to Chalice's own
resources: ``ReportBatchItemFailures`` and the queue's ``GetAtt`` on every SQS event source,
and the ARNs and parameters every function reads (see docs/deploy.md).

No account id, region or ARN is written here: ARNs are ``Ref``/``GetAtt`` of the template's
own resources or ``Fn::Sub`` of pseudo parameters, resolved when the stack is created.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
# The API function Chalice generates (its other functions are named after their handlers).
API_FUNCTION = "APIHandler"
SCHEDULER_ROLE = "SchedulerToSqsRole"

ORIGINATION_PATTERN = r"^arn:[a-z-]+:sms-voice:[a-z0-9-]+:[0-9]+:(phone-number|pool|sender-id)/.+$"
PARAMETERS: dict[str, Any] = {
    "JwtSecretParameter": {
        "Type": "String", "AllowedPattern": "^/[A-Za-z0-9_.\\-/]+$",
        "Description": "Name of the SSM SecureString holding the JWT secret (HS256, 32+ bytes), "
                       "e.g. /seller-crm/dev/jwt-secret; read once per cold start"},
    "MessagingEndpoint": {
        "Type": "String", "AllowedPattern": "^https://.+",
        "Description": "https:// URL the chat channel posts messages to"},
    # Order notices' SMS and voice go out from these End User Messaging identities (a phone
    # number, pool or sender id ARN); the functions may send from nothing else.
    "SmsOriginationIdentity": {
        "Type": "String", "AllowedPattern": ORIGINATION_PATTERN,
        "Description": "ARN of the phone number, pool or sender id SMS are sent from"},
    "VoiceOriginationIdentity": {
        "Type": "String", "AllowedPattern": ORIGINATION_PATTERN,
        "Description": "ARN of the phone number or pool voice messages are called from"},
    "AlarmTopicArn": {
        "Type": "String", "Default": "",
        "Description": "SNS topic the DLQ and dispatch-age alarms notify (empty: no action)"},
}
CONDITIONS: dict[str, Any] = {
    "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
}


def _cfn_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def queue_id(short: str) -> str:
    """Logical id of a queue of QUEUES (``dispatch`` -> ``CrmDevDispatchQueue``)."""
    from chalicelib.settings import settings

    return _cfn_name(settings().queue_name(short)) + "Queue"


def dlq_id(short: str) -> str:
    from chalicelib.settings import settings

    return _cfn_name(settings().queue_name(short)) + "Dlq"


def table_id(table_name: str) -> str:
    return _cfn_name(table_name) + "Table"


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


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
        if schema.get("local_secondary_indexes"):
            props["LocalSecondaryIndexes"] = [
                {"IndexName": i["index_name"],
                 "KeySchema": sorted(i["key_schema"], key=lambda k: k["KeyType"]),
                 "Projection": i["projection"]} for i in schema["local_secondary_indexes"]]
        stream = getattr(model.Meta, "stream_view_type", None)
        if stream:
            props["StreamSpecification"] = {"StreamViewType": stream}
        ttl = model._ttl_attribute()
        if ttl is not None:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
        out[table_id(model.Meta.table_name)] = {"Type": "AWS::DynamoDB::Table", "Properties": props}
    return out


def queue_resources() -> dict[str, Any]:
    from chalicelib.settings import settings
    from chalicelib.store.queues import MAX_MESSAGE_BYTES, MAX_RECEIVES, QUEUES

    cfg = settings()
    out: dict[str, Any] = {}
    for q in QUEUES:
        name = cfg.queue_name(q.name)
        out[dlq_id(q.name)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": name + "-dlq", "MessageRetentionPeriod": 1209600,
            "MaximumMessageSize": MAX_MESSAGE_BYTES}}
        out[queue_id(q.name)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": name, "VisibilityTimeout": q.visibility_timeout,
            # the size the publishers pack messages to (chalicelib/store/queues.pack)
            "MaximumMessageSize": MAX_MESSAGE_BYTES,
            "RedrivePolicy": {"deadLetterTargetArn": _arn(dlq_id(q.name)),
                              "maxReceiveCount": MAX_RECEIVES}}}
    return out


SNAPSHOT_BUCKET = "SnapshotBucket"
STREAM_CONSUMER = "OnCustomerChanges"   # Chalice's logical id of app.on_customer_changes
EPHEMERAL_MB = 2048


def customers_table_id() -> str:
    from chalicelib.store.customers import CustomerItem

    return table_id(CustomerItem.Meta.table_name)


def private_bucket(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """An S3 bucket of the stack: encrypted at rest (SSE-S3), every public access blocked,
    named by CloudFormation (bucket names are global), with these lifecycle rules."""
    return {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "LifecycleConfiguration": {"Rules": rules}}}


def snapshot_resources() -> dict[str, Any]:
    """The snapshot bucket (docs/segments.md, "Snapshot and read-your-writes"). Objects are
    written once; the consumer's sweep deletes the ones no manifest names
    (chalicelib/snapshots.sweep), and a lifecycle rule aborts the multipart uploads a crash
    left behind."""
    from chalicelib.store.snapshots import PREFIX

    return {SNAPSHOT_BUCKET: private_bucket([
        {"Id": "abort-incomplete-uploads", "Status": "Enabled", "Prefix": PREFIX,
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])}


EXPORT_BUCKET = "ExportBucket"


def export_resources() -> dict[str, Any]:
    """The audience export bucket (docs/segments.md, "Audience export"): hashed phones, so
    private and encrypted like the snapshots; each file is deleted by a lifecycle rule
    ``EXPIRY_DAYS`` after it was written (the export's record expires with it)."""
    from chalicelib.domain.exports import EXPIRY_DAYS

    return {EXPORT_BUCKET: private_bucket([
        {"Id": "expire-exports", "Status": "Enabled", "Prefix": "exports/",
         "ExpirationInDays": EXPIRY_DAYS,
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])}


def scheduler_resources() -> dict[str, Any]:
    """The schedule group, and the role schedules assume: it may send to the dispatch queue
    only. CloudFormation names the role (so one account can hold a stage in two regions);
    the functions get its ARN in their environment."""
    from chalicelib.settings import settings
    from chalicelib.store.schedules import SCHEDULER_TRUST_POLICY

    cfg = settings()
    return {
        "PlansScheduleGroup": {"Type": "AWS::Scheduler::ScheduleGroup",
                               "Properties": {"Name": cfg.scheduler_group}},
        SCHEDULER_ROLE: {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": SCHEDULER_TRUST_POLICY,
            "Policies": [{"PolicyName": "send-to-dispatch-queue", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sqs:SendMessage",
                    "Resource": _arn(queue_id("dispatch"))}]}}]}},
    }


def alarm_resources() -> dict[str, Any]:
    """A message in any DLQ is an alarm; so is a dispatch message older than one visibility
    timeout (a plan's send has waited through at least one failed attempt)."""
    from chalicelib.store.queues import QUEUES, spec

    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}

    def alarm(queue: str, metric: str, threshold: int, period: int, operator: str,
              description: str) -> dict[str, Any]:
        return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": description, "Namespace": "AWS/SQS", "MetricName": metric,
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "Statistic": "Maximum", "Period": period, "EvaluationPeriods": 1,
            "Threshold": threshold, "ComparisonOperator": operator,
            "TreatMissingData": "notBreaching", "AlarmActions": actions}}

    out = {dlq_id(q.name) + "DepthAlarm": alarm(
        dlq_id(q.name), "ApproximateNumberOfMessagesVisible", 0, 60, "GreaterThanThreshold",
        f"messages of the {q.name} queue failed {q.name} handling 5 times; see docs/deploy.md")
        for q in QUEUES}
    # The snapshot consumer falling behind: reads stay exact, but each one overlays more
    # customers from the table, and a batch older than 6 h is given up (docs/segments.md).
    out[STREAM_CONSUMER + "IteratorAgeAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": "the customers stream's snapshot consumer is 5 minutes or more behind",
        "Namespace": "AWS/Lambda", "MetricName": "IteratorAge",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": STREAM_CONSUMER}}],
        "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 300_000,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching", "AlarmActions": actions}}
    age = spec("dispatch").visibility_timeout
    out[queue_id("dispatch") + "AgeAlarm"] = alarm(
        queue_id("dispatch"), "ApproximateAgeOfOldestMessage", age, 300,
        "GreaterThanOrEqualToThreshold",
        f"a plan dispatch has waited {age} s or more (at least one failed attempt)")
    return out


def function_ids() -> list[str]:
    """Logical ids of every Lambda function Chalice generates for the app."""
    from chalice.utils import to_cfn_resource_name

    from app import app

    names = [src.name for src in app.event_sources] + [f.name for f in app.pure_lambda_functions]
    return [API_FUNCTION, *(to_cfn_resource_name(n) for n in names)]


def function_environment() -> dict[str, Any]:
    """What every function reads besides Chalice's stage variables (settings refuses to start
    without these outside the offline stages)."""
    return {
        "CRM_JWT_SECRET_PARAMETER": {"Ref": "JwtSecretParameter"},
        "CRM_MESSAGING_ENDPOINT": {"Ref": "MessagingEndpoint"},
        "CRM_SMS_ORIGINATION_IDENTITY": {"Ref": "SmsOriginationIdentity"},
        "CRM_VOICE_ORIGINATION_IDENTITY": {"Ref": "VoiceOriginationIdentity"},
        "CRM_DISPATCH_QUEUE_ARN": _arn(queue_id("dispatch")),
        "CRM_SCHEDULER_ROLE_ARN": _arn(SCHEDULER_ROLE),
        "CRM_SNAPSHOT_BUCKET": {"Ref": SNAPSHOT_BUCKET},
        "CRM_EXPORT_BUCKET": {"Ref": EXPORT_BUCKET},
    }


def function_patches() -> dict[str, Any]:
    """Chalice's functions, patched: the environment above; on SQS event sources partial batch
    responses (Chalice does not set FunctionResponseTypes), and a DependsOn on the queue,
    whose ARN Chalice builds from its name (so the mapping would not wait for the queue)."""
    from chalice.app import DynamoDBEventConfig, SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    from app import app
    from chalicelib.settings import settings
    from chalicelib.store.customers import CustomerItem
    from chalicelib.store.queues import QUEUES

    by_name = {settings().queue_name(q.name): q.name for q in QUEUES}
    # /tmp holds the cached snapshot files (a 1,000,000-customer base is ~133 MB, a
    # compaction briefly keeps the old and the new) and DuckDB's spill: 2 GB, not 512 MB.
    out: dict[str, Any] = {fn: {"Properties": {"Environment": {"Variables": function_environment()},
                                               "EphemeralStorage": {"Size": EPHEMERAL_MB}}}
                           for fn in function_ids()}
    for src in app.event_sources:
        if isinstance(src, SQSEventConfig):
            if src.queue not in by_name:
                raise ValueError(f"{src.name} listens to {src.queue}, which QUEUES does not declare")
            fn = to_cfn_resource_name(src.name)
            queue = queue_id(by_name[src.queue])
            if queue not in json.dumps(function_environment()):   # not already a GetAtt
                out[fn]["DependsOn"] = [queue]
            out[fn]["Properties"]["Events"] = {f"{fn}SqsEventSource": {"Properties": {
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
        elif isinstance(src, DynamoDBEventConfig):
            # app.py names the table; the mapping reads its stream, by reference.
            if src.stream_arn != CustomerItem.Meta.table_name:
                raise ValueError(f"{src.name} follows {src.stream_arn}, not the customers table")
            fn = to_cfn_resource_name(src.name)
            out[fn]["Properties"]["Events"] = {f"{fn}DynamodbEventSource": {"Properties": {
                "Stream": {"Fn::GetAtt": [customers_table_id(), "StreamArn"]},
                **STREAM_RETRIES,
                "DestinationConfig": {"OnFailure": {
                    "Destination": _arn(queue_id(STREAM_FAILURES))}}}}}
    return out


# The snapshot consumer's failure handling (docs/segments.md): a failing batch is split in
# two and retried (a poison record ends up alone); after the retries, or when its records
# are older than 6 hours (well inside the stream's 24 h), Lambda hands the batch's
# coordinates to the failure queue, whose handler rebuilds the sellers it held.
STREAM_FAILURES = "snapshot-failures"
STREAM_RETRIES: dict[str, Any] = {
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 10,
    "MaximumRecordAgeInSeconds": 21600,
}


def policy() -> dict[str, Any]:
    """The functions' role policy (Chalice's ``iam_policy_file``): exactly this stage's tables,
    queues, schedules, scheduler role and JWT secret parameter, by reference."""
    from chalicelib.settings import settings
    from chalicelib.store.queues import QUEUES
    from chalicelib.store.tables import TABLES

    cfg = settings()
    tables = [table_id(m.Meta.table_name) for m in TABLES]
    here = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                       "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan",
                                       "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                                       "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"],
         "Resource": [_arn(t) for t in tables] + [{"Fn::Sub": f"${{{t}.Arn}}/index/*"} for t in tables]},
        # The snapshot consumer's event source mapping reads the customers stream.
        {"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                       "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
         "Resource": {"Fn::GetAtt": [customers_table_id(), "StreamArn"]}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": {"Fn::Sub": f"${{{SNAPSHOT_BUCKET}.Arn}}/*"}},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": _arn(SNAPSHOT_BUCKET)},
        # Audience exports: written once, read back (HEAD: its rows), and presigned GETs,
        # which act with these permissions. ListBucket makes a HEAD of a missing key a 404.
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": {"Fn::Sub": f"${{{EXPORT_BUCKET}.Arn}}/*"}},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": _arn(EXPORT_BUCKET)},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                       "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                                       "sqs:ChangeMessageVisibility"],
         "Resource": [_arn(queue_id(q.name)) for q in QUEUES]},
        {"Effect": "Allow", "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule",
                                       "scheduler:GetSchedule"],
         "Resource": {"Fn::Sub": here % ("scheduler", f"schedule/{cfg.scheduler_group}/*")}},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": _arn(SCHEDULER_ROLE)},
        # Order notices' SMS and voice (AWS End User Messaging), from the two identities only.
        {"Effect": "Allow", "Action": ["sms-voice:SendTextMessage", "sms-voice:SendVoiceMessage"],
         "Resource": [{"Ref": "SmsOriginationIdentity"}, {"Ref": "VoiceOriginationIdentity"}]},
        # A SecureString under the AWS managed key aws/ssm needs no kms:Decrypt grant.
        {"Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": {"Fn::Sub": here % ("ssm", "parameter${JwtSecretParameter}")}},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                       "logs:PutLogEvents"],
         "Resource": {"Fn::Sub": here % ("logs", "*")}},
    ]}


def gateway_resources() -> dict[str, Any]:
    """API Gateway answers a path no route matches itself (403 "Missing Authentication Token",
    echoing the Authorization header): make it a 404 in the error contract. The REST API is
    named after the stage (API Gateway would take the OpenAPI title, the same for every stage)."""
    from chalicelib.settings import settings

    body = ('{"error": {"code": "not_found", "message": "no such route", "details": []}}')
    return {
        "RestAPI": {"Properties": {"Name": f"seller-crm-{settings().stage}"}},
        "NoSuchRouteResponse": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": {"Ref": "RestAPI"}, "ResponseType": "MISSING_AUTHENTICATION_TOKEN",
            "StatusCode": "404", "ResponseTemplates": {"application/json": body}}}}


def build() -> dict[str, Any]:
    resources = {**table_resources(), **queue_resources(), **snapshot_resources(),
                 **export_resources(),
                 **scheduler_resources(),
                 **alarm_resources(), **gateway_resources(), **function_patches()}
    return {"Parameters": PARAMETERS, "Conditions": CONDITIONS, "Resources": resources}


def main() -> None:
    from chalicelib.settings import settings

    cfg = settings()
    if cfg.offline:
        raise SystemExit(f"stage '{cfg.stage}' runs on the local stack only; package dev or prod")
    out = HERE / "build"
    out.mkdir(exist_ok=True)
    (out / f"resources-{cfg.stage}.json").write_text(json.dumps(build(), indent=2))
    (HERE.parent / ".chalice" / f"policy-{cfg.stage}.json").write_text(json.dumps(policy(), indent=2))
    print(f"wrote infra/build/resources-{cfg.stage}.json and .chalice/policy-{cfg.stage}.json")


if __name__ == "__main__":
    main()
