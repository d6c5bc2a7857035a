"""The reconcile on its own: what it puts, what it has the CDN clear, and under which
name, including after a run cut short between the files and the records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from broadsheet.adapters.store import MemoryStore
from broadsheet.pipeline.reconcile import UNKNOWN, apply, diff, load_applied


class Cleared:
    def __init__(self) -> None:
        self.made: list[tuple[list[str], list[str]]] = []

    def __call__(self, transitions: list[str], paths: list[str]) -> None:
        self.made.append((transitions, paths))


class DiesAfter(MemoryStore):
    """A site bucket whose ``n``-th put dies after it lands."""

    def __init__(self, store: MemoryStore, n: int) -> None:
        super().__init__()
        self.objects, self._sorted, self.n = store.objects, store._sorted, n

    def put(self, key: str, body: bytes, **options: Any) -> str:
        etag = super().put(key, body, **options)
        self.n -= 1
        if self.n == 0:
            raise RuntimeError("the function died")
        return etag


def reconcile(sources: MemoryStore, site: MemoryStore, files: Mapping[str, bytes]) -> Cleared:
    cleared = Cleared()
    wanted = {key: data.decode() for key, data in files.items()}  # made from themselves
    change = diff(sources, "p", wanted, lambda keys: {k: files[k] for k in keys})
    apply(sources, site, [change], cleared)
    return cleared


def test_a_file_created_where_nothing_was_is_not_cleared_and_a_replaced_one_is() -> None:
    sources, site = MemoryStore(), MemoryStore()
    assert reconcile(sources, site, {"a.html": b"1"}).made == []
    made = reconcile(sources, site, {"a.html": b"2", "b.html": b"1"}).made
    assert [paths for _, paths in made] == [["/a.html"]]
    # AND a file the partition no longer has is deleted and cleared
    made = reconcile(sources, site, {"b.html": b"1"}).made
    assert [paths for _, paths in made] == [["/a.html"]] and site.get("a.html") is None


def test_a_run_cut_short_leaves_its_files_unknown_and_the_next_run_clears_them() -> None:
    sources, site = MemoryStore(), MemoryStore()
    reconcile(sources, site, {"a.html": b"1", "b.html": b"1"})
    # WHEN a run replaces a.html, then dies before it could clear it or save the record
    with pytest.raises(RuntimeError):
        reconcile(sources, DiesAfter(site, 1), {"a.html": b"2", "b.html": b"2"})
    assert site.get("a.html").body == b"2"  # type: ignore[union-attr]
    assert load_applied(sources, "p").files["a.html"] == UNKNOWN
    # THEN the next run clears a.html though it finds its bytes already right (a reader
    # may hold the first), and b.html, which it replaces now
    [(_, paths)] = reconcile(sources, site, {"a.html": b"2", "b.html": b"2"}).made
    assert paths == ["/a.html", "/b.html"]
    assert UNKNOWN not in load_applied(sources, "p").files.values()


def test_a_repeat_is_the_same_transition_and_the_same_change_later_another() -> None:
    sources, site = MemoryStore(), MemoryStore()
    reconcile(sources, site, {"a.html": b"1"})
    [(first, _)] = reconcile(sources, site, {"a.html": b"2"}).made
    [(back, _)] = reconcile(sources, site, {"a.html": b"1"}).made
    [(forth, _)] = reconcile(sources, site, {"a.html": b"2"}).made
    # The same partition and paths, but a change the record had not seen: a new name,
    # or CloudFront would answer it with the first invalidation, made before it.
    assert len({*first, *back, *forth}) == 3
    # AND a run repeated after a crash before its record names what the first named
    sources2, site2 = MemoryStore(), MemoryStore()
    reconcile(sources2, site2, {"a.html": b"1"})
    with pytest.raises(RuntimeError):
        dying = Cleared()
        change = diff(sources2, "p", {"a.html": "2"}, lambda keys: {"a.html": b"2"})

        def die(transitions: list[str], paths: list[str]) -> None:
            dying(transitions, paths)
            raise RuntimeError("died after sending")

        apply(sources2, site2, [change], die)
    [(again, _)] = reconcile(sources2, site2, {"a.html": b"2"}).made
    assert dying.made[0][0] == again == first
