"""The local event source against SQS in moto: Lambda's pollers, a FIFO queue's message
groups held while in flight, and throttling that spends a receive, so the tests see
what Lambda does with the template's concurrency settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from broadsheet.local.eventsource import POLLERS, FunctionMapping, LocalEventSource
from tests.support.aws import REGION, moto_world


@pytest.fixture
def sqs() -> Iterator[Any]:
    with moto_world():
        yield boto3.client("sqs", region_name=REGION)


def queue(sqs: Any, name: str, *, fifo: bool = False, max_receives: int = 3) -> tuple[str, str]:
    suffix = ".fifo" if fifo else ""
    extra = {"FifoQueue": "true"} if fifo else {}
    dead = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]
    policy = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": str(max_receives)}
    attributes = {"RedrivePolicy": json.dumps(policy), **extra}
    return sqs.create_queue(QueueName=f"{name}{suffix}", Attributes=attributes)["QueueUrl"], dead


def count(sqs: Any, url: str) -> int:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(found["ApproximateNumberOfMessages"]) + int(
        found["ApproximateNumberOfMessagesNotVisible"]
    )


def test_reserved_concurrency_below_the_pollers_throttles_jobs_into_the_dead_letter_queue(
    sqs: Any,
) -> None:
    # GIVEN a burst on a standard queue, and a function with reserved concurrency 1 (how
    # index and search were deployed), taking one record a batch
    url, dead = queue(sqs, "burst")
    for n in range(POLLERS * 3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    handled: list[int] = []

    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        handled.extend(json.loads(r["body"])["n"] for r in event["Records"])
        return {"batchItemFailures": []}

    mapping = FunctionMapping("f", url, handler, batch_size=1, reserved=1)
    source = LocalEventSource(sqs, [mapping])
    # WHEN the event source runs until the queue is empty
    source.drain()
    # THEN valid jobs were throttled over and over, and some reached the dead-letter
    # queue without the function ever seeing them
    assert source.throttled["f"] > 0
    assert count(sqs, dead) > 0
    assert len(handled) + count(sqs, dead) == POLLERS * 3
    # AND bounded by the event source instead (MaximumConcurrency), none is lost
    url, dead = queue(sqs, "bounded")
    for n in range(POLLERS * 3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    handled.clear()
    bounded = FunctionMapping("g", url, handler, batch_size=1, concurrency=2)
    LocalEventSource(sqs, [bounded]).drain()
    assert sorted(handled) == list(range(POLLERS * 3)) and count(sqs, dead) == 0


def test_a_fifo_group_is_held_while_in_flight_and_groups_run_side_by_side(sqs: Any) -> None:
    # GIVEN three messages for each of two groups on a FIFO queue
    url, _ = queue(sqs, "groups", fifo=True)
    for n in range(3):
        for group in ("issue-1", "issue-2"):
            body = json.dumps({"group": group, "n": n})
            sqs.send_message(
                QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
            )
    rounds: list[list[tuple[str, int]]] = []
    batch: list[tuple[str, int]] = []

    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        for record in event["Records"]:
            body = json.loads(record["body"])
            assert record["attributes"]["MessageGroupId"] == body["group"]
            batch.append((body["group"], body["n"]))
        return {"batchItemFailures": []}

    source = LocalEventSource(sqs, [FunctionMapping("f", url, handler, batch_size=1)])
    while source.poll(source.mappings[0]):
        rounds.append(sorted(batch))
        batch.clear()
    # THEN each round ran one message of each group (the pollers found the rest of a
    # group held while its first was in flight), each group in order
    assert rounds == [[("issue-1", n), ("issue-2", n)] for n in range(3)]
    assert source.concurrent["f"] == 2
