"""Resources for handler tests against moto, and the four functions wired to them."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from broadsheet.adapters.aws import STAGES
from broadsheet.local.eventsource import FunctionMapping, LocalEventSource
from broadsheet.pipeline.release import release
from broadsheet.pipeline.stages import BATCHED, FIFO

REGION = "us-east-1"


def fake_credentials() -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "Broadsheet",
        "POWERTOOLS_DEV": "false",
        "BROADSHEET_MAX_DELAY": "1",
    }.items():
        os.environ[key] = value


@dataclass
class Resources:
    sources: str
    site: str
    distribution: str
    queues: dict[str, str]
    dead_letters: dict[str, str]

    release_group: str = "broadsheet-releases"
    release_role: str = "arn:aws:iam::123456789012:role/broadsheet-release"

    def queue_arn(self, stage: str) -> str:
        sqs = boto3.client("sqs", region_name=REGION)
        return str(
            sqs.get_queue_attributes(QueueUrl=self.queues[stage], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        )

    def environment(self, stage: str) -> dict[str, str]:
        """What the template gives every function (each takes only what its stage uses)."""
        env = {
            "SOURCE_BUCKET": self.sources,
            "SITE_BUCKET": self.site,
            "DISTRIBUTION_ID": self.distribution,
            "RELEASE_GROUP": self.release_group,
            "RELEASE_ROLE_ARN": self.release_role,
            "RELEASE_TARGET_ARN": self.queue_arn("index"),
        }
        env.update({f"{s.upper()}_QUEUE_URL": self.queues[s] for s in STAGES})
        return env

    def outputs(self) -> dict[str, str]:
        """The stack outputs a deployed template would give for these resources."""
        outputs = {
            "SourceBucketName": self.sources,
            "SiteBucketName": self.site,
            "DistributionId": self.distribution,
            "ReleaseGroupName": self.release_group,
            "ReleaseRoleArn": self.release_role,
            "IndexQueueArn": self.queue_arn("index"),
            "Release": release(),
        }
        for stage, url in self.queues.items():
            outputs[f"{stage.capitalize()}QueueUrl"] = url
            outputs[f"{stage.capitalize()}DeadLetterQueueUrl"] = self.dead_letters[stage]
        return outputs


def create_resources(max_receive: int = 3) -> Resources:
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    for bucket in ("broadsheet-sources", "broadsheet-site"):
        s3.create_bucket(Bucket=bucket)
    queues, dead = {}, {}
    for stage in STAGES:
        # As the template has them: index's queue is FIFO, deduplicated by content.
        fifo = {"FifoQueue": "true"} if stage in FIFO else {}
        suffix = ".fifo" if fifo else ""
        dlq = sqs.create_queue(QueueName=f"broadsheet-{stage}-dlq{suffix}", Attributes=fifo)
        arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
        policy = {
            "deadLetterTargetArn": arn["Attributes"]["QueueArn"],
            "maxReceiveCount": str(max_receive),
        }
        attributes = {"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": "60", **fifo}
        if fifo:
            attributes["ContentBasedDeduplication"] = "true"
        queues[stage] = sqs.create_queue(
            QueueName=f"broadsheet-{stage}{suffix}", Attributes=attributes
        )["QueueUrl"]
        dlq = dlq["QueueUrl"]
        dead[stage] = dlq
    validate_arn = sqs.get_queue_attributes(
        QueueUrl=queues["validate"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="broadsheet-sources",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "manifests",
                    "QueueArn": validate_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "manifests/"}]}},
                }
            ]
        },
    )
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name="broadsheet-releases")
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "broadsheet-tests",
            "Comment": "tests",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": "broadsheet-site.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "MinTTL": 0,
            },
        }
    )["Distribution"]["Id"]
    return Resources(
        "broadsheet-sources",
        "broadsheet-site",
        distribution,
        queues,
        dead,
    )


def event_source(
    resources: Resources, *, retry_after: int = 0, handlers: dict[str, Any] | None = None
) -> LocalEventSource:
    from broadsheet.handlers import index, invalidate, render, search, validate

    chosen = {
        "validate": validate.handler,
        "render": render.handler,
        "index": index.handler,
        "invalidate": invalidate.handler,
        "search": search.handler,
        **(handlers or {}),
    }
    mappings = [
        FunctionMapping(
            f"broadsheet-{stage}",
            resources.queues[stage],
            chosen[stage],
            resources.environment(stage),
            batch_size=100 if stage in BATCHED else 10,
            retry_after=retry_after,
            window={"search": 60, "invalidate": 1}.get(stage, 0),
            concurrency={"index": 10, "search": 2}.get(stage),
        )
        for stage in STAGES
    ]
    return LocalEventSource(boto3.client("sqs", region_name=REGION), mappings)


@contextlib.contextmanager
def moto_world() -> Iterator[None]:
    """A fresh moto world; the handlers' cached clients forget the last one, as a new
    Lambda container would."""
    from moto import mock_aws

    from broadsheet.handlers import common

    fake_credentials()
    with mock_aws():
        common._runtime.cache_clear()
        yield
