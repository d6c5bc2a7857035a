"""Queues between the stages: SQS, or a list for unit tests."""

from __future__ import annotations

import json
from typing import Any, Protocol


class Queue(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


class MemoryQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        # Round-trip through JSON, as SQS would: what cannot be serialised fails here too.
        self.messages.append(json.loads(json.dumps(message)))


class SQSQueue:
    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, message: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(message))
