"""The adapters of one deployed stack, made from its settings: a function's environment
variables in Lambda, or the stack's CloudFormation outputs for a maintainer's command.

Each client is made on first use: a handler pays at cold start only for the services it
calls (boto3 loads a service model per client).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from broadsheet.adapters.cdn import CloudFrontCDN
from broadsheet.adapters.queue import SQSQueue
from broadsheet.adapters.redirects import KeyValueStoreRedirects, ObjectRedirects, Redirects
from broadsheet.adapters.scheduler import EventBridgeScheduler
from broadsheet.adapters.store import S3Store
from broadsheet.errors import CommandError

# The pipeline's stages: one function, one queue and one dead-letter queue each.
STAGES = ("validate", "render", "index", "invalidate", "search")
# Stack output → setting: what a command learns from CloudFormation, a function from its
# environment.
OUTPUTS = {
    "SourceBucketName": "SOURCE_BUCKET",
    "Release": "BROADSHEET_RELEASE",
    "SiteBucketName": "SITE_BUCKET",
    "DistributionId": "DISTRIBUTION_ID",
    "RedirectStoreArn": "REDIRECT_STORE_ARN",
    "ReleaseGroupName": "RELEASE_GROUP",
    "ReleaseRoleArn": "RELEASE_ROLE_ARN",
    "IndexQueueArn": "RELEASE_TARGET_ARN",
    "ReleaseDeadLetterQueueArn": "RELEASE_DEAD_LETTER_ARN",
    "ReleaseDeadLetterQueueUrl": "RELEASE_DEAD_LETTER_URL",
    **{f"{s.capitalize()}QueueUrl": f"{s.upper()}_QUEUE_URL" for s in STAGES},
    **{f"{s.capitalize()}DeadLetterQueueUrl": f"{s.upper()}_DEAD_LETTER_URL" for s in STAGES},
}


class AwsEnv:
    """Everything a stage acts on, in one AWS account (``pipeline.env.Env``)."""

    def __init__(self, settings: Mapping[str, str], endpoint_url: str | None = None) -> None:
        self.settings = dict(settings)
        self.endpoint_url = endpoint_url

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str], endpoint_url: str | None = None) -> AwsEnv:
        settings = {OUTPUTS[k]: v for k, v in outputs.items() if k in OUTPUTS}
        return cls(settings, endpoint_url)

    @classmethod
    def find(cls, stack: str, endpoint_url: str | None = None) -> AwsEnv:
        """The stack deployed under that name (or the local one at ``endpoint_url``)."""
        import boto3
        import botocore.exceptions

        try:
            cloudformation = boto3.client("cloudformation", endpoint_url=endpoint_url)
            described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise CommandError(f"cannot find the stack {stack!r}: {error}") from error
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return cls.from_outputs(outputs, endpoint_url)

    def setting(self, name: str) -> str:
        value = self.settings.get(name)
        if not value:
            raise RuntimeError(f"{name} is not set")
        return value

    # Bucket requests a stage has in flight at once (``pipeline.env.side_by_side``): a
    # request to S3 takes tens of milliseconds, nearly all of it waiting. As many as
    # boto3's connection pool holds by default.
    workers = 10

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # AWS_ENDPOINT_URL (the local stack) is honoured by boto3 itself.
        config = Config(max_pool_connections=self.workers)
        return boto3.client(service, endpoint_url=self.endpoint_url, config=config)

    @cached_property
    def _s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sources(self) -> S3Store:
        return S3Store(self._s3, self.setting("SOURCE_BUCKET"))

    @cached_property
    def site(self) -> S3Store:
        return S3Store(self._s3, self.setting("SITE_BUCKET"))

    @cached_property
    def _sqs(self) -> Any:
        return self.client("sqs")

    def queue(self, stage: str) -> SQSQueue:
        return SQSQueue(self._sqs, self.setting(f"{stage.upper()}_QUEUE_URL"), self.sources)

    def dead_letters(self, stage: str) -> SQSQueue:
        return SQSQueue(self._sqs, self.setting(f"{stage.upper()}_DEAD_LETTER_URL"), self.sources)

    @cached_property
    def cdn(self) -> CloudFrontCDN:
        return CloudFrontCDN(self.client("cloudfront"), self.setting("DISTRIBUTION_ID"))

    @cached_property
    def scheduler(self) -> EventBridgeScheduler:
        return EventBridgeScheduler(
            self.client("scheduler"),
            self.setting("RELEASE_GROUP"),
            self.setting("RELEASE_TARGET_ARN"),
            self.setting("RELEASE_ROLE_ARN"),
            self.settings.get("RELEASE_DEAD_LETTER_ARN", ""),
        )

    @cached_property
    def redirects(self) -> Redirects:
        # The edge's key value store; without one (the local stack), a JSON object.
        arn = self.settings.get("REDIRECT_STORE_ARN")
        if arn:
            return KeyValueStoreRedirects(self.client("cloudfront-keyvaluestore"), arn)
        return ObjectRedirects(self.sources)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
