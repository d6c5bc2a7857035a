"""A local event source mapping: SQS queues polled into handlers the way Lambda does it.

moto runs no Lambda code without Docker, so the real handlers run in this process. Per
mapping: batches of up to ``batch_size`` records in the JSON shape Lambda sends (a FIFO
queue's with their message group), ``ReportBatchItemFailures`` honoured (only the failed
records come back), failed records hidden for ``retry_after`` seconds (the queue's
visibility timeout in the cloud), and the queue's redrive policy moving a record that
keeps failing to its dead-letter queue.

Concurrency as Lambda has it: each round, the mapping's pollers (five, as Lambda starts
with, or the mapping's ``MaximumConcurrency``) each receive a batch before any runs, so
every batch's messages are in flight at once and a FIFO queue holds each group that has
one in flight. A function with reserved concurrency below the batches received is
throttled: the batches beyond it go back to the queue with their receive counted, as
Lambda's do, and reach the dead-letter queue if that keeps happening. The invocations of
a round then run one after another (their bucket calls are not interleaved here; the
convergence oracle interleaves them).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
POLLERS = 5  # the batches Lambda's SQS event source receives at once, to begin with


@dataclass
class FunctionMapping:
    name: str
    queue_url: str
    handler: Handler
    environment: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 10
    retry_after: int = 0
    # A batching window: the function waits to gather a batch. Locally it waits until
    # the functions without one have nothing left to do, then takes a whole batch.
    window: int = 0
    concurrency: int | None = None  # the mapping's ScalingConfig.MaximumConcurrency
    reserved: int | None = None  # the function's ReservedConcurrentExecutions

    @property
    def pollers(self) -> int:
        return self.concurrency or POLLERS


@dataclass
class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=lambda: time.monotonic() + 60)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return time.strftime("%Y/%m/%d/[$LATEST]") + self.aws_request_id.replace("-", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalEventSource:
    def __init__(
        self, sqs: Any, mappings: list[FunctionMapping], region: str = "us-east-1"
    ) -> None:
        self.sqs = sqs
        self.mappings = mappings
        self.region = region
        self.invocations = 0
        self.failures = 0
        self.delivered: Counter[str] = Counter()  # records per function
        # What a bench wants to know of a run: the longest invocation and the total time
        # per function, and the largest message body received.
        self.slowest: dict[str, float] = {}
        self.busy: dict[str, float] = {}
        self.by_group: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self.largest = 0
        # Records sent back because the function was throttled, and the most invocations
        # of a function in one round, per function.
        self.throttled: Counter[str] = Counter()
        self.concurrent: Counter[str] = Counter()

    def _record(self, mapping: FunctionMapping, message: dict[str, Any]) -> dict[str, Any]:
        arn = self.sqs.get_queue_attributes(
            QueueUrl=mapping.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                **{
                    name: message["Attributes"][name]
                    for name in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
                    if name in message["Attributes"]
                },
                "ApproximateReceiveCount": message["Attributes"].get(
                    "ApproximateReceiveCount", "1"
                ),
                "SentTimestamp": message["Attributes"].get("SentTimestamp", "0"),
                "SenderId": message["Attributes"].get("SenderId", "AIDAEXAMPLE"),
                "ApproximateFirstReceiveTimestamp": message["Attributes"].get(
                    "ApproximateFirstReceiveTimestamp", "0"
                ),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.region,
        }

    def _receive(self, mapping: FunctionMapping) -> list[dict[str, Any]]:
        """One poller's batch."""
        received: list[dict[str, Any]] = []
        while len(received) < mapping.batch_size:
            more = self.sqs.receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=min(10, mapping.batch_size - len(received)),
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            received += more
            if not more or not mapping.window:  # SQS hands out ten at most a call
                break
        return received

    def _return(self, mapping: FunctionMapping, message: dict[str, Any]) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=mapping.queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=mapping.retry_after,
        )

    def poll(self, mapping: FunctionMapping) -> int:
        """One round of the mapping's pollers, and its invocations; the records
        delivered."""
        batches = []
        for _ in range(mapping.pollers):
            batch = self._receive(mapping)
            if not batch:
                break
            batches.append(batch)
        allowed = len(batches) if mapping.reserved is None else mapping.reserved
        for batch in batches[allowed:]:  # throttled: back to the queue, a receive spent
            self.throttled[mapping.name] += len(batch)
            for message in batch:
                self._return(mapping, message)
        self.concurrent[mapping.name] = max(
            self.concurrent[mapping.name], min(allowed, len(batches))
        )
        return sum(self._invoke(mapping, batch) for batch in batches[:allowed])

    def _invoke(self, mapping: FunctionMapping, received: list[dict[str, Any]]) -> int:
        event = {"Records": [self._record(mapping, m) for m in received]}
        self.invocations += 1
        self.delivered[mapping.name] += len(received)
        self.largest = max([self.largest, *(len(m["Body"].encode()) for m in received)])
        failed: set[str]
        started = time.perf_counter()
        try:
            with environment(mapping.environment):
                response = mapping.handler(event, Context(mapping.name))
            failed = {
                item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])
            }
        except Exception:
            failed = {m["MessageId"] for m in received}  # a crash fails the whole batch
        took = time.perf_counter() - started
        self.busy[mapping.name] = self.busy.get(mapping.name, 0.0) + took
        self.slowest[mapping.name] = max(self.slowest.get(mapping.name, 0.0), took)
        # A FIFO queue's time by message group, each record its share of the invocation:
        # what a bench needs to say what runs side by side on Lambda and what in turn.
        for message in received:
            group = message["Attributes"].get("MessageGroupId")
            if group is not None:
                groups = self.by_group[mapping.name]
                groups[group] = groups.get(group, 0.0) + took / len(received)
        self.failures += len(failed)
        for message in received:
            if message["MessageId"] in failed:
                self._return(mapping, message)
            else:
                self.sqs.delete_message(
                    QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(received)

    def waiting_later(self) -> int:
        """Messages that are delayed (sent back to wait) or in flight: not done yet."""
        count = 0
        for mapping in self.mappings:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=mapping.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessagesDelayed",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            count += sum(int(v) for v in attributes.values())
        return count

    def drain(self, rounds: int = 400, patience: float = 60.0) -> int:
        """Poll every queue in turn until all are empty, waiting for messages that were
        sent back with a delay; the records delivered."""
        delivered = 0
        deadline = time.monotonic() + patience
        for _ in range(rounds):
            moved = sum(self.poll(mapping) for mapping in self.mappings if not mapping.window)
            if moved == 0:
                moved = sum(self.poll(mapping) for mapping in self.mappings if mapping.window)
            delivered += moved
            if moved == 0:
                if not self.waiting_later() or time.monotonic() > deadline:
                    return delivered
                time.sleep(0.25)
        raise RuntimeError(f"queues still busy after {rounds} rounds")
