"""The reconcile: make the site bucket hold what one partition of the site should hold.

A partition is a set of output files, each a pure function of its inputs: the site-wide
files (``sitewide.py``), one listing's pages and feed, the index of a language's sections
or tags (``beats.py``). It keeps one *applied record* in the source bucket
(``state/applied/<partition>.json``): for every file it holds, the digest of the inputs it was
made from and the hash of its bytes. To reconcile is to say what each file should be made
from now (its inputs' digest, computed from exactly what its renderer is given), render
the files whose digest differs from the record, put those whose bytes differ, delete the
files the partition no longer has, and save the record last. A crash anywhere leaves the
old record, so the next run finds the same difference and mends it; a message delivered
twice finds nothing to do. Nothing is remembered of *who* wrote what: the record says
what the partition holds, and the inputs say what it should.

One writer at a time per partition (index runs one job at a time): the record is
written with If-Match all the same, so a second writer would be retried, never lost.

Each file about to change is looked at in the bucket first: a file created where nothing
was needs no invalidation (the CDN caches no error responses), a file replaced or deleted
does. What changes is told to ``notes`` (the commit's outbox), which the commit's
invalidation reads.
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

APPLIED = "state/applied/"


class Notes(Protocol):
    """What a job tells its commit's outbox, which the commit's invalidation reads."""

    def writing(self, paths: list[str]) -> None:
        """These files are about to be written (or deleted)."""

    def created(self, paths: list[str]) -> None:
        """These were written where nothing was: no cache holds an older copy."""

    def replacing(self) -> None:
        """A write is about to replace or delete bytes a reader may hold."""


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

    def to_json(self) -> bytes:
        # The data's key order is kept: documents inside (an issue's line) are published
        # as they are.
        files = dict(sorted(self.files.items()))
        return json.dumps(
            {"files": files, "data": self.data}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    def digest(self, key: str) -> str | None:
        known = self.files.get(key)
        return known[0] if known else None

    def hash(self, key: str) -> str | None:
        known = self.files.get(key)
        return known[1] if known else None


def load_applied(store: ObjectStore, partition: str) -> Applied:
    stored = store.get(applied_key(partition))
    if stored is None:
        return Applied()
    raw = json.loads(stored.body)
    files = {k: list(v) for k, v in raw.get("files", {}).items()}
    return Applied(files, dict(raw.get("data", {})), stored.etag)


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
    after = Applied(files, before.data if data is None else data, before.etag)
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


def apply(sources: ObjectStore, site: ObjectStore, diffs: list[Diff], notes: Notes) -> None:
    """Carry out each diff: first each record with the files about to change marked
    unknown (so a run cut short leaves them to be looked at again by whichever job
    comes next, whatever it wants of them); then each of those files is looked at in the
    bucket, one note is made of every path whose bytes will change, they are put or
    deleted, one note is made of the files created where nothing was; then each record
    as it now is."""
    etags = {change.partition: mark_unknown(sources, change) for change in diffs}
    puts: list[tuple[str, bytes, bool]] = []  # key, bytes, whether it replaces a file
    deletes: list[str] = []
    for change in diffs:
        for key in change.put:
            current = site.get(key)
            if current is None or current.body != change.made[key]:
                puts.append((key, change.made[key], current is not None))
        deletes += [key for key in change.gone if site.get(key) is not None]
    paths = ["/" + k for k in (*(key for key, _, _ in puts), *deletes)]
    if paths:
        notes.writing(paths)
    if deletes or any(replaces for _, _, replaces in puts):
        notes.replacing()
    for key, data, _ in puts:
        put_file(site, key, data)
    for key in deletes:
        delete_file(site, key)
    created = ["/" + key for key, _, replaces in puts if not replaces]
    if created:
        notes.created(created)
    for change in diffs:
        save_record(sources, change, etags[change.partition])


def mark_unknown(sources: ObjectStore, change: Diff) -> str | None:
    """Mark the files about to change unknown in the partition's record (before the
    bucket is touched); the record's etag as it then is."""
    if not (change.put or change.gone):
        return change.before.etag
    marked = {**change.before.files, **{k: UNKNOWN for k in (*change.put, *change.gone)}}
    pending = Applied(marked, change.before.data)
    return _save(sources, change.partition, pending, change.before.etag)


def save_record(sources: ObjectStore, change: Diff, etag: str | None) -> None:
    """The partition's record as the change leaves it (the last write of a reconcile)."""
    if change.put or change.gone or change.after.to_json() != change.before.to_json():
        _save(sources, change.partition, change.after, etag)


def put_file(site: ObjectStore, key: str, data: bytes) -> None:
    """Put one file of the site as the CDN serves it."""
    cache_control = viewer.ASSET_CACHE if urls.is_fingerprinted(key) else viewer.HTML_CACHE
    site.put(key, data, content_type=urls.content_type(key), cache_control=cache_control)


def delete_file(site: ObjectStore, key: str) -> None:
    site.delete(key)
