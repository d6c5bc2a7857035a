"""Files made from a shared document: the site-wide listings from the site's state, a
beat's pages from its head, an index of names from its names document.

Writing a file and recording that it was written can never be one step, and a job may
die between the two, or race another job. So each document keeps a ledger: for every
file, the hash it should have and the version of the document it was made from, and
the files claimed but perhaps not written yet (*dirty*). A job records its claim with
the document's conditional write, then writes, then clears the claim; a claim left by a
crash makes the next job to touch the document write that file again. A write never
replaces a file made from a newer version (the version travels in the object's
metadata, and the write is conditional on the ETag read), so of two racing jobs the
newer one's bytes stay.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broadsheet.adapters.store import ObjectStore, PreconditionFailed
from broadsheet.edition import urls, viewer
from broadsheet.errors import Retryable

VERSION = "sequence"  # object metadata: the version of what the file was made from
ATTEMPTS = 12


def digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest()[:32] if data is not None else None


@dataclass
class Ledger:
    files: dict[str, list[Any]] = field(default_factory=dict)  # key -> [hash|None, version]
    dirty: dict[str, int] = field(default_factory=dict)  # key -> version claimed at

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "dirty": self.dirty}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Ledger:
        if not data:
            return cls()
        return cls(
            {k: list(v) for k, v in data.get("files", {}).items()},
            {k: int(v) for k, v in data.get("dirty", {}).items()},
        )

    def claim(self, made: Mapping[str, bytes | None], version: int) -> list[str]:
        """Record what a job made at ``version`` (None: the file must not exist); the
        keys it must write. A file a newer version made is left to that one."""
        todo = []
        for key, data in made.items():
            wanted = digest(data)
            known = self.files.get(key)
            if known is not None and int(known[1]) > version:
                continue
            same = known[0] == wanted if known is not None else wanted is None
            if same and key not in self.dirty:
                continue
            self.files[key] = [wanted, version]
            self.dirty[key] = max(version, self.dirty.get(key, version))
            todo.append(key)
        return sorted(todo)

    def existing(self) -> set[str]:
        """The files that should exist."""
        return {k for k, (hash_, _) in self.files.items() if hash_ is not None}

    def maybe_existing(self) -> set[str]:
        """The files that may exist: those that should, and those claimed by a job that
        may have died before writing (a delete left undone among them)."""
        return self.existing() | set(self.dirty)

    def cleared(self, keys: Iterable[str], version: int) -> None:
        """Written at ``version``: those claims are done, unless a newer one came since.
        (A file that must not exist keeps its record: it is what stops an older job
        from making it again.)"""
        for key in keys:
            if key in self.dirty and self.dirty[key] <= version:
                del self.dirty[key]

    def gone(self, key: str, version: int) -> bool:
        """Whether a newer version than ``version`` says the file must not exist."""
        known = self.files.get(key)
        return known is not None and known[0] is None and int(known[1]) > version


SAME, CHANGED, CREATED = "same", "changed", "created"


def _nothing() -> None:
    pass


def write(
    store: ObjectStore,
    key: str,
    data: bytes | None,
    version: int,
    replacing: Callable[[], None] = _nothing,
) -> str:
    """Make the object ``data`` (None: absent), unless it was made from a newer version;
    ``replacing`` is called before other bytes are replaced or deleted (a reader may
    hold them).

    An absent object carries no version: a job that creates one must afterwards look
    at its document again and take the object back if a newer version said it must
    not exist (``Ledger.gone``), since that job's delete may have come first."""
    for _ in range(ATTEMPTS):
        current = store.get(key)
        made_from = int(current.metadata.get(VERSION, "-1")) if current else -1
        if made_from > version:
            return SAME
        try:
            if data is None:
                if current is None:
                    return SAME
                replacing()
                store.delete(key, if_match=current.etag)
                return CHANGED
            same = current is not None and current.body == data
            if same and made_from == version:
                return SAME
            if current is not None and not same:
                replacing()
            cache = viewer.ASSET_CACHE if urls.is_fingerprinted(key) else viewer.HTML_CACHE
            store.put(
                key,
                data,
                content_type=urls.content_type(key),
                cache_control=cache,
                metadata={VERSION: str(version)},
                if_match=current.etag if current else None,
                if_none_match=current is None,
            )
            # The same bytes are written again only to carry the newer version, so an
            # older job still under way cannot replace them.
            return SAME if same else CREATED if current is None else CHANGED
        except PreconditionFailed:
            continue
    raise Retryable(f"{key} kept changing under us")


def take_back(
    store: ObjectStore, key: str, version: int, replacing: Callable[[], None] = _nothing
) -> bool:
    """Delete an object this job created at ``version`` (and nobody rewrote since);
    whether it was there to delete (a reader may have seen it meanwhile)."""
    current = store.get(key)
    if current is not None and int(current.metadata.get(VERSION, "-1")) <= version:
        replacing()
        with contextlib.suppress(PreconditionFailed):
            store.delete(key, if_match=current.etag)
        return True
    return False


def kept(
    store: ObjectStore,
    created: Iterable[str],
    gone: Container[str],
    version: int,
    replacing: Callable[[], None] = _nothing,
) -> list[str]:
    """Of the files a job created at ``version``, those that stay: each a newer version
    ruled out since (``gone``) is taken back, and, since a reader may have seen it
    meanwhile, does not count as new."""
    return [k for k in created if not (k in gone and take_back(store, k, version, replacing))]
