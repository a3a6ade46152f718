"""Deploying the packaged template the way docs/deploy.md does, with moto in place of AWS.

docs/deploy.md deploys with ``aws cloudformation package`` (upload the zips, point CodeUri at
them) and ``aws cloudformation deploy`` (CloudFormation runs the AWS::Serverless transform,
then creates the stack). Here: the zips go to moto's S3, the transform is AWS's own SAM
translator (the library behind that transform), and the stack is created on moto's
CloudFormation. The resource types moto's CloudFormation does not create are created by
``create_by_api`` through each service's own API, from the template's properties, and checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3

# What moto's CloudFormation does not create: it keeps no RestApi Body, so the Deployment
# fails (no methods); the rest it skips silently. Anything else missing fails the test.
MOTO_SKIPS = ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage",
              "AWS::ApiGateway::GatewayResponse", "AWS::Scheduler::ScheduleGroup",
              "AWS::CloudWatch::Alarm")


def upload_artifacts(template: dict[str, Any], folder: Path, s3: Any, bucket: str) -> dict[str, Any]:
    """What ``aws cloudformation package`` does: each local CodeUri/ContentUri to an S3 URI."""
    out = json.loads(json.dumps(template))
    for res in out["Resources"].values():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                local = (folder / props[key]).resolve()
                s3.upload_file(str(local), bucket, local.name)
                props[key] = f"s3://{bucket}/{local.name}"
    return out


def sam_transform(template: dict[str, Any], iam: Any) -> dict[str, Any]:
    """The AWS::Serverless-2016-10-31 transform CloudFormation runs on deploy."""
    from samtranslator.public.translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    return transform(template, {}, ManagedPolicyLoader(iam))


class Resolver:
    """Resolves the intrinsics the skipped resources use against the created stack."""

    def __init__(self, template: dict[str, Any], physical: dict[str, str],
                 parameters: dict[str, str], session: boto3.session.Session) -> None:
        # grows with what create_by_api makes, so later resources can Ref it
        self.template, self.physical, self.session = template, dict(physical), session
        self.params = {k: parameters.get(k, v.get("Default"))
                       for k, v in template.get("Parameters", {}).items()}
        self.pseudo = {"AWS::Region": session.region_name, "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com",
                       "AWS::AccountId": session.client("sts").get_caller_identity()["Account"]}

    def attribute(self, logical: str, attr: str) -> str:
        kind, pid = self.template["Resources"][logical]["Type"], self.physical[logical]
        if kind == "AWS::SQS::Queue":
            arn = self.session.client("sqs").get_queue_attributes(
                QueueUrl=pid, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            return {"Arn": arn, "QueueName": arn.rsplit(":", 1)[1]}[attr]
        if kind == "AWS::Lambda::Function" and attr == "Arn":
            return self.session.client("lambda").get_function(FunctionName=pid)["Configuration"]["FunctionArn"]
        raise AssertionError(f"the template reads GetAtt {logical}.{attr} ({kind}), which this "
                             "resolver does not know: teach it here")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.physical[name]

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(x) for x in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.attribute(*arg)
            if key == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Sub":
                return self.sub(*(arg if isinstance(arg, list) else [arg, {}]))
            if key.startswith("Fn::"):
                raise AssertionError(f"the template uses {key}, which this resolver does not "
                                     "evaluate: teach it here")
        return {k: v for k, v in ((k, self(x)) for k, x in value.items()) if v is not _NO_VALUE}

    def sub(self, text: str, names: dict[str, Any]) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in names:
                return str(self(names[name]))
            if "." in name and not name.startswith("AWS::"):
                return self.attribute(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", one, text)


_NO_VALUE = object()


def create_by_api(template: dict[str, Any], resolve: Resolver) -> dict[str, str]:
    """Create every resource of MOTO_SKIPS through its service's API; returns logical id -> a
    one-line account of what was checked."""
    s = resolve.session
    apigw, scheduler, cloudwatch = s.client("apigateway"), s.client("scheduler"), s.client("cloudwatch")
    done: dict[str, str] = {}
    skipped = {k: v for k, v in template["Resources"].items() if v["Type"] in MOTO_SKIPS}
    order = sorted(skipped, key=lambda k: MOTO_SKIPS.index(skipped[k]["Type"]))
    for logical in order:
        kind = skipped[logical]["Type"]
        props = resolve(skipped[logical].get("Properties", {}))
        if kind == "AWS::ApiGateway::Deployment":
            api_id = props["RestApiId"]
            body = _rest_api_body(template, api_id, resolve)
            # moto imports OpenAPI 3 only; what it reads (paths, methods, integrations) is the
            # same in Chalice's Swagger 2 body.
            apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(
                {**{k: v for k, v in body.items() if k != "swagger"}, "openapi": "3.0.1"}))
            _check_routes(apigw, api_id, body)
            resolve.physical[logical] = apigw.create_deployment(
                restApiId=api_id, stageName=props["StageName"])["id"]
            done[logical] = f"{len(body['paths'])} paths integrated with their function"
        elif kind == "AWS::ApiGateway::Stage":
            apigw.create_stage(restApiId=props["RestApiId"], stageName=props["StageName"],
                               deploymentId=props["DeploymentId"])
            assert apigw.get_stage(restApiId=props["RestApiId"], stageName=props["StageName"])[
                "deploymentId"] == props["DeploymentId"]
            done[logical] = f"stage {props['StageName']}"
        elif kind == "AWS::ApiGateway::GatewayResponse":
            apigw.put_gateway_response(
                restApiId=props["RestApiId"], responseType=props["ResponseType"],
                statusCode=props["StatusCode"], responseTemplates=props["ResponseTemplates"])
            got = apigw.get_gateway_response(restApiId=props["RestApiId"],
                                             responseType=props["ResponseType"])
            assert got["statusCode"] == props["StatusCode"]
            done[logical] = f"{props['ResponseType']} -> {props['StatusCode']}"
        elif kind == "AWS::Scheduler::ScheduleGroup":
            scheduler.create_schedule_group(Name=props["Name"])
            assert scheduler.get_schedule_group(Name=props["Name"])["Name"] == props["Name"]
            done[logical] = f"group {props['Name']}"
        elif kind == "AWS::CloudWatch::Alarm":
            cloudwatch.put_metric_alarm(AlarmName=logical, **props)
            alarm, = cloudwatch.describe_alarms(AlarmNames=[logical])["MetricAlarms"]
            watched = alarm["Dimensions"][0]["Value"]
            if alarm["Namespace"] == "AWS/Lambda":              # a real function
                s.client("lambda").get_function(FunctionName=watched)
            else:                                               # a real queue
                s.client("sqs").get_queue_url(QueueName=watched)
            done[logical] = f"{alarm['MetricName']} of {watched} {alarm['ComparisonOperator']} {alarm['Threshold']}"
    return done


def _rest_api_body(template: dict[str, Any], api_id: str, resolve: Resolver) -> dict[str, Any]:
    logical = next(k for k, v in resolve.physical.items() if v == api_id
                   and template["Resources"][k]["Type"] == "AWS::ApiGateway::RestApi")
    return resolve(template["Resources"][logical]["Properties"]["Body"])


def _check_routes(apigw: Any, api_id: str, body: dict[str, Any]) -> None:
    items = apigw.get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
    by_path = {r["path"]: r for r in items}
    for path, methods in body["paths"].items():
        for method, doc in methods.items():
            got = by_path[path]["resourceMethods"][method.upper()]
            uri = doc["x-amazon-apigateway-integration"]["uri"]
            assert apigw.get_integration(restApiId=api_id, resourceId=by_path[path]["id"],
                                         httpMethod=method.upper())["uri"] == uri, (path, got)
