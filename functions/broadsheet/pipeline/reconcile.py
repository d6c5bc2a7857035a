"""The reconcile: make the site bucket hold what one partition of the site should hold.

A partition is a set of output files, each a pure function of its inputs: an issue's
pages, the site-wide files (``sitewide.py``), one listing's pages and feed, the index of
a language's sections or tags (``beats.py``), a language's search bundle. It keeps one
*applied record* in the source bucket (``state/applied/<partition>.json``): for every
file it holds, the digest of the inputs it was made from and the hash of its bytes. To
reconcile is to say what each file should be made from now (its inputs' digest,
computed from exactly what its renderer is given), render the files whose digest
differs from the record, put those whose bytes differ, delete the files the partition
no longer has, clear what readers may hold of the files it replaced or deleted, and
save the record last. A crash anywhere leaves the old record, so the next run finds the
same difference and mends it; a message delivered twice finds nothing to do. Nothing is
remembered of *who* wrote what: the record says what the partition holds, and the
inputs say what it should.

The files about to change are marked unknown in the record before the bucket is
touched: a run cut short leaves them to whichever run comes next, which clears them
from the CDN whatever it finds (it cannot know what the first run did). A file created
where nothing was needs no clearing: the CDN caches no error responses.

What is cleared is named by its *transition*: the partition, how many changes its
record had seen before this one (``runs``), and the paths with their new bytes'
hashes. A run repeated after a crash
names the same transition, which CloudFront answers with the first invalidation; the
same change made again later (back, then forth) is a new transition.

One writer at a time per partition, by the index queue's message groups (an issue's
group for its own partition, the shared group for the rest); the record is written with
If-Match all the same, so a second writer would be retried, never lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Protocol

from broadsheet.adapters.store import ObjectStore, PreconditionFailed
from broadsheet.edition import urls, viewer
from broadsheet.errors import Retryable
from broadsheet.pipeline.env import side_by_side

APPLIED = "state/applied/"


class Clear(Protocol):
    """How a reconcile has the CDN forget what it replaced (the invalidate stage)."""

    def __call__(self, transitions: list[str], paths: list[str]) -> None: ...


def transition(partition: str, runs: int, changes: Mapping[str, str]) -> str:
    """The name of one change of a partition (``changes``: each path cleared -> the hash
    of its new bytes, "" when deleted): a repeat is the same name; a change made again
    later, or other bytes on the same paths, another."""
    text = "\n".join(f"{path} {changes[path]}" for path in sorted(changes))
    return f"{partition}@{runs}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def applied_key(partition: str) -> str:
    return f"{APPLIED}{partition}.json"


def file_hash(data: bytes) -> str:
    """A file's hash as S3 lists it (its ETag), so repair compares a listing with the
    records without reading a file."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def inputs_digest(*inputs: object) -> str:
    """The digest of what a renderer is given, serialised, with the renderer's version:
    new templates are new inputs."""
    text = json.dumps([rendering_version(), *inputs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@cache
def rendering_version() -> str:
    """What renders the edition: its code and templates, and the libraries they use."""
    digest = hashlib.sha256()
    root = resources.files("broadsheet.edition")
    for folder in (root, root / "templates"):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith((".py", ".html")):
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    import babel
    import jinja2

    digest.update(f"babel={babel.__version__} jinja2={jinja2.__version__}".encode())
    return digest.hexdigest()[:16]


@dataclass
class Applied:
    """What a partition holds, as its last reconcile left it: for each file, the digest
    of its inputs and the hash of its bytes; and ``data``, the index of its inputs the
    partition keeps for its next reconcile (a listing's blocks, the site's issue lines),
    saved with it in the same write."""

    files: dict[str, list[str]] = field(default_factory=dict)  # key -> [digest, hash]
    data: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None
    runs: int = 0  # changes of its files so far: what names the next transition

    def to_json(self) -> bytes:
        # The data's key order is kept: documents inside (an issue's line) are published
        # as they are.
        files = dict(sorted(self.files.items()))
        return json.dumps(
            {"files": files, "data": self.data, "runs": self.runs},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    def digest(self, key: str) -> str | None:
        known = self.files.get(key)
        return known[0] if known else None

    def hash(self, key: str) -> str | None:
        known = self.files.get(key)
        return known[1] if known else None

    @property
    def cut_short(self) -> bool:
        """Whether a reconcile marked files unknown and has not finished."""
        return any(entry == UNKNOWN for entry in self.files.values())


def load_applied(store: ObjectStore, partition: str) -> Applied:
    stored = store.get(applied_key(partition))
    if stored is None:
        return Applied()
    raw = json.loads(stored.body)
    files = {k: list(v) for k, v in raw.get("files", {}).items()}
    return Applied(files, dict(raw.get("data", {})), stored.etag, int(raw.get("runs", 0)))


Render = Callable[[list[str]], Mapping[str, bytes]]


@dataclass
class Diff:
    """What one partition's reconcile will do: the files to put and to delete, and the
    record it saves once they are done."""

    partition: str
    before: Applied
    after: Applied
    made: dict[str, bytes]  # the bytes of the files to put
    put: list[str]
    gone: list[str]
    # The data to keep while the reconcile is under way, when a run cut short must leave
    # more than its files in doubt (what an issue put in the listings).
    pending: dict[str, Any] | None = None


def diff(
    sources: ObjectStore,
    partition: str,
    wanted: Mapping[str, str],
    render: Render,
    data: dict[str, Any] | None = None,
    before: Applied | None = None,
    *,
    verify: bool = False,
) -> Diff:
    """Compare what ``partition`` should hold (``wanted``: key -> the digest of the
    inputs it is made from; ``render(keys)`` makes their bytes; ``data``: the index to
    keep beside them) with its record (``before``, read when not given). ``verify``
    trusts no record: every file is made again and compared with the bucket's."""
    if before is None:
        before = load_applied(sources, partition)
    stale = sorted(k for k, digest in wanted.items() if verify or before.digest(k) != digest)
    made = dict(render(stale)) if stale else {}
    hashes = {k: file_hash(made[k]) for k in stale}
    put = [k for k in stale if verify or before.hash(k) != hashes[k]]
    gone = sorted(k for k in before.files if k not in wanted)
    files = {k: [d, hashes[k] if k in hashes else str(before.hash(k))] for k, d in wanted.items()}
    after = Applied(files, before.data if data is None else data, before.etag, before.runs)
    return Diff(partition, before, after, {k: made[k] for k in put}, put, gone)


def _save(sources: ObjectStore, partition: str, record: Applied, etag: str | None) -> str:
    try:
        return sources.put(
            applied_key(partition),
            record.to_json(),
            content_type="application/json",
            if_match=etag,
            if_none_match=etag is None,
        )
    except PreconditionFailed as error:  # another writer: run again from what it left
        raise Retryable(f"{partition}: its record changed under us") from error


UNKNOWN = ["", ""]  # a file a reconcile cut short may have left in any state


def apply(
    sources: ObjectStore,
    site: ObjectStore,
    diffs: list[Diff],
    clear: Clear,
    *,
    workers: int = 1,
) -> list[str]:
    """Carry out each diff: first each record with the files about to change marked
    unknown; then each of those files is put or deleted; then what readers may hold of
    them is cleared (the files replaced or deleted, and every file a run cut short left
    unknown), in one request named by the transitions; then each record as it now is.
    Each step's requests go ``workers`` at once, and each step begins when the one
    before has ended. The paths written or deleted.

    The bucket is read only where the record cannot say what is there: a file new to
    the partition (was something there, for readers to hold?) and one a ``verify`` run
    puts with the bytes its record names. A file the record names with other bytes is
    put and cleared unread, one it left unknown too, and one the partition no longer
    has is deleted and cleared: where the bucket drifted from the record (a file lost,
    a stray), that clears a path the CDN may not hold, never fewer than it holds."""
    marked = side_by_side(workers, lambda change: mark_unknown(sources, change), diffs)
    etags = {change.partition: etag for change, etag in zip(diffs, marked, strict=True)}
    looked = [key for change in diffs for key in change.put if _look(change, key)]
    found = dict(zip(looked, side_by_side(workers, site.get, looked), strict=True))
    puts: list[tuple[str, bytes]] = []
    deletes: list[str] = []
    transitions: list[str] = []
    cleared: list[str] = []
    for change in diffs:
        forget: dict[str, str] = {}  # path -> the hash of its new bytes ("" when gone)
        for key in change.put:
            made = change.made[key]
            if key in found:
                current = found[key]
                if current is None or current.body != made:
                    puts.append((key, made))
                if current is not None and current.body != made:
                    forget["/" + key] = str(change.after.hash(key))
            else:
                puts.append((key, made))
                forget["/" + key] = str(change.after.hash(key))
        for key in change.gone:
            deletes.append(key)
            forget["/" + key] = ""
        if forget:
            transitions.append(transition(change.partition, change.before.runs, forget))
            cleared += forget
    side_by_side(workers, lambda item: put_file(site, *item), puts)
    side_by_side(workers, lambda key: delete_file(site, key), deletes)
    if cleared:
        clear(transitions, sorted(set(cleared)))
    side_by_side(
        workers, lambda change: save_record(sources, change, etags[change.partition]), diffs
    )
    return sorted("/" + key for key in (*(key for key, _ in puts), *deletes))


def _look(change: Diff, key: str) -> bool:
    """Whether the bucket must be read to know what putting ``key`` replaces."""
    known = change.before.files.get(key)
    if known is None:
        return True  # new to the partition
    if known == UNKNOWN:
        return False  # cleared whatever is there
    return known[1] == file_hash(change.made[key])  # verify: the same bytes, or drift


def mark_unknown(sources: ObjectStore, change: Diff) -> str | None:
    """Mark the files about to change unknown in the partition's record (before the
    bucket is touched); the record's etag as it then is."""
    data = change.before.data if change.pending is None else change.pending
    if not (change.put or change.gone) and data == change.before.data:
        return change.before.etag
    marked = {**change.before.files, **{k: UNKNOWN for k in (*change.put, *change.gone)}}
    pending = Applied(marked, data, runs=change.before.runs)
    return _save(sources, change.partition, pending, change.before.etag)


def save_record(sources: ObjectStore, change: Diff, etag: str | None) -> None:
    """The partition's record as the change leaves it (the last write of a reconcile)."""
    if change.put or change.gone:
        change.after.runs = change.before.runs + 1
    if change.after.to_json() != change.before.to_json():
        _save(sources, change.partition, change.after, etag)


def put_file(site: ObjectStore, key: str, data: bytes) -> None:
    """Put one file of the site as the CDN serves it."""
    site.put(
        key, data, content_type=urls.content_type(key), cache_control=viewer.cache_control(key)
    )


def delete_file(site: ObjectStore, key: str) -> None:
    site.delete(key)
