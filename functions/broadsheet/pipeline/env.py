"""What a stage acts on: the buckets, the queues, the CDN, the scheduler, the redirect
table and the clock. Handlers give the AWS ones; ``flow`` gives in-memory ones."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from broadsheet.adapters.cdn import CDN
from broadsheet.adapters.queue import Queue
from broadsheet.adapters.redirects import Redirects
from broadsheet.adapters.scheduler import Scheduler
from broadsheet.adapters.store import ObjectStore
from broadsheet.errors import Retryable
from broadsheet.pipeline.messages import blob_key, status_key


class Env(Protocol):
    @property
    def sources(self) -> ObjectStore:
        """Private: blobs, manifests, trees, states, bodies, reports."""

    @property
    def site(self) -> ObjectStore:
        """What the CDN serves."""

    def queue(self, stage: str) -> Queue: ...

    @property
    def cdn(self) -> CDN: ...

    @property
    def scheduler(self) -> Scheduler: ...

    @property
    def redirects(self) -> Redirects: ...

    def now(self) -> dt.datetime: ...


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def read_json(store: ObjectStore, key: str) -> Any:
    stored = store.get(key)
    return json.loads(stored.body) if stored else None


def put_json(store: ObjectStore, key: str, value: Any) -> None:
    store.put(key, to_json(value), content_type="application/json")


def blob(store: ObjectStore, digest: str | None) -> bytes:
    stored = store.get(blob_key(digest)) if digest else None
    if stored is None:
        raise Retryable(f"source blob {digest} is not in the bucket yet")
    return stored.body


def record(env: Env, commit: str, stage: str, issue: int | None, **fields: Any) -> None:
    """What a stage did with a commit (``broadsheet status`` reads these)."""
    entry = {
        "commit": commit,
        "stage": stage,
        "issue": issue,
        "at": env.now().isoformat(),
        **fields,
    }
    put_json(env.sources, status_key(commit, stage, issue), entry)
