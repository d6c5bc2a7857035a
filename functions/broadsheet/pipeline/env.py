"""What a stage acts on: the buckets, the queues, the CDN, the scheduler, the redirect
table and the clock. Handlers give the AWS ones; ``flow`` gives in-memory ones."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

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

    @property
    def workers(self) -> int:
        """How many bucket requests a stage may have in flight at once (1: one after
        another, as the convergence oracle needs to replay a run by its seed)."""


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


def ahead(workers: int, fetch: Callable[[T], R], keys: Iterable[T]) -> Callable[[T], R]:
    """``fetch`` with ``keys`` fetched first, ``workers`` at once: what a stage is about
    to read one by one, without a round trip each in turn; any other key is fetched when
    asked for."""
    wanted = list(dict.fromkeys(keys))
    fetched = dict(zip(wanted, side_by_side(workers, fetch, wanted), strict=True))
    return lambda key: fetched[key] if key in fetched else fetch(key)


def read_ahead(env: Env, digests: Iterable[str]) -> Callable[[str], bytes]:
    """A reader of source blobs with ``digests`` fetched first (``ahead``)."""
    return ahead(env.workers, lambda digest: blob(env.sources, digest), digests)


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


T = TypeVar("T")
R = TypeVar("R")
_POOLS: dict[int, ThreadPoolExecutor] = {}
_IN_POOL = threading.local()


def side_by_side(workers: int, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``work`` done for each of ``items``, up to ``workers`` at once, the results in
    the items' order. A bucket request is mostly waiting (tens of milliseconds on S3),
    so independent requests overlap. Every call has ended before this returns or raises
    (the first error, in the items' order): a step that must come after them, such as
    saving a record, never runs beside them. Work already side by side runs inline."""
    todo = list(items)
    if workers <= 1 or len(todo) <= 1 or getattr(_IN_POOL, "inside", False):
        return [work(item) for item in todo]
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS.setdefault(workers, ThreadPoolExecutor(workers, "bucket"))

    def run(item: T) -> R:
        _IN_POOL.inside = True
        return work(item)

    futures = [pool.submit(run, item) for item in todo]
    wait(futures)
    return [future.result() for future in futures]
