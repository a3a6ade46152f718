"""The deploy path, proven offline: `make package STAGE=dev` with no AWS account, cfn-lint on
the template it writes, and that template created on moto's CloudFormation with every
resource present afterwards (tests/integration/deploy_support.py says how)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.integration.deploy_support import (
    MOTO_SKIPS,
    Resolver,
    create_by_api,
    sam_transform,
    upload_artifacts,
)

ROOT = Path(__file__).resolve().parents[2]
# Not the region `make package` falls back to: the template names none.
REGION = "eu-west-1"
PARAMETERS = {"JwtSecretParameter": "/seller-crm/dev/jwt-secret",
              "MessagingEndpoint": "https://chat.example.test/send",
              "SmsOriginationIdentity": "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-crm",
              "VoiceOriginationIdentity": "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("package")
    out = tmp / "dev"
    # No AWS account: no AWS_* variables, no credentials or config file, no stage settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRM_"))}
    env.update(AWS_CONFIG_FILE=str(tmp / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"))
    run = subprocess.run(["make", "--no-print-directory", "package", "STAGE=dev",
                          f"PACKAGE_DIR={out}", f"VENV={sys.prefix}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    # Chalice skips a dependency it has no Lambda wheel for with only a message, and the
    # functions importing it would fail on AWS (docs/deploy.md, "Package size and DuckDB").
    assert "Could not install dependencies" not in run.stdout + run.stderr, run.stdout + run.stderr
    return out


def test_the_package_carries_every_runtime_dependency_duckdb_included(package):
    import zipfile

    names = {n for z in package.glob("*.zip") for n in zipfile.ZipFile(z).namelist()}
    assert any(n.startswith("python/lib/python3.11/site-packages/duckdb/") or
               n.startswith("duckdb/") for n in names), sorted(names)[:20]


def test_the_package_carries_the_console_page_and_every_file_it_serves(package):
    import zipfile

    from chalicelib.api.console import ASSETS

    names = {n for z in package.glob("*.zip") for n in zipfile.ZipFile(z).namelist()}
    wanted = {"chalicelib/console/index.html"} | {f"chalicelib/console/{path}"
                                                  for path, _, _ in ASSETS.values()}
    assert wanted <= names, sorted(wanted - names)


@pytest.fixture(scope="module")
def sam(package) -> dict:
    return json.loads((package / "sam.json").read_text())


@pytest.fixture(scope="module")
def stack(package, sam):
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
        template = sam_transform(upload_artifacts(sam, package, s3, "artifacts"), session.client("iam"))
        by_cfn = {k: v for k, v in template["Resources"].items() if v["Type"] not in MOTO_SKIPS}
        cfn = session.client("cloudformation")
        cfn.create_stack(
            StackName="seller-crm-dev", Capabilities=["CAPABILITY_IAM"],
            TemplateBody=json.dumps({**template, "Resources": by_cfn}),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()])
        status = cfn.describe_stacks(StackName="seller-crm-dev")["Stacks"][0]["StackStatus"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                    for page in cfn.get_paginator("list_stack_resources").paginate(StackName="seller-crm-dev")
                    for r in page["StackResourceSummaries"]}
        by_api = create_by_api(template, Resolver(template, physical, PARAMETERS, session))
        yield {"session": session, "template": template, "status": status,
               "physical": physical, "by_api": by_api}


def test_make_package_writes_the_dev_template_and_its_zips_with_no_aws_account(package, sam):
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    uris = {r["Properties"].get("CodeUri") or r["Properties"].get("ContentUri")
            for r in sam["Resources"].values() if r["Type"].startswith("AWS::Serverless::")
            and r["Type"] != "AWS::Serverless::Api"}
    assert uris == {"./deployment.zip", "./layer-deployment.zip"}
    assert all((package / uri).stat().st_size > 0 for uri in uris)


def test_the_template_lints_with_no_error_and_no_warning(package):
    from cfnlint.api import lint

    matches = lint((package / "sam.json").read_text(), regions=["us-east-1", "ap-southeast-1"])
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id[0] in "EW"] == []


def test_the_template_names_no_account_region_or_arn(package):
    text = (package / "sam.json").read_text()
    assert not re.findall(r"arn:aws[^\"]*", text)
    assert not re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    assert not re.findall(r"\b[a-z]{2}(?:-gov)?-[a-z]+-[0-9]\b", text)


def test_every_resource_of_the_template_exists_after_the_create(stack):
    assert stack["status"] == "CREATE_COMPLETE"
    template = stack["template"]
    missing = set(template["Resources"]) - set(stack["physical"]) - set(stack["by_api"])
    assert missing == set(), {k: template["Resources"][k]["Type"] for k in missing}
    # The ones moto's CloudFormation skipped were created and checked through their APIs.
    assert set(stack["by_api"]) == {k for k, v in template["Resources"].items() if v["Type"] in MOTO_SKIPS}
    assert {template["Resources"][k]["Type"] for k in stack["by_api"]} == set(MOTO_SKIPS)


def test_every_table_queue_dlq_and_role_exists(stack):
    from chalicelib.store.queues import MAX_RECEIVES, QUEUES
    from chalicelib.store.tables import TABLES

    s = stack["session"]
    ddb, sqs, iam = s.client("dynamodb"), s.client("sqs"), s.client("iam")
    for model in TABLES:
        name = model.Meta.table_name.replace(model.Meta.table_name.split("-")[1], "dev", 1)
        assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    for q in QUEUES:
        url = sqs.get_queue_url(QueueName=f"crm-dev-{q.name}")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_url(QueueName=f"crm-dev-{q.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn,
                                                      "maxReceiveCount": MAX_RECEIVES}
        assert int(attrs["VisibilityTimeout"]) == q.visibility_timeout
    roles = [k for k, v in stack["template"]["Resources"].items() if v["Type"] == "AWS::IAM::Role"]
    assert "SchedulerToSqsRole" in roles and len(roles) >= 2
    for logical in roles:
        assert iam.get_role(RoleName=stack["physical"][logical])["Role"]["Arn"]


def test_every_sqs_handler_has_its_event_source_mapping(stack):
    from chalice.app import SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    from app import app

    s = stack["session"]
    sqs, lam = s.client("sqs"), s.client("lambda")
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    sources = [src for src in app.event_sources if isinstance(src, SQSEventConfig)]
    assert sources
    for src in sources:
        queue = src.queue.replace(src.queue.split("-")[1], "dev", 1)
        queue_arn = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        fn = lam.get_function(FunctionName=stack["physical"][to_cfn_resource_name(src.name)])
        found = [m for m in mappings if m["EventSourceArn"] == queue_arn]
        assert len(found) == 1, queue
        assert found[0]["FunctionArn"] == fn["Configuration"]["FunctionArn"]
        assert found[0]["BatchSize"] == src.batch_size
        assert found[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_function_gets_the_arns_from_the_stack_and_would_start(stack, monkeypatch):
    from chalicelib.settings import Settings

    s = stack["session"]
    sqs, iam, lam = s.client("sqs"), s.client("iam"), s.client("lambda")
    dispatch = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="crm-dev-dispatch")["QueueUrl"],
                                        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = iam.get_role(RoleName=stack["physical"]["SchedulerToSqsRole"])["Role"]["Arn"]
    functions = [k for k, v in stack["template"]["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]
    assert "APIHandler" in functions and len(functions) >= 2
    for logical in functions:
        env = lam.get_function_configuration(FunctionName=stack["physical"][logical])["Environment"]["Variables"]
        assert env["CRM_DISPATCH_QUEUE_ARN"] == dispatch
        assert env["CRM_SCHEDULER_ROLE_ARN"] == role
        assert env["CRM_JWT_SECRET_PARAMETER"] == PARAMETERS["JwtSecretParameter"]
        assert env["CRM_MESSAGING_ENDPOINT"] == PARAMETERS["MessagingEndpoint"]
        # A cold start with exactly this environment passes the refusal checks.
        for key in [k for k in os.environ if k.startswith("CRM_")]:
            monkeypatch.delenv(key)
        for key, value in {**env, "AWS_DEFAULT_REGION": REGION,
                           "AWS_LAMBDA_FUNCTION_NAME": stack["physical"][logical]}.items():
            monkeypatch.setenv(key, value)
        cfg = Settings()
        assert (cfg.stage, cfg.chat_channel, cfg.jwt_secret) == ("dev", "http", None)


def test_the_function_policy_grants_exactly_this_stacks_resources(stack):
    s = stack["session"]
    iam, ddb = s.client("iam"), s.client("dynamodb")
    role = stack["physical"]["ApiHandlerRole"]
    docs = [iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    # moto keeps an inline policy made by CloudFormation as the repr of a dict
    statements = [st for doc in docs
                  for st in (ast.literal_eval(doc) if isinstance(doc, str) else doc)["Statement"]]
    resources = {r for st in statements for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])}
    account = s.client("sts").get_caller_identity()["Account"]
    customers = ddb.describe_table(TableName="crm-dev-customers")["Table"]["TableArn"]
    assert {customers, customers + "/index/*"} <= resources
    assert f"arn:aws:ssm:{REGION}:{account}:parameter{PARAMETERS['JwtSecretParameter']}" in resources
    assert iam.get_role(RoleName=stack["physical"]["SchedulerToSqsRole"])["Role"]["Arn"] in resources
    assert not [r for r in resources if r.endswith(":*:*") or "*:*" in r]


def test_every_dlq_and_the_dispatch_queue_age_raise_an_alarm(stack):
    from chalicelib.store.queues import QUEUES, spec

    alarms = stack["session"].client("cloudwatch").describe_alarms()["MetricAlarms"]
    depth = {a["Dimensions"][0]["Value"] for a in alarms
             if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
             and a["ComparisonOperator"] == "GreaterThanThreshold" and a["Threshold"] == 0}
    assert depth == {f"crm-dev-{q.name}-dlq" for q in QUEUES}
    age, = [a for a in alarms if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"][0]["Value"] == "crm-dev-dispatch"
    assert age["Threshold"] == spec("dispatch").visibility_timeout


def test_the_customers_table_streams_and_has_the_by_change_lsi_and_the_snapshot_bucket_exists(stack):
    s = stack["session"]
    table = s.client("dynamodb").describe_table(TableName="crm-dev-customers")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    lsi, = table["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by_change"
    assert [(k["AttributeName"], k["KeyType"]) for k in lsi["KeySchema"]] == [
        ("pk", "HASH"), ("changed_at", "RANGE")]
    bucket = stack["physical"]["SnapshotBucket"]
    s.client("s3").head_bucket(Bucket=bucket)
    lam = s.client("lambda")
    for logical, res in stack["template"]["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            env = lam.get_function_configuration(FunctionName=stack["physical"][logical])[
                "Environment"]["Variables"]
            assert env["CRM_SNAPSHOT_BUCKET"] == bucket


def test_the_export_bucket_exists_and_every_function_is_told_its_name(stack):
    s = stack["session"]
    bucket = stack["physical"]["ExportBucket"]
    s.client("s3").head_bucket(Bucket=bucket)
    lam = s.client("lambda")
    for logical, res in stack["template"]["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            env = lam.get_function_configuration(FunctionName=stack["physical"][logical])[
                "Environment"]["Variables"]
            assert env["CRM_EXPORT_BUCKET"] == bucket
    assert s.client("sqs").get_queue_url(QueueName="crm-dev-exports")["QueueUrl"]


def test_the_snapshot_consumer_follows_the_customers_stream_and_hands_failures_to_a_queue(stack):
    s = stack["session"]
    lam, sqs = s.client("lambda"), s.client("sqs")
    stream = s.client("dynamodb").describe_table(TableName="crm-dev-customers")["Table"]["LatestStreamArn"]
    fn = lam.get_function(FunctionName=stack["physical"]["OnCustomerChanges"])
    found = [m for m in lam.list_event_source_mappings()["EventSourceMappings"]
             if m["EventSourceArn"] == stream]
    assert len(found) == 1
    mapping = found[0]
    assert mapping["FunctionArn"] == fn["Configuration"]["FunctionArn"]
    assert (mapping["BatchSize"], mapping["StartingPosition"]) == (500, "TRIM_HORIZON")
    failures = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName="crm-dev-snapshot-failures")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # moto keeps these as given; the template is what CloudFormation applies on AWS
    props = next(r["Properties"] for r in stack["template"]["Resources"].values()
                 if r["Type"] == "AWS::Lambda::EventSourceMapping"
                 and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["CrmDevCustomersTable", "StreamArn"]})
    assert props["BisectBatchOnFunctionError"] is True and props["MaximumRetryAttempts"] == 10
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["CrmDevSnapshotFailuresQueue", "Arn"]}
    assert failures.endswith(":crm-dev-snapshot-failures")
    alarms = s.client("cloudwatch").describe_alarms()["MetricAlarms"]
    lag, = [a for a in alarms if a["MetricName"] == "IteratorAge"]
    assert lag["Dimensions"] == [{"Name": "FunctionName",
                                  "Value": stack["physical"]["OnCustomerChanges"]}]


def test_every_function_has_room_in_tmp_for_the_snapshot_files(stack):
    from infra.build import EPHEMERAL_MB

    # after the SAM transform (moto's Lambda keeps 512 whatever the template says)
    functions = [r for r in stack["template"]["Resources"].values()
                 if r["Type"] == "AWS::Lambda::Function"]
    assert functions and all(r["Properties"]["EphemeralStorage"] == {"Size": EPHEMERAL_MB}
                             for r in functions)
