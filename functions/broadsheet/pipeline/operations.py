"""What maintainers run against a stack: publish, status, dead-letter queues, rebuild.

A stack is found by its CloudFormation outputs (the deployed one, or the local stack
behind ``--endpoint-url``), so nobody copies bucket names around.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from broadsheet.adapters.queue import SQSQueue
from broadsheet.adapters.store import ObjectStore, S3Store
from broadsheet.pipeline.publisher import HEAD_KEY
from broadsheet.pipeline.stages import (
    Buckets,
    failure_key,
    rebuild_messages,
    report_key,
    status_key,
)

STAGES = ("validate", "render", "index", "invalidate")


@dataclass(frozen=True)
class Stack:
    source_bucket: str
    site_bucket: str
    queues: dict[str, str]
    dead_letters: dict[str, str]
    distribution: str | None
    endpoint_url: str | None = None

    @classmethod
    def from_outputs(cls, outputs: dict[str, str], endpoint_url: str | None = None) -> Stack:
        return cls(
            outputs["SourceBucketName"],
            outputs["SiteBucketName"],
            {s: outputs[f"{s.capitalize()}QueueUrl"] for s in STAGES},
            {s: outputs[f"{s.capitalize()}DeadLetterQueueUrl"] for s in STAGES},
            outputs.get("DistributionId"),
            endpoint_url,
        )

    @classmethod
    def find(cls, name: str, endpoint_url: str | None = None) -> Stack:
        cloudformation = boto3.client("cloudformation", endpoint_url=endpoint_url)
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return cls.from_outputs(outputs, endpoint_url)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url)

    def buckets(self) -> Buckets:
        s3 = self.client("s3")
        return Buckets(S3Store(s3, self.source_bucket), S3Store(s3, self.site_bucket))


def _read_json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    stored = store.get(key)
    return json.loads(stored.body) if stored else None


def resolve_commit(stack: Stack, prefix: str | None) -> str | None:
    sources = stack.buckets().sources
    if not prefix:
        stored = sources.get(HEAD_KEY)
        return stored.body.decode().strip() if stored else None
    matches = [
        k.removeprefix("manifests/").removesuffix(".json")
        for k in sources.keys(f"manifests/{prefix}")
    ]
    return matches[0] if len(matches) == 1 else None


def status(stack: Stack, commit: str) -> dict[str, Any]:
    """Each stage's record of a commit, and the validation report's findings."""
    sources = stack.buckets().sources
    stages = {stage: _read_json(sources, status_key(commit, stage)) for stage in STAGES}
    report = _read_json(sources, report_key(commit))
    return {"commit": commit, "stages": stages, "findings": (report or {}).get("findings", [])}


def format_status(found: dict[str, Any]) -> str:
    lines = [f"commit {found['commit']}"]
    for stage in STAGES:
        record = found["stages"][stage]
        if record is None:
            lines.append(f"  {stage:<11} pending")
            continue
        detail = {k: v for k, v in record.items() if k not in {"commit", "stage", "at"}}
        summary = ", ".join(
            f"{k}: {len(v) if isinstance(v, list) else v}" for k, v in detail.items()
        )
        lines.append(f"  {stage:<11} done {record['at'][:19]}Z  {summary}")
    for finding in found["findings"]:
        where = f"{finding['path']}:{finding['line']}:{finding['column']}"
        field = f" {finding['field']}:" if finding["field"] else ""
        lines.append(f"  finding    {where}:{field} {finding['message']}")
    invalidate = found["stages"]["invalidate"]
    if invalidate:
        for path in invalidate.get("paths", []):
            lines.append(f"  invalidated {path}")
    return "\n".join(lines) + "\n"


def dead_letters(stack: Stack, stage: str | None = None) -> list[dict[str, Any]]:
    """The messages in the dead-letter queues, with the reason each failed last.

    They are only looked at: received with no visibility timeout, they stay available.
    """
    sqs = stack.client("sqs")
    sources = stack.buckets().sources
    found = []
    for name in [stage] if stage else STAGES:
        seen: set[str] = set()
        for _ in range(100):
            messages = sqs.receive_message(
                QueueUrl=stack.dead_letters[name], MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                failure = _read_json(sources, failure_key(message["MessageId"])) or {}
                try:
                    commit = json.loads(message["Body"]).get("commit", "?")
                except ValueError:
                    commit = "?"
                found.append(
                    {
                        "stage": name,
                        "message_id": message["MessageId"],
                        "commit": commit,
                        "reason": failure.get("error", "unknown"),
                        "failed_at": failure.get("at"),
                    }
                )
    return found


def replay(stack: Stack, stage: str | None = None, say: Callable[[str], object] = print) -> int:
    """Move dead-lettered messages back to the queue they came from; how many moved."""
    sqs = stack.client("sqs")
    moved = 0
    for name in [stage] if stage else STAGES:
        while True:
            messages = sqs.receive_message(
                QueueUrl=stack.dead_letters[name], MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                sqs.send_message(QueueUrl=stack.queues[name], MessageBody=message["Body"])
                sqs.delete_message(
                    QueueUrl=stack.dead_letters[name], ReceiptHandle=message["ReceiptHandle"]
                )
                moved += 1
                say(f"replayed {message['MessageId']} to {name}")
    return moved


def rebuild(stack: Stack) -> int:
    """Fan a full re-render out over the render queue, one message per issue."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    queue = SQSQueue(stack.client("sqs"), stack.queues["render"])
    messages = rebuild_messages(stack.buckets(), stamp)
    for message in messages:
        queue.send({**message, "stage": "render"})
    return len(messages)
