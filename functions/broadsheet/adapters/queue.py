"""Queues between the stages: SQS, or an in-memory queue with SQS's semantics.

A message body never exceeds ``MAX_BODY``. A larger one is written to the source bucket
and the message carries only its key (a claim check, as AWS's SQS extended client
does), so the first publish of a large archive travels the same path as any commit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
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


@dataclass
class Envelope:
    """One message in a ``MemoryQueue``: what SQS keeps beside the body."""

    id: str
    body: str
    receives: int = 0
    delay: int = 0
    in_flight: bool = False


@dataclass
class MemoryQueue:
    """A queue with SQS's delivery rules, for in-process flows and tests: a received
    message stays until deleted, a released one comes back, and one received
    ``max_receives`` times goes to the dead-letter list instead."""

    claims: ObjectStore
    max_receives: int = 5
    messages: list[Envelope] = field(default_factory=list)
    dead: list[Envelope] = field(default_factory=list)
    sent: int = 0
    largest: int = 0  # bytes of the largest body sent
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, message: Mapping[str, Any], *, delay: int = 0) -> None:
        body = encode(message, self.claims)
        self.sent += 1
        self.largest = max(self.largest, len(body.encode()))
        self.messages.append(Envelope(f"m{next(self._ids)}", body, delay=delay))

    def waiting(self) -> list[Envelope]:
        return [m for m in self.messages if not m.in_flight]

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


class SQSQueue:
    def __init__(self, client: Any, url: str, claims: ObjectStore) -> None:
        self.client = client
        self.url = url
        self.claims = claims

    def send(self, message: Mapping[str, Any], *, delay: int = 0) -> None:
        self.client.send_message(
            QueueUrl=self.url,
            MessageBody=encode(message, self.claims),
            DelaySeconds=max(0, min(900, delay)),
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
                target.client.send_message(QueueUrl=target.url, MessageBody=message["Body"])
                self.client.delete_message(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"]
                )
                moved.append(message["MessageId"])
