"""The stages wired together: which function takes which message, and a whole pipeline
in memory (buckets, queues with SQS's delivery rules, CDN, scheduler, clock) for tests,
the bench and anything that wants to publish without AWS.

``handle`` is the one place a message meets its stage; the Lambda handlers call it too.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broadsheet.adapters.aws import STAGES
from broadsheet.adapters.cdn import MemoryCDN
from broadsheet.adapters.queue import Envelope, MemoryQueue
from broadsheet.adapters.redirects import ObjectRedirects
from broadsheet.adapters.scheduler import MemoryScheduler
from broadsheet.adapters.store import MemoryStore, ObjectStore, Stored
from broadsheet.errors import NotYet, Permanent
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.messages import (
    CommitJob,
    InvalidateJob,
    IssueJob,
    ReleaseJob,
    SearchJob,
    commit_of,
    job_from_json,
)


def handle(stage: str, message: Mapping[str, Any], env: Env) -> dict[str, Any]:
    """Run the stage a message is for. NotYet, Retryable and Permanent pass through.

    Each stage's module is imported here, when its first message comes: a function pays
    at cold start only for its own stage (invalidate never loads a template engine).
    """
    job = job_from_json(message)
    if stage == "validate" and isinstance(job, CommitJob | IssueJob):
        from broadsheet.pipeline.validate import validate_commit, validate_issue

        if isinstance(job, CommitJob):
            return validate_commit(job, env)
        return validate_issue(job, env)
    if stage == "render" and isinstance(job, IssueJob):
        from broadsheet.pipeline.render import render_issue

        return render_issue(job, env)
    if stage == "index" and isinstance(job, IssueJob | ReleaseJob):
        from broadsheet.pipeline.index import index_issue, release

        if isinstance(job, IssueJob):
            return index_issue(job, env)
        return release(job, env)
    if stage == "invalidate" and isinstance(job, InvalidateJob):
        from broadsheet.pipeline.invalidate import invalidate_commit

        return invalidate_commit(job, env)
    if stage == "search" and isinstance(job, SearchJob):
        return search_archive(env, verify=job.verify)
    raise Permanent(f"the {stage} stage takes no {type(job).__name__}")


def search_archive(env: Env, *, verify: bool = False) -> dict[str, Any]:
    """The search stage: every language's index made to match the records (one rebuild
    serves any number of jobs, so the Lambda handler runs it once a batch)."""
    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.pipeline.search import rebuild

    return rebuild(env, build_bundle, verify=verify)


def again(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message sent back to wait: the same job, one wait more."""
    return {**message, "waits": int(message.get("waits", 0)) + 1}


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

    def __post_init__(self) -> None:
        for stage in STAGES:
            self.queues.setdefault(stage, MemoryQueue(self.bucket))
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
        batch = []
        if stage == "search":  # its event source waits for a batch: one rebuild for all
            others = [(e, queue.receive(e)) for e in queue.waiting() if e is not envelope]
            batch = [e for e, received in others if received is not None]
            if any(received and received.get("verify") for _, received in others):
                message = {**message, "verify": True}  # a repair's job among them
        before = self.bucket.requests + self.site.requests
        try:
            handle(stage, message, self)
        except NotYet:
            try:
                queue.send(again(message))
            except Exception:  # the re-send died (its claim check, say): SQS hands it out again
                queue.release(envelope)
                raise
            queue.delete(envelope)
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
