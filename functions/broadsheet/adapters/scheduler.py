"""Releases by the clock: one one-time schedule per embargoed article.

In the cloud each is an EventBridge Scheduler schedule, ``at(...)`` in UTC, in a group
of its own, deleted by the service once it has run; when it fires it sends its message
to the index queue. moto stores schedules but never runs them, so the local stack fires
due ones itself (``fire_due``), and the in-memory scheduler does the same for tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from broadsheet.adapters.queue import group_of


@dataclass(frozen=True)
class Release:
    name: str
    at: dt.datetime  # UTC
    message: Mapping[str, Any]


class Scheduler(Protocol):
    def put(self, name: str, at: dt.datetime, message: Mapping[str, Any]) -> None: ...

    def delete(self, name: str) -> None: ...

    def pending(self) -> list[Release]: ...


def due_second(moment: dt.datetime) -> dt.datetime:
    """The whole second, in UTC, a schedule for ``moment`` holds: rounded up, so it never
    fires before the moment (12:00:05.3 is due at 12:00:06, not at 12:00:05)."""
    utc = moment.astimezone(dt.UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + dt.timedelta(seconds=1)
    return utc


def _at(moment: dt.datetime) -> str:
    return due_second(moment).strftime("%Y-%m-%dT%H:%M:%S")


class MemoryScheduler:
    def __init__(self) -> None:
        self.schedules: dict[str, Release] = {}

    def put(self, name: str, at: dt.datetime, message: Mapping[str, Any]) -> None:
        self.schedules[name] = Release(name, at.astimezone(dt.UTC), dict(message))

    def delete(self, name: str) -> None:
        self.schedules.pop(name, None)

    def pending(self) -> list[Release]:
        return sorted(self.schedules.values(), key=lambda r: (r.at, r.name))

    def due(self, now: dt.datetime) -> list[Release]:
        """The schedules whose time has come, removed as the service removes them."""
        found = [r for r in self.pending() if r.at <= now]
        for release in found:
            del self.schedules[release.name]
        return found


# A release the service cannot send (the queue gone, the role broken) is tried again for
# a day, then kept in the releases' dead-letter queue, whose alarm tells the maintainer.
RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


class EventBridgeScheduler:
    def __init__(
        self, client: Any, group: str, target_arn: str, role_arn: str, dead_letter_arn: str = ""
    ) -> None:
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn

    def put(self, name: str, at: dt.datetime, message: Mapping[str, Any]) -> None:
        arguments: dict[str, Any] = {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": f"at({_at(at)})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps(message, sort_keys=True),
                "RetryPolicy": RETRY_POLICY,
            },
        }
        if self.dead_letter_arn:
            arguments["Target"]["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        if self.target_arn.endswith(".fifo"):  # the index queue: the message group
            arguments["Target"]["SqsParameters"] = {"MessageGroupId": group_of(message)}
        try:
            self.client.create_schedule(**arguments)
        except self.client.exceptions.ConflictException:
            self.client.update_schedule(**arguments)

    def delete(self, name: str) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_schedule(Name=name, GroupName=self.group)

    def pending(self) -> list[Release]:
        found = []
        paginator = self.client.get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.group):
            for item in page.get("Schedules", []):
                detail = self.client.get_schedule(Name=item["Name"], GroupName=self.group)
                expression = detail["ScheduleExpression"]
                if not expression.startswith("at("):
                    continue
                at = dt.datetime.fromisoformat(expression[3:-1]).replace(tzinfo=dt.UTC)
                message = json.loads(detail["Target"].get("Input") or "{}")
                found.append(Release(item["Name"], at, message))
        return sorted(found, key=lambda r: (r.at, r.name))


def fire_due(
    scheduler: EventBridgeScheduler, now: dt.datetime, send: Callable[[str, str, str], None]
) -> list[Release]:
    """Do what the service does when a schedule's time comes: send its input to its
    target (``send(target_arn, body, message_group)``), then delete it. The local
    stack's clock."""
    fired = []
    for release in scheduler.pending():
        if release.at <= now:
            body = json.dumps(release.message, sort_keys=True)
            send(scheduler.target_arn, body, group_of(release.message))
            scheduler.delete(release.name)
            fired.append(release)
    return fired
