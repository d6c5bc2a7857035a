"""Deploy the real template into moto's CloudFormation, and make up for what moto skips.

moto creates most resources from a template but skips CloudFront, bucket and queue
policies, alarms and OIDC providers, ignores a bucket's notification and versioning
settings and a table's TTL, and drops references to what it skipped. ``deploy`` creates
the stack with moto, then applies every one of those resources and properties from the
same template through boto3, and resolves outputs and function environments itself.
One mechanism serves the end-to-end tests and ``make run``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation.parsing import get_model_map

ACCOUNT = "123456789012"
NO_VALUE = object()  # Ref AWS::NoValue: the property, or the list item, is left out
# Properties moto accepts but does not apply, per resource type.
IGNORED_PROPERTIES = {
    "AWS::S3::Bucket": ("NotificationConfiguration", "VersioningConfiguration"),
}
# What moto could create but the helper creates instead: moto's CloudFormation has no
# alias, so a version, its alias and what invokes the alias (mappings, the repair's
# schedule rule and its permission) are made through the APIs in dependency order.
APPLIED_BY_HELPER = {
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Events::Rule",
}


@dataclass
class Deployed:
    stack_name: str
    resources: dict[str, dict[str, Any]]  # the transformed template's resources
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)  # what the helper did in moto's stead
    not_emulated: list[str] = field(default_factory=list)  # what moto has no API for

    def functions(self, resolver: Resolver) -> list[dict[str, Any]]:
        """Each function with its handler, environment and the queue that feeds it."""
        found = []
        for resource in self.resources.values():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping":
                continue
            props = resource["Properties"]
            function = props["FunctionName"]["Ref"]
            if self.resources[function]["Type"] == "AWS::Lambda::Alias":  # AutoPublishAlias
                function = self.resources[function]["Properties"]["FunctionName"]["Ref"]
            definition = self.resources[function]["Properties"]
            env = definition.get("Environment", {}).get("Variables", {})
            queue_arn = resolver.resolve(props["EventSourceArn"])
            found.append(
                {
                    "logical": function,
                    "name": self.physical.get(function, function),
                    "handler": definition["Handler"],
                    "environment": {k: str(resolver.resolve(v)) for k, v in env.items()},
                    "queue_arn": queue_arn,
                    "batch_size": int(props.get("BatchSize", 10)),
                    "window": int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    "concurrency": _count(props.get("ScalingConfig", {}).get("MaximumConcurrency")),
                    "reserved": _count(definition.get("ReservedConcurrentExecutions")),
                    "memory": int(definition.get("MemorySize", 128)),  # Lambda's defaults
                    "timeout": int(definition.get("Timeout", 3)),
                    "report_failures": "ReportBatchItemFailures"
                    in props.get("FunctionResponseTypes", []),
                }
            )
        return found


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


class Resolver:
    """CloudFormation's intrinsic functions over the physical ids known so far."""

    def __init__(
        self,
        deployed: Deployed,
        parameters: dict[str, str],
        conditions: dict[str, Any],
        region: str,
        attribute: Callable[[str, str], str],
    ) -> None:
        self.deployed = deployed
        self.parameters = parameters
        self.conditions_source = conditions
        self.region = region
        self.attribute = attribute
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": deployed.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/"
            f"{deployed.stack_name}/1",
        }

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions_source[name]))

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.deployed.physical[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                logical, name = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attribute(logical, name)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name in extra:
                out.append(str(self.resolve(extra[name])))
            elif "." in name and name.split(".", 1)[0] not in self.pseudo:
                logical, attribute = name.split(".", 1)
                out.append(str(self.attribute(logical, attribute)))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for part in text.split("${")[1:]:
                    found.add(part.split("}", 1)[0].split(".", 1)[0])
                found |= _references(arg if isinstance(arg, str) else arg[1])
            else:
                found |= _references(arg)
    return found


def _detach(value: Any, skipped: set[str]) -> Any:
    """References to resources moto will not create, made plain placeholders: moto would
    fail the resource that holds them. The helper resolves the real values later."""
    if isinstance(value, list):
        return [_detach(v, skipped) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and arg in skipped:
            return f"{arg}-pending"
        if key == "Fn::GetAtt":
            logical = arg[0] if isinstance(arg, list) else arg.split(".", 1)[0]
            if logical in skipped:
                return f"{logical}-pending"
        if key == "Fn::Sub":
            text, extra = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
            for name in skipped:
                text = text.replace("${" + name + "}", f"{name}-pending")
                for attribute in ("Arn", "Id", "DomainName"):
                    text = text.replace("${" + f"{name}.{attribute}" + "}", f"{name}-pending")
            return {"Fn::Sub": text if extra is None else [text, _detach(extra, skipped)]}
    return {k: _detach(v, skipped) for k, v in value.items()}


def _order(names: set[str], resources: dict[str, Any]) -> list[str]:
    ordered: list[str] = []
    pending = set(names)
    while pending:
        ready = sorted(
            n
            for n in pending
            if not ((_references(resources[n]) | set(_depends(resources[n]))) & pending - {n})
        )
        if not ready:
            raise ValueError(f"circular references among {sorted(pending)}")
        ordered += ready
        pending -= set(ready)
    return ordered


def _depends(resource: dict[str, Any]) -> list[str]:
    depends = resource.get("DependsOn", [])
    return [depends] if isinstance(depends, str) else list(depends)


def _cloudfront_lists(value: Any) -> Any:
    """CloudFront's API wraps every list as {Quantity, Items}; CloudFormation does not."""
    if isinstance(value, list):
        items = [_cloudfront_lists(v) for v in value]
        return {"Quantity": len(items), "Items": items}
    if isinstance(value, dict):
        return {k: _cloudfront_lists(v) for k, v in value.items()}
    return value


def _distribution_config(config: dict[str, Any], reference: str) -> dict[str, Any]:
    api: dict[str, Any] = _cloudfront_lists(config)
    api["CallerReference"] = reference
    api.setdefault("Comment", "")
    # Where CloudFormation's names and types differ from the API's.
    if "IPV6Enabled" in api:
        api["IsIPV6Enabled"] = api.pop("IPV6Enabled")
    for response in api.get("CustomErrorResponses", {}).get("Items", []):
        response["ResponseCode"] = str(response["ResponseCode"])
    for behavior in [api["DefaultCacheBehavior"], *api.get("CacheBehaviors", {}).get("Items", [])]:
        cached = behavior.pop("CachedMethods", None)
        if cached:
            behavior["AllowedMethods"]["CachedMethods"] = cached
    if "Logging" in api:
        api["Logging"] = {"Enabled": True, "IncludeCookies": False, "Prefix": "", **api["Logging"]}
    api.setdefault("ViewerCertificate", {"CloudFrontDefaultCertificate": True})
    return api


def deploy(
    template: dict[str, Any],
    stack_name: str,
    parameters: dict[str, str],
    session: Any,
    region: str = "us-east-1",
    endpoint_url: str | None = None,
) -> tuple[Deployed, Resolver]:
    """Create the stack in moto and apply what moto skipped; the result and its resolver."""
    supported = get_model_map()
    # CloudFormation's own rule: a parameter not given takes its default.
    parameters = {
        **{
            name: str(p["Default"])
            for name, p in template.get("Parameters", {}).items()
            if "Default" in p
        },
        **parameters,
    }
    resources = template["Resources"]
    skipped = {
        name
        for name, r in resources.items()
        if r["Type"] not in supported or r["Type"] in APPLIED_BY_HELPER
    }
    deployed = Deployed(stack_name, resources)
    client = {
        name: session.client(name, region_name=region, endpoint_url=endpoint_url)
        for name in (
            "cloudformation",
            "s3",
            "sqs",
            "iam",
            "lambda",
            "cloudfront",
            "cloudwatch",
            "sns",
            "scheduler",
            "events",
            "logs",
        )
    }

    def attribute(logical: str, name: str) -> str:
        key = (logical, name)
        if key not in deployed.attributes:
            deployed.attributes[key] = _attribute(
                client, resources[logical]["Type"], deployed.physical[logical], name, region
            )
        return deployed.attributes[key]

    resolver = Resolver(deployed, parameters, template.get("Conditions", {}), region, attribute)

    # 1. What moto can create, it creates; references to skipped resources are left out.
    for_moto = copy.deepcopy(template)
    for name in skipped:
        del for_moto["Resources"][name]
    for_moto["Resources"] = _detach(for_moto["Resources"], skipped)
    for resource in for_moto["Resources"].values():
        kept = [d for d in _depends(resource) if d not in skipped]
        if "DependsOn" in resource:
            resource["DependsOn"] = kept
        for prop in IGNORED_PROPERTIES.get(resource["Type"], ()):
            resource.get("Properties", {}).pop(prop, None)
    for_moto["Outputs"] = {
        k: v for k, v in template.get("Outputs", {}).items() if not _references(v) & skipped
    }
    client["cloudformation"].create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(for_moto),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    # The stack's own id, which names (and pins) the source bucket.
    described = client["cloudformation"].describe_stacks(StackName=stack_name)["Stacks"][0]
    resolver.pseudo["AWS::StackId"] = described["StackId"]
    listed = client["cloudformation"].list_stack_resources(StackName=stack_name)
    for item in listed["StackResourceSummaries"]:
        deployed.physical[item["LogicalResourceId"]] = item["PhysicalResourceId"]

    # 2. The skipped resources, from the same template, in dependency order.
    for name in _order(skipped, resources):
        resource = resources[name]
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        physical = _apply(client, resource["Type"], name, props, stack_name, deployed)
        deployed.physical[name] = physical

    # 3. The properties moto ignored on resources it did create.
    for name, resource in resources.items():
        for prop in IGNORED_PROPERTIES.get(resource["Type"], ()):
            if prop in resource.get("Properties", {}):
                value = resolver.resolve(resource["Properties"][prop])
                _apply_property(client, resource["Type"], deployed.physical[name], prop, value)
                deployed.applied.append(f"{name}.{prop}")

    deployed.outputs = {
        k: str(resolver.resolve(v["Value"])) for k, v in template.get("Outputs", {}).items()
    }
    return deployed, resolver


def _attribute(client: dict[str, Any], kind: str, physical: str, name: str, region: str) -> str:
    if kind == "AWS::SQS::Queue":
        if name == "QueueName":
            return physical.rsplit("/", 1)[1]
        return str(
            client["sqs"].get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        )
    if kind == "AWS::S3::Bucket":
        return {
            "Arn": f"arn:aws:s3:::{physical}",
            "RegionalDomainName": f"{physical}.s3.{region}.amazonaws.com",
            "DomainName": f"{physical}.s3.amazonaws.com",
        }[name]
    if kind == "AWS::IAM::Role":
        return str(client["iam"].get_role(RoleName=physical.rsplit("/", 1)[-1])["Role"]["Arn"])
    if kind == "AWS::Lambda::Function":
        return str(
            client["lambda"].get_function(FunctionName=physical)["Configuration"]["FunctionArn"]
        )
    if kind == "AWS::CloudFront::Distribution":
        found = client["cloudfront"].get_distribution(Id=physical)["Distribution"]
        return str({"DomainName": found["DomainName"], "Id": found["Id"]}[name])
    if kind == "AWS::CloudFront::Function":
        return f"arn:aws:cloudfront::{ACCOUNT}:function/{physical}"
    if kind == "AWS::CloudFront::KeyValueStore":
        return physical if name == "Arn" else physical.rsplit("/", 1)[-1]
    if kind == "AWS::CloudFront::OriginAccessControl":
        return physical
    if kind == "AWS::SNS::Topic":
        return physical
    if kind == "AWS::Scheduler::ScheduleGroup":
        return f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule-group/{physical}"
    if kind == "AWS::Lambda::Version" and name == "Version":
        return physical.rsplit(":", 1)[1]  # a version's Ref is its qualified ARN
    raise KeyError(f"no attribute {name} of {kind} in the local stack")


def _apply(
    client: dict[str, Any],
    kind: str,
    name: str,
    props: dict[str, Any],
    stack: str,
    deployed: Deployed,
) -> str:
    deployed.applied.append(name)
    if kind == "AWS::S3::BucketPolicy":
        if any("Condition" in s for s in props["PolicyDocument"]["Statement"]):
            # moto evaluates bucket policies without their conditions: a TLS-only Deny
            # would deny every request. The template tests check these policies instead.
            deployed.applied.remove(name)
            deployed.not_emulated.append(name)
            return f"{props['Bucket']}-policy-not-emulated"
        client["s3"].put_bucket_policy(
            Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"])
        )
        return f"{props['Bucket']}-policy"
    if kind == "AWS::SQS::QueuePolicy":
        for url in props["Queues"]:
            client["sqs"].set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        return f"{name}-policy"
    if kind == "AWS::Lambda::Version":
        published = client["lambda"].publish_version(FunctionName=props["FunctionName"])
        return str(published["FunctionArn"])
    if kind == "AWS::Lambda::Alias":
        return str(
            client["lambda"].create_alias(
                FunctionName=props["FunctionName"],
                Name=props["Name"],
                FunctionVersion=props["FunctionVersion"],
            )["AliasArn"]
        )
    if kind == "AWS::Lambda::EventSourceMapping":
        # Created disabled: moto would hand queued messages to Lambda, which it cannot run
        # without Docker, and lose them; the local event source runs the handlers instead.
        return str(
            client["lambda"].create_event_source_mapping(
                **{k: v for k, v in props.items() if k != "Enabled"}, Enabled=False
            )["UUID"]
        )
    if kind == "AWS::Lambda::Permission":
        client["lambda"].add_permission(
            FunctionName=props["FunctionName"],
            StatementId=name,
            Action=props["Action"],
            Principal=props["Principal"],
            **({"SourceArn": props["SourceArn"]} if "SourceArn" in props else {}),
        )
        return f"{name}-permission"
    if kind == "AWS::Events::Rule":
        rule = f"{stack}-{name}"
        arn = client["events"].put_rule(
            Name=rule,
            ScheduleExpression=props["ScheduleExpression"],
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
        )["RuleArn"]
        client["events"].put_targets(
            Rule=rule, Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in props["Targets"]]
        )
        deployed.attributes[(name, "Arn")] = str(arn)
        return rule
    if kind == "AWS::Logs::DeliverySource":
        client["logs"].put_delivery_source(
            name=props["Name"], resourceArn=props["ResourceArn"], logType=props["LogType"]
        )
        return str(props["Name"])
    if kind == "AWS::Logs::DeliveryDestination":
        made = client["logs"].put_delivery_destination(
            name=props["Name"],
            outputFormat=props.get("OutputFormat", "json"),
            deliveryDestinationConfiguration={
                "destinationResourceArn": props["DestinationResourceArn"]
            },
        )["deliveryDestination"]
        deployed.attributes[(name, "Arn")] = str(made["arn"])
        return str(props["Name"])
    if kind == "AWS::Logs::Delivery":
        made = client["logs"].create_delivery(
            deliverySourceName=props["DeliverySourceName"],
            deliveryDestinationArn=props["DeliveryDestinationArn"],
            recordFields=props.get("RecordFields", []),
        )["delivery"]
        return str(made["id"])
    if kind == "AWS::CloudWatch::Alarm":
        alarm = f"{stack}-{name}"
        client["cloudwatch"].put_metric_alarm(AlarmName=alarm, **props)
        return alarm
    if kind == "AWS::IAM::OIDCProvider":
        return str(
            client["iam"].create_open_id_connect_provider(
                Url=props["Url"],
                ClientIDList=props["ClientIdList"],
                ThumbprintList=props.get("ThumbprintList", ["0" * 40]),
            )["OpenIDConnectProviderArn"]
        )
    if kind == "AWS::CloudFront::OriginAccessControl":
        return str(
            client["cloudfront"].create_origin_access_control(
                OriginAccessControlConfig=props["OriginAccessControlConfig"]
            )["OriginAccessControl"]["Id"]
        )
    if kind == "AWS::CloudFront::KeyValueStore":
        return str(
            client["cloudfront"].create_key_value_store(
                Name=props["Name"], Comment=props.get("Comment", "")
            )["KeyValueStore"]["ARN"]
        )
    if kind == "AWS::CloudFront::Function":
        config = _cloudfront_lists(props["FunctionConfig"])
        client["cloudfront"].create_function(
            Name=props["Name"], FunctionConfig=config, FunctionCode=props["FunctionCode"].encode()
        )
        return str(props["Name"])
    if kind == "AWS::Scheduler::ScheduleGroup":
        client["scheduler"].create_schedule_group(Name=props["Name"])
        return str(props["Name"])
    if kind == "AWS::CloudFront::Distribution":
        config = _distribution_config(props["DistributionConfig"], f"{stack}-{name}")
        return str(
            client["cloudfront"].create_distribution(DistributionConfig=config)["Distribution"][
                "Id"
            ]
        )
    # moto has no API for these (cache and response-headers policies): they shape only what
    # the real CDN caches and sends, which the local CDN takes from the template itself.
    deployed.applied.remove(name)
    deployed.not_emulated.append(name)
    return f"{name}-not-emulated"


def _apply_property(
    client: dict[str, Any], kind: str, physical: str, prop: str, value: Any
) -> None:
    if prop == "VersioningConfiguration":
        client["s3"].put_bucket_versioning(Bucket=physical, VersioningConfiguration=value)
    elif prop == "NotificationConfiguration":
        queues = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                **(
                    {"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}}
                    if "Filter" in q
                    else {}
                ),
            }
            for q in value.get("QueueConfigurations", [])
        ]
        client["s3"].put_bucket_notification_configuration(
            Bucket=physical, NotificationConfiguration={"QueueConfigurations": queues}
        )
