"""Queues between the stages: SQS, or an in-memory queue with SQS's semantics.

A message body never exceeds ``MAX_BODY``. A larger one is written to the source bucket
and the message carries only its key (a claim check, as AWS's SQS extended client
does), so the first publish of a large archive travels the same path as any commit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from broadsheet.adapters.store import ObjectStore, put_new
from broadsheet.errors import Retryable

MAX_BODY = 200 * 1024  # bytes; SQS takes 256 KiB, the rest is headroom for attributes
CLAIM = "claim"


class Queue(Protocol):
    def send(self, message: Mapping[str, Any], *, delay: int = 0) -> None: ...


def claim_key(digest: str) -> str:
    return f"claims/{digest}.json"


def encode(message: Mapping[str, Any], claims: ObjectStore) -> str:
    """The body to send: the message itself, or a claim on it when it is too large."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = body.encode()
    if len(data) <= MAX_BODY:
        return body
    key = claim_key(hashlib.sha256(data).hexdigest())
    put_new(claims, key, data, content_type="application/json")
    return json.dumps({CLAIM: key})


def decode(body: str, claims: ObjectStore) -> dict[str, Any]:
    """The message a body carries, fetching it when the body is a claim."""
    message = json.loads(body)
    if isinstance(message, dict) and set(message) == {CLAIM}:
        stored = claims.get(str(message[CLAIM]))
        if stored is None:
            raise Retryable(f"claimed message {message[CLAIM]} is not in the bucket")
        message = json.loads(stored.body)
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def group_of(message: Mapping[str, Any]) -> str:
    """The message group a message names (for a FIFO queue): one group per issue, and one
    for what every issue shares. A message that names none goes in a group of its own."""
    return str(message.get("group") or "ungrouped")


@dataclass
class Envelope:
    """One message in a ``MemoryQueue``: what SQS keeps beside the body."""

    id: str
    body: str
    receives: int = 0
    delay: int = 0
    in_flight: bool = False
    group: str | None = None  # its message group, on a FIFO queue


@dataclass
class MemoryQueue:
    """A queue with SQS's delivery rules, for in-process flows and tests: a received
    message stays until deleted, a released one comes back, and one received
    ``max_receives`` times goes to the dead-letter list instead. A ``fifo`` queue hands
    out each message group's messages in order, one at a time: while one is in flight
    (or waits to be received again) the rest of its group waits."""

    claims: ObjectStore
    max_receives: int = 5
    fifo: bool = False
    messages: list[Envelope] = field(default_factory=list)
    dead: list[Envelope] = field(default_factory=list)
    sent: int = 0
    largest: int = 0  # bytes of the largest body sent
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, message: Mapping[str, Any], *, delay: int = 0) -> None:
        body = encode(message, self.claims)
        self.sent += 1
        self.largest = max(self.largest, len(body.encode()))
        group = group_of(message) if self.fifo else None
        # A FIFO queue takes no delay per message (SQS refuses it).
        self.messages.append(
            Envelope(f"m{next(self._ids)}", body, delay=0 if self.fifo else delay, group=group)
        )

    def waiting(self) -> list[Envelope]:
        if not self.fifo:
            return [m for m in self.messages if not m.in_flight]
        heads: dict[str | None, Envelope] = {}
        for message in self.messages:  # in the order sent: each group's first is its head
            heads.setdefault(message.group, message)
        return [m for m in heads.values() if not m.in_flight]

    def following(self, envelope: Envelope, limit: int) -> list[Envelope]:
        """The messages after ``envelope`` in its FIFO group, in order, that one receive
        may hand out with it."""
        group = [m for m in self.messages if m.group == envelope.group]
        after = group[group.index(envelope) + 1 :]
        found = []
        for message in after[:limit]:
            if message.in_flight:
                break
            found.append(message)
        return found

    def receive(self, envelope: Envelope) -> dict[str, Any] | None:
        """Take one waiting message; None when it was dead-lettered instead."""
        if envelope.receives >= self.max_receives:
            self.messages.remove(envelope)
            self.dead.append(envelope)
            return None
        envelope.receives += 1
        envelope.in_flight = True
        return decode(envelope.body, self.claims)

    def delete(self, envelope: Envelope) -> None:
        self.messages.remove(envelope)

    def release(self, envelope: Envelope) -> None:
        envelope.in_flight = False


def schedule_target(client: Any) -> Callable[[str, str, str], None]:
    """What EventBridge Scheduler does with a schedule's input: send it to the target
    queue (``send(queue_arn, body, message_group)``), in its message group on a FIFO
    queue, which deduplicates it by content. The local stack's scheduler."""

    def send(arn: str, body: str, group: str) -> None:
        url = client.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
        grouped = {"MessageGroupId": group} if url.endswith(".fifo") else {}
        client.send_message(QueueUrl=url, MessageBody=body, **grouped)

    return send


class SQSQueue:
    def __init__(self, client: Any, url: str, claims: ObjectStore) -> None:
        self.client = client
        self.url = url
        self.claims = claims

    @property
    def fifo(self) -> bool:
        return self.url.endswith(".fifo")

    def send(self, message: Mapping[str, Any], *, delay: int = 0) -> None:
        self._put(encode(message, self.claims), group_of(message), delay)

    def _put(self, body: str, group: str, delay: int = 0) -> None:
        if self.fifo:
            # Each send is its own message: a job sent again is new work, never a repeat
            # to drop (every stage is idempotent, so a true repeat costs only time).
            self.client.send_message(
                QueueUrl=self.url,
                MessageBody=body,
                MessageGroupId=group,
                MessageDeduplicationId=uuid.uuid4().hex,
            )
            return
        self.client.send_message(
            QueueUrl=self.url, MessageBody=body, DelaySeconds=max(0, min(900, delay))
        )

    def peek(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The messages waiting, looked at without taking them (no visibility timeout)."""
        found: dict[str, dict[str, Any]] = {}
        for _ in range(max(1, limit // 10)):
            batch = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in found]
            if not fresh:
                break
            found.update((m["MessageId"], m) for m in fresh)
        return list(found.values())

    def move_to(self, target: SQSQueue) -> list[str]:
        """Send every waiting message to ``target`` and delete it here; their ids."""
        moved: list[str] = []
        while True:
            batch = self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            if not batch:
                return moved
            for message in batch:
                try:
                    group = group_of(decode(message["Body"], self.claims))
                except (ValueError, Retryable):  # unreadable: it goes back to fail again
                    group = group_of({})
                target._put(message["Body"], group)
                self.client.delete_message(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"]
                )
                moved.append(message["MessageId"])
