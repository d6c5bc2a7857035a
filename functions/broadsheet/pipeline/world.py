"""A whole pipeline in memory: buckets, queues with SQS's delivery rules, CDN, scheduler
and clock, for tests, the bench and anything that wants to publish without AWS."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broadsheet.adapters.aws import STAGES
from broadsheet.adapters.cdn import MemoryCDN
from broadsheet.adapters.queue import Envelope, MemoryQueue
from broadsheet.adapters.redirects import ObjectRedirects
from broadsheet.adapters.scheduler import MemoryScheduler
from broadsheet.adapters.store import MemoryStore, ObjectStore, Stored
from broadsheet.errors import NotYet, Permanent
from broadsheet.pipeline.messages import CommitJob, commit_of
from broadsheet.pipeline.stages import (
    BATCHED,
    FIFO,
    GATHERED,
    again,
    handle,
    handle_batch,
    waiting_room,
)


class NotifyingStore:
    """A bucket that announces new manifests to the validate queue, as S3's event
    notification does (a write of the same key twice announces it twice)."""

    def __init__(self, store: ObjectStore, announce: Callable[[str, str], None]) -> None:
        self.store = store
        self.announce = announce

    @property
    def requests(self) -> int:
        return self.store.requests

    @requests.setter
    def requests(self, value: int) -> None:
        self.store.requests = value

    def get(self, key: str) -> Stored | None:
        return self.store.get(key)

    def put(self, key: str, body: bytes, **options: Any) -> str:
        etag = self.store.put(key, body, **options)
        if commit_of(key):
            self.announce(key, etag)
        return etag

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.store.delete(key, if_match=if_match)

    def keys(self, prefix: str = "") -> Any:
        return self.store.keys(prefix)

    def listing(self, prefix: str = "") -> Any:
        return self.store.listing(prefix)

    def retire(self, key: str, retired: bool = True) -> None:
        self.store.retire(key, retired)

    def is_retired(self, key: str) -> bool:
        return self.store.is_retired(key)


GATHER = 10  # the most a FIFO receive hands out at once


@dataclass
class World:
    """A whole pipeline in memory."""

    clock: Callable[[], dt.datetime]
    bucket: MemoryStore = field(default_factory=MemoryStore)  # the source bucket itself
    site: MemoryStore = field(default_factory=MemoryStore)
    cdn: MemoryCDN = field(default_factory=MemoryCDN)
    scheduler: MemoryScheduler = field(default_factory=MemoryScheduler)
    queues: dict[str, MemoryQueue] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason)
    deliveries: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # stage -> bucket requests
    # One bucket request at a time: a run is replayed exactly from its seed, and a crash
    # armed for a delivery's thread counts every write of it.
    workers: int = 1

    def __post_init__(self) -> None:
        for stage in STAGES:
            self.queues.setdefault(stage, MemoryQueue(self.bucket, fifo=stage in FIFO))
        self.sources: ObjectStore = NotifyingStore(self.bucket, self._announce)
        self.redirects = ObjectRedirects(self.bucket)

    def _announce(self, key: str, etag: str) -> None:
        commit = commit_of(key)
        assert commit is not None
        self.queues["validate"].send(CommitJob(commit, key, etag).to_json())

    def queue(self, stage: str) -> MemoryQueue:
        return self.queues[stage]

    def now(self) -> dt.datetime:
        return self.clock()

    def waiting(self, stages: tuple[str, ...] = STAGES) -> list[tuple[str, Envelope]]:
        return [(s, m) for s in stages for m in self.queues[s].waiting()]

    def deliver(self, stage: str, envelope: Envelope, *, keep: bool = False) -> bool:
        """Hand one message to its stage as Lambda's event source would; ``keep`` leaves
        it in the queue even after success (a duplicate delivery). True on success."""
        queue = self.queues[stage]
        message = queue.receive(envelope)
        if message is None:  # received too often: it went to the dead-letter list
            return False
        self.deliveries += 1
        batch: list[Envelope] = []
        messages = [message]
        gathered = stage in GATHERED and message.get("type") == GATHERED[stage]
        if stage in BATCHED:  # its event source waits for a batch: one run for all
            for other in [e for e in queue.waiting() if e is not envelope]:
                received = queue.receive(other)
                if received is not None:
                    batch.append(other)
                    messages.append(received)
        elif gathered:  # a FIFO group's next jobs of the kind come in the same batch
            for other in queue.following(envelope, GATHER - 1):
                if f'"type":"{message["type"]}"' not in other.body:
                    break
                received = queue.receive(other)
                if received is None:
                    break
                batch.append(other)
                messages.append(received)
        before = self.bucket.requests + self.site.requests
        try:
            if stage in BATCHED or gathered:
                handle_batch(stage, messages, self)
            else:
                handle(stage, message, self)
        except NotYet:
            try:
                for waiting in messages:
                    self.queues[waiting_room(stage)].send(again(waiting))
            except Exception:  # the re-send died (its claim check, say): SQS hands it out again
                for each in (envelope, *batch):
                    queue.release(each)
                raise
            for each in (envelope, *batch):
                queue.delete(each)
            return True
        except Permanent as error:
            self.failures.append((stage, str(error)))
            for each in (envelope, *batch):
                queue.delete(each)
            return False
        except Exception:
            for each in (envelope, *batch):
                queue.release(each)
            raise
        finally:
            spent = self.bucket.requests + self.site.requests - before
            self.requests[stage] = self.requests.get(stage, 0) + spent
        for each in (envelope, *batch):
            if keep:
                queue.release(each)
            else:
                queue.delete(each)
        return True

    def fire_releases(self) -> int:
        """What EventBridge Scheduler does at each due schedule: send its message."""
        due = self.scheduler.due(self.now())
        for release_ in due:
            self.queues["index"].send(release_.message)
        return len(due)

    def drain(
        self,
        rng: random.Random | None = None,
        limit: int = 100_000,
        stages: tuple[str, ...] = STAGES,
    ) -> int:
        """Deliver until every queue of ``stages`` is empty, in queue order or in
        ``rng``'s order."""
        delivered = 0
        while True:
            waiting = self.waiting(stages)
            if not waiting:
                return delivered
            stage, envelope = rng.choice(waiting) if rng else waiting[0]
            self.deliver(stage, envelope)
            delivered += 1
            if delivered > limit:
                raise RuntimeError(f"queues still busy after {limit} deliveries")
